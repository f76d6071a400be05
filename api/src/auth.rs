//! Optional HTTP basic auth for the whole REST api (`api.auth = "user:pass"`), as the
//! original offered: a convenience for a single user, not user management.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imapapi_common::config::BasicAuth;
use imapapi_common::error::ApiError;
use warp::{Filter, Rejection};

use crate::error::reject;

/// Passes when auth is off or the request carries the right credentials; otherwise a 401
/// with a `WWW-Authenticate` challenge (added by the error mapping).
pub fn basic(auth: Option<BasicAuth>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let ok = match &auth {
                None => true,
                Some(expected) => header.as_deref().is_some_and(|h| matches(expected, h)),
            };
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(reject(ApiError::new(
                        401,
                        "Unauthorized",
                        "Missing or invalid credentials",
                    )))
                }
            }
        })
        .untuple_one()
}

/// Whether an `Authorization` header value carries `expected`.
fn matches(expected: &BasicAuth, header: &str) -> bool {
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
