//! The operator's auth server (`settings.authServer`, for accounts with `useAuthServer`):
//! `GET <authServer>?account=<id>&proto=imap|smtp` answers `{user, pass}` or
//! `{user, accessToken}`, as in the original. Asked at every login, over http or https,
//! with a deadline and a cap on the answer; whatever goes wrong is a refusal naming the
//! reason, so the account shows `authenticationError` with it.

use serde::Deserialize;

use super::{CredentialError, Credentials, Proto};
use crate::model::Secret;
use crate::net::http_client::{self, HttpError, Limits, url_encode};

/// `serverResponseCode` of a failed auth server request, as the original named it.
pub const HTTP_REQUEST_ERROR: &str = "HTTPRequestError";

/// The auth server's answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    user: String,
    #[serde(default)]
    pass: Option<Secret>,
    #[serde(default)]
    access_token: Option<Secret>,
}

/// Ask `base` for the credentials of `account`.
pub async fn fetch(
    base: &str,
    account: &str,
    proto: Proto,
    limits: Limits,
) -> Result<Credentials, CredentialError> {
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!(
        "{base}{sep}account={}&proto={}",
        url_encode(account),
        proto.as_str()
    );
    let fail = |why: String| {
        CredentialError::refused(
            format!("Auth server request failed: {why}"),
            Some(HTTP_REQUEST_ERROR),
        )
    };
    let reply = http_client::get(&url, &[], limits)
        .await
        .map_err(|e| match e {
            HttpError::InvalidUrl => fail("the authServer setting is not an http(s) URL".into()),
            other => fail(other.to_string()),
        })?;
    if !(200..300).contains(&reply.status) {
        return Err(fail(format!("status {}", reply.status)));
    }
    let reply: Reply = serde_json::from_slice(&reply.body)
        .map_err(|_| fail("the answer is not {user, pass} or {user, accessToken} JSON".into()))?;
    if reply.user.is_empty() {
        return Err(fail("the answer has an empty user".into()));
    }
    match (reply.pass, reply.access_token) {
        (_, Some(token)) if !token.is_empty() => Ok(Credentials::OAuth2 {
            user: reply.user,
            token,
        }),
        (Some(pass), _) => Ok(Credentials::Password {
            user: reply.user,
            pass,
        }),
        _ => Err(fail("the answer has neither pass nor accessToken".into())),
    }
}
