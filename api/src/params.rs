//! Query string and path parameters, checked by hand so that every error names the
//! parameter (warp's typed query filter only says "Invalid query string").

use imapapi_common::error::ApiError;
use warp::{Filter, Rejection};

/// The query string as ordered name/value pairs (empty when absent).
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

/// The query parameter that carries an access token; read by the auth filter only.
pub const ACCESS_TOKEN: &str = "access_token";

/// Extracts the query pairs of any request, without `access_token` (auth has dealt with
/// it, and handlers refuse parameters they do not know).
pub fn query() -> impl Filter<Extract = (Query,), Error = Rejection> + Clone {
    raw_query().map(|Query(pairs): Query| {
        Query(
            pairs
                .into_iter()
                .filter(|(k, _)| k != ACCESS_TOKEN)
                .collect(),
        )
    })
}

/// Extracts every query pair, `access_token` included.
pub fn raw_query() -> impl Filter<Extract = (Query,), Error = Rejection> + Clone {
    warp::query::<Vec<(String, String)>>().map(Query)
}

impl Query {
    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// 400 naming the first parameter that is not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(ApiError::invalid(k, "is not allowed")),
            None => Ok(()),
        }
    }

    /// A whole number in `min..=max`, or `default` when absent.
    pub fn number(&self, name: &str, min: u64, max: u64, default: u64) -> Result<u64, ApiError> {
        self.optional_number(name, min, max)
            .map(|n| n.unwrap_or(default))
    }

    /// A whole number in `min..=max`, if given.
    pub fn optional_number(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let n = v
            .trim()
            .parse::<u64>()
            .map_err(|_| ApiError::invalid(name, "must be a number"))?;
        if n < min {
            return Err(ApiError::invalid(
                name,
                format!("must be greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(ApiError::invalid(
                name,
                format!("must be less than or equal to {max}"),
            ));
        }
        Ok(Some(n))
    }

    /// `true`/`false` (also `1`/`0`, and an empty value as true), or `None` when absent.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name).map(str::trim) {
            None => Ok(None),
            Some("true" | "1" | "") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid(name, "must be a boolean")),
        }
    }

    /// A required, non-empty string.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            None => Err(ApiError::invalid(name, "is required")),
            Some("") => Err(ApiError::invalid(name, "is not allowed to be empty")),
            Some(v) => Ok(v),
        }
    }
}

/// Percent-decode a path segment (warp hands segments over raw), so that `a%40b` and
/// `a@b` name the same account.
pub fn decode_segment(field: &str, raw: &str) -> Result<String, ApiError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::invalid(field, "is not correctly percent-encoded"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::invalid(field, "must be valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        Query(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn numbers_and_booleans_name_the_parameter() {
        let query = q(&[("pageSize", "0"), ("page", "x"), ("flag", "maybe")]);
        assert!(
            query
                .number("pageSize", 1, 1000, 20)
                .unwrap_err()
                .message
                .contains("\"pageSize\"")
        );
        assert!(
            query
                .number("page", 0, 10, 0)
                .unwrap_err()
                .message
                .contains("\"page\"")
        );
        assert_eq!(query.number("absent", 0, 10, 7).unwrap(), 7);
        assert!(
            query
                .boolean("flag")
                .unwrap_err()
                .message
                .contains("\"flag\"")
        );
        assert!(
            query
                .required("path")
                .unwrap_err()
                .message
                .contains("\"path\"")
        );
        assert!(
            query
                .only(&["page"])
                .unwrap_err()
                .message
                .contains("\"pageSize\"")
        );
    }

    #[test]
    fn decodes_segments() {
        assert_eq!(decode_segment("account", "a%40b.c").unwrap(), "a@b.c");
        assert!(decode_segment("account", "a%4").is_err());
    }
}
