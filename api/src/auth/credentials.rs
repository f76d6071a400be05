//! The credentials a request presents, read from its `Authorization` header or its
//! `access_token` query parameter (for clients that cannot set headers, such as a link).

use imapapi_common::model::Secret;

use crate::params::Query;

/// What a request brings to prove who it is.
pub enum Presented {
    Nothing,
    /// The whole `Authorization: Basic …` header value.
    Basic(String),
    /// A bearer token, from the header or the query.
    Token(Secret),
    /// An `Authorization` header of another scheme, or an empty token.
    Malformed,
}

impl Presented {
    /// Read the credentials; the header wins over the query parameter.
    pub fn from_request(header: Option<&str>, query: &Query) -> Presented {
        if let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) {
            let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
            let rest = rest.trim();
            return if scheme.eq_ignore_ascii_case("basic") {
                Presented::Basic(h.to_string())
            } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
                Presented::Token(Secret::new(rest))
            } else {
                Presented::Malformed
            };
        }
        match query.get(crate::params::ACCESS_TOKEN) {
            Some("") => Presented::Malformed,
            Some(t) => Presented::Token(Secret::new(t)),
            None => Presented::Nothing,
        }
    }
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
    fn reads_header_then_query() {
        let none = q(&[]);
        assert!(matches!(
            Presented::from_request(None, &none),
            Presented::Nothing
        ));
        assert!(matches!(
            Presented::from_request(Some("Bearer abc"), &none),
            Presented::Token(t) if t.expose() == "abc"
        ));
        assert!(matches!(
            Presented::from_request(Some("bearer  abc "), &none),
            Presented::Token(t) if t.expose() == "abc"
        ));
        assert!(matches!(
            Presented::from_request(Some("Basic eDp5"), &none),
            Presented::Basic(_)
        ));
        assert!(matches!(
            Presented::from_request(Some("Digest x"), &none),
            Presented::Malformed
        ));
        assert!(matches!(
            Presented::from_request(Some("Bearer"), &none),
            Presented::Malformed
        ));
        let query = q(&[("access_token", "tok")]);
        assert!(matches!(
            Presented::from_request(None, &query),
            Presented::Token(t) if t.expose() == "tok"
        ));
        assert!(matches!(
            Presented::from_request(Some("Bearer h"), &query),
            Presented::Token(t) if t.expose() == "h"
        ));
        assert!(matches!(
            Presented::from_request(None, &q(&[("access_token", "")])),
            Presented::Malformed
        ));
    }
}
