//! `/v1/account/:account/attachment/:attachment`: downloads one MIME part, decoded from its
//! transfer encoding, streamed as ingest reads it, with the headers a browser or an HTTP
//! client needs to save it under its own name.

use imapapi_common::Services;
use imapapi_common::command::PartInfo;
use imapapi_common::error::ApiError;
use imapapi_common::ids::AttachmentId;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::HeaderValue;
use warp::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use warp::reply::Response;

use crate::error::respond;
use crate::openapi::{Binary, CommandErrors, tags};
use crate::params::{Query, decode_segment, query};
use crate::routes::body_stream::{self, BodyTarget, Decoding};
use crate::routes::{Route, account_id, require_account, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/account/{account}/attachment/{attachment}")];

/// The attachment route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "account" / String / "attachment" / String)
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(
            |id: String, attachment: String, s: Services, q: Query| async move {
                respond(get_attachment(s, id, attachment, q).await)
            },
        )
        .boxed()
}

/// Download an attachment.
///
/// `GET /v1/account/:account/attachment/:attachment` → the decoded bytes of the part, with
/// its `Content-Type` (and charset) and `Content-Disposition: attachment` with its file
/// name. 400 for a malformed attachment id, 404 for an unknown account, message or part;
/// a failure after the first range cuts the transfer short.
#[utoipa::path(
    get,
    path = "/v1/account/{account}/attachment/{attachment}",
    operation_id = "getV1AccountAccountAttachmentAttachment",
    tag = tags::MESSAGE,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("attachment" = String, Path, max_length = 256,
            description = "The attachment id, from a listing"),
    ),
    responses(
        (status = 200,
            description = "The decoded part, with the part's own `Content-Type` \
                (`application/octet-stream` when it has none that is valid)",
            body = inline(Binary), content_type = "application/octet-stream",
            headers(
                ("Content-Disposition" = String,
                    description = "`attachment`, with the file name when the part has one"),
            )),
        (status = 400, description = "Malformed id or unknown query parameter", body = ApiError),
        (status = 404, description = "Unknown account, message or part", body = ApiError),
        CommandErrors,
    )
)]
pub async fn get_attachment(
    services: Services,
    raw_id: String,
    raw_attachment: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let attachment = AttachmentId::parse(&decode_segment("attachment", &raw_attachment)?)?;
    q.only(&[])?;
    require_account(&services, &id).await?;
    let target = BodyTarget {
        account: id,
        message: attachment.message.encode(),
        part: Some(attachment.part),
    };
    let (info, mut response) = body_stream::open(&services, target, Decoding::Transfer).await?;
    let headers = response.headers_mut();
    // Both values are built from visible ASCII only, so they always convert.
    if let Ok(v) = HeaderValue::try_from(content_type(&info)) {
        headers.insert(CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::try_from(content_disposition(info.filename.as_deref())) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    // An attachment may be HTML or script: never let a browser second-guess its type.
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// RFC 7230 `tchar`: what a media type, subtype or charset name may consist of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `type/subtype` with `; charset=` when the part names one; a type that is not a valid
/// media type becomes `application/octet-stream`, a charset that is not a token is left out.
pub fn content_type(info: &PartInfo) -> String {
    let media = info.content_type.trim().to_ascii_lowercase();
    let valid = media
        .split_once('/')
        .is_some_and(|(t, s)| is_token(t) && is_token(s));
    let mut value = if valid {
        media
    } else {
        "application/octet-stream".to_string()
    };
    if let Some(charset) = info
        .charset
        .as_deref()
        .map(str::trim)
        .filter(|c| is_token(c))
    {
        value.push_str("; charset=");
        value.push_str(charset);
    }
    value
}

/// `attachment; filename="…"` (RFC 6266) with an ASCII fallback name, plus
/// `filename*=UTF-8''…` (RFC 5987) whenever the fallback had to change the name.
pub fn content_disposition(filename: Option<&str>) -> String {
    let Some(name) = filename.map(str::trim).filter(|n| !n.is_empty()) else {
        return "attachment".to_string();
    };
    // Quotes and backslashes are replaced rather than escaped, and `%` too, because
    // browsers disagree on escapes and some percent-decode the plain `filename`.
    let fallback: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' | '%' => '_',
            ' '..='~' => c,
            _ => '_',
        })
        .collect();
    if fallback == name {
        return format!("attachment; filename=\"{fallback}\"");
    }
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        percent_encode_attr(name)
    )
}

/// RFC 5987 `value-chars`: `attr-char`s as they are, every other byte of the UTF-8 as `%XX`.
fn percent_encode_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_has_an_ascii_fallback_and_an_encoded_name() {
        assert_eq!(content_disposition(None), "attachment");
        assert_eq!(content_disposition(Some("  ")), "attachment");
        assert_eq!(
            content_disposition(Some("report 2024.pdf")),
            "attachment; filename=\"report 2024.pdf\""
        );
        assert_eq!(
            content_disposition(Some("Résumé €.pdf")),
            "attachment; filename=\"R_sum_ _.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%82%AC.pdf"
        );
        assert_eq!(
            content_disposition(Some("a\"b\\c%d.txt")),
            "attachment; filename=\"a_b_c_d.txt\"; filename*=UTF-8''a%22b%5Cc%25d.txt"
        );
        // A line break in a name can never split the header.
        let v = content_disposition(Some("evil\r\nSet-Cookie: x"));
        assert!(!v.contains('\r') && !v.contains('\n'), "{v}");
        assert!(HeaderValue::try_from(v).is_ok());
    }

    #[test]
    fn content_type_takes_a_valid_charset() {
        let info = |ct: &str, cs: Option<&str>| PartInfo {
            content_type: ct.into(),
            charset: cs.map(Into::into),
            ..Default::default()
        };
        assert_eq!(content_type(&info("image/png", None)), "image/png");
        assert_eq!(
            content_type(&info("Text/Plain", Some("utf-8"))),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            content_type(&info("text/plain", Some("utf 8\r\nX: y"))),
            "text/plain"
        );
        assert_eq!(content_type(&info("", None)), "application/octet-stream");
        assert_eq!(
            content_type(&info("text/html; x=1", None)),
            "application/octet-stream"
        );
    }
}
