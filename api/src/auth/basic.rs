//! HTTP basic auth with the one `api.auth = "user:pass"` pair, as the original offered: a
//! convenience for a single user, not user management. Checked in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imapapi_common::config::BasicAuth;

/// Whether an `Authorization` header value carries `expected`.
pub fn matches(expected: &BasicAuth, header: &str) -> bool {
    let Some((scheme, encoded)) = header.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let mut want = expected.user.as_bytes().to_vec();
    want.push(b':');
    want.extend_from_slice(expected.pass.expose().as_bytes());
    constant_time_eq(&decoded, &want)
}

/// Compare without an early exit, so the time taken does not reveal how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= (x ^ y) as usize;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use imapapi_common::model::Secret;

    #[test]
    fn checks_credentials() {
        let auth = BasicAuth {
            user: "user".into(),
            pass: Secret::new("pa:ss"),
        };
        let good = format!("Basic {}", STANDARD.encode("user:pa:ss"));
        assert!(matches(&auth, &good));
        assert!(matches(&auth, &good.replace("Basic", "basic")));
        assert!(!matches(
            &auth,
            &format!("Basic {}", STANDARD.encode("user:pa"))
        ));
        assert!(!matches(&auth, "Bearer x"));
        assert!(!matches(&auth, "Basic !!!"));
    }
}
