//! A webhook URL as it goes on the wire: the URL without its user info, and the Basic
//! credentials taken from it, so that the credentials never reach a log line.

use std::fmt;

use base64::Engine as _;
use hyper::Uri;
use hyper::header::HeaderValue;

use super::WebhookError;

/// A webhook URL split into what goes on the wire: the URL without its user info, and the
/// Basic credentials taken from it.
#[derive(Clone)]
pub struct Target {
    uri: Uri,
    pub(super) authorization: Option<HeaderValue>,
}

impl Target {
    /// Parse a webhook URL. `https://user:pass@host/path?q` becomes `https://host/path?q`
    /// plus `Authorization: Basic base64(user:pass)` (user info percent-decoded first, as
    /// RFC 3986 encodes it). A fragment is dropped: it is never sent over HTTP.
    pub fn parse(url: &str) -> Result<Target, WebhookError> {
        let url = url.trim();
        let url = url.split_once('#').map_or(url, |(u, _)| u);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| WebhookError::InvalidUrl("missing scheme".into()))?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(WebhookError::InvalidUrl(format!(
                "scheme {scheme:?} is not http or https"
            )));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(WebhookError::InvalidUrl("missing host".into()));
        }
        let path_and_query = if path_and_query.is_empty() {
            "/".to_string()
        } else if path_and_query.starts_with('?') {
            format!("/{path_and_query}")
        } else {
            path_and_query.to_string()
        };
        let uri: Uri = format!("{scheme}://{host}{path_and_query}")
            .parse()
            // The parse error text may quote the input; name only the host.
            .map_err(|_| WebhookError::InvalidUrl(format!("cannot parse URL for host {host}")))?;
        let authorization = match userinfo {
            None => None,
            Some(info) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                let creds = format!("{}:{}", percent_decode(user), percent_decode(pass));
                let encoded = base64::engine::general_purpose::STANDARD.encode(creds);
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| WebhookError::InvalidUrl("bad credentials".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Target { uri, authorization })
    }

    /// `scheme://host[:port]`: what may appear in logs.
    pub fn origin(&self) -> String {
        match (self.uri.scheme_str(), self.uri.authority()) {
            (Some(s), Some(a)) => format!("{s}://{a}"),
            _ => String::from("?"),
        }
    }

    /// The URL the request goes to (credentials removed). Not for logs: the path or query
    /// may carry a token.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Whether the URL carried credentials.
    pub fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("origin", &self.origin())
            .field("credentials", &self.has_credentials())
            .finish()
    }
}

/// Decode `%XX` escapes; anything malformed is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_credentials_to_a_basic_header() {
        let t =
            Target::parse("https://us%40er:p%3Ass@hooks.example.com:8443/in/x?t=1#frag").unwrap();
        assert_eq!(
            t.uri().to_string(),
            "https://hooks.example.com:8443/in/x?t=1"
        );
        let expected = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert_eq!(
            t.authorization.as_ref().unwrap().to_str().unwrap(),
            format!("Basic {expected}")
        );
        assert_eq!(t.origin(), "https://hooks.example.com:8443");
        let debug = format!("{t:?}");
        assert!(
            !debug.contains("p%3Ass") && !debug.contains(&expected),
            "{debug}"
        );
    }

    #[test]
    fn keeps_urls_without_credentials() {
        let t = Target::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(t.uri().to_string(), "http://127.0.0.1:9000/");
        assert!(!t.has_credentials());
        let t = Target::parse("http://h?x=1").unwrap();
        assert_eq!(t.uri().to_string(), "http://h/?x=1");
        let t = Target::parse("http://user@h/p").unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("user:");
        assert_eq!(
            t.authorization.unwrap().to_str().unwrap(),
            format!("Basic {expected}")
        );
    }

    #[test]
    fn rejects_unusable_urls_without_echoing_secrets() {
        for bad in ["ftp://u:secret@h/", "u:secret@h", "http://u:secret@/x"] {
            let e = Target::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
