//! Reading JSON request bodies: bounded by `api.maxSize`, accepted whatever the
//! content type (curl's `-d` without `-H` sends form encoding), and decoded with
//! `serde_path_to_error` so that a wrong value names its field (`"imap.port" must be a
//! number`) instead of serde's line/column message.

use bytes::{Buf, BytesMut};
use futures::{Stream, StreamExt};
use imapapi_common::error::ApiError;
use serde::de::DeserializeOwned;
use warp::{Filter, Rejection};

use crate::error::{reject, too_large};

/// Extracts the body as `T`, rejecting with a JSON 400 (field named) or 413.
pub fn json<T: DeserializeOwned + Send + 'static>(
    max_size: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |len: Option<u64>, body| async move {
            // Refuse early when the client announces a body that is too large; otherwise
            // count while reading, since chunked bodies carry no length.
            if len.is_some_and(|n| n > max_size) {
                return Err(reject(too_large()));
            }
            let bytes = read_limited(body, max_size).await.map_err(reject)?;
            parse::<T>(&bytes).map_err(reject)
        })
}

async fn read_limited<S, B>(body: S, max_size: u64) -> Result<BytesMut, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| {
            ApiError::new(
                400,
                "BodyReadError",
                format!("Could not read the body: {e}"),
            )
        })?;
        if (out.len() + chunk.remaining()) as u64 > max_size {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            out.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(out)
}

/// Decode a JSON body; errors name the offending field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    // serde lets a struct be read from an array too; a body must be an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return Err(describe(".", &e));
        }
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        describe(&path, e.inner())
    })?;
    de.end().map_err(|e| describe(".", &e))?;
    Ok(value)
}

/// `parent.child`, treating serde_path_to_error's root path `.` as empty.
fn join(parent: &str, child: &str) -> String {
    match parent {
        "" | "." => child.to_string(),
        p => format!("{p}.{child}"),
    }
}

/// The text between the first pair of backticks of a serde message.
fn quoted(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

fn number_range(expected: &str) -> Option<(i128, i128)> {
    Some(match expected {
        "u8" => (0, u8::MAX as i128),
        "u16" => (0, u16::MAX as i128),
        "u32" => (0, u32::MAX as i128),
        "u64" => (0, u64::MAX as i128),
        "i32" => (i32::MIN as i128, i32::MAX as i128),
        "i64" => (i64::MIN as i128, i64::MAX as i128),
        _ => return None,
    })
}

/// Map a serde_json error at `path` to a 400 that names the field.
fn describe(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let full = err.to_string();
    // serde_json appends the position; the field name is what the client needs.
    let msg = match full.rsplit_once(" at line ") {
        Some((m, _)) if err.line() > 0 => m,
        _ => full.as_str(),
    };
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            return ApiError::new(400, "InvalidJSON", format!("Invalid JSON payload: {full}"));
        }
        Category::Data => {}
    }
    let field_or_body = |p: &str| {
        if p.is_empty() || p == "." {
            "body".to_string()
        } else {
            p.to_string()
        }
    };
    if let Some(rest) = msg.strip_prefix("missing field ") {
        let name = quoted(rest).unwrap_or(rest);
        return ApiError::invalid(&join(path, name), "is required");
    }
    if let Some(rest) = msg.strip_prefix("unknown field ") {
        let name = quoted(rest).unwrap_or(rest);
        // serde_path_to_error already records the unknown key in the path.
        let field = if path == name || path.ends_with(&format!(".{name}")) {
            path.to_string()
        } else {
            join(path, name)
        };
        return ApiError::invalid(&field, "is not allowed");
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        let allowed = rest.split_once("expected ").map(|(_, e)| e).unwrap_or("");
        return ApiError::invalid(&field_or_body(path), format!("must be {allowed}"));
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let expected = rest
            .rsplit_once(", expected ")
            .map(|(_, e)| e)
            .unwrap_or("");
        let problem = if number_range(expected).is_some()
            || matches!(expected, "f32" | "f64" | "a number" | "an integer")
        {
            "must be a number"
        } else if expected.contains("bool") {
            "must be a boolean"
        } else if expected.contains("string") || expected == "a character" {
            "must be a string"
        } else if expected.contains("sequence") {
            "must be an array"
        } else if expected.contains("struct") || expected.contains("map") {
            "must be an object"
        } else {
            return ApiError::invalid(&field_or_body(path), format!("must be {expected}"));
        };
        return ApiError::invalid(&field_or_body(path), problem);
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let expected = rest
            .rsplit_once(", expected ")
            .map(|(_, e)| e)
            .unwrap_or("");
        if let Some((min, max)) = number_range(expected) {
            return ApiError::invalid(
                &field_or_body(path),
                format!("must be a whole number from {min} to {max}"),
            );
        }
        return ApiError::invalid(&field_or_body(path), format!("must be {expected}"));
    }
    ApiError::invalid(&field_or_body(path), msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
        secure: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        account: String,
        imap: Option<Inner>,
        list: Option<Vec<String>>,
    }

    fn err(body: &str) -> String {
        let e = parse::<Outer>(body.as_bytes()).unwrap_err();
        assert_eq!(e.status_code, 400);
        e.message
    }

    #[test]
    fn names_the_field() {
        assert_eq!(
            err(r#"{"account":"a","imap":{"port":"993"}}"#),
            "\"imap.port\" must be a number"
        );
        assert_eq!(
            err(r#"{"account":"a","imap":{"port":70000}}"#),
            "\"imap.port\" must be a whole number from 0 to 65535"
        );
        assert_eq!(err(r#"{"imap":null}"#), "\"account\" is required");
        assert_eq!(
            err(r#"{"account":"a","imap":{}}"#),
            "\"imap.port\" is required"
        );
        assert_eq!(err(r#"{"account":"a","x":1}"#), "\"x\" is not allowed");
        assert_eq!(
            err(r#"{"account":"a","imap":{"port":1,"secure":"yes"}}"#),
            "\"imap.secure\" must be a boolean"
        );
        assert_eq!(
            err(r#"{"account":"a","list":["ok",3]}"#),
            "\"list[1]\" must be a string"
        );
        assert_eq!(err("[]"), "\"body\" must be a JSON object");
        assert_eq!(err("42"), "\"body\" must be a JSON object");
        assert_eq!(err(""), "\"body\" must be a JSON object");
    }

    #[test]
    fn malformed_json_is_reported() {
        let e = parse::<Outer>(br#"{"account": "#).unwrap_err();
        assert_eq!(e.status_code, 400);
        assert_eq!(e.code, "InvalidJSON");
        let e = parse::<Outer>(br#"{"account": "a"} x"#).unwrap_err();
        assert_eq!(e.code, "InvalidJSON");
    }
}
