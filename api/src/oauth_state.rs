//! The `state` of the Gmail consent flow: the account waiting for consent, signed, so that
//! `GET /oauth` can trust what comes back through the user's browser without the api
//! keeping anything between the two requests (any api process may get the callback).
//!
//! `state = base64url(JSON) "." base64url(HMAC-SHA256(JSON))`, keyed by a key derived
//! from the Gmail client secret: every api process has it, and nobody without it can make
//! a state the gateway accepts. The JSON holds no secret (it passes through a browser);
//! it expires after an hour.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use imapapi_common::model::Secret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How long a consent may take.
const LIFETIME_MS: u64 = 60 * 60 * 1000;

/// The account to create once consent is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingAccount {
    pub account: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_from: Option<String>,
    /// Unix milliseconds after which the state is refused.
    pub expires: u64,
    /// Random: two consents for one account have different states.
    pub nonce: String,
}

/// Why a state was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the state is malformed or was not made by this gateway")]
    Forged,
    #[error("the consent took longer than an hour; start again")]
    Expired,
}

type HmacSha256 = Hmac<Sha256>;

fn mac(client_secret: &Secret) -> HmacSha256 {
    // A key of its own, derived, so the client secret itself never keys anything else.
    let mut derive = HmacSha256::new_from_slice(client_secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    derive.update(b"imapapi oauth2 state v1");
    let key = derive.finalize().into_bytes();
    HmacSha256::new_from_slice(&key).expect("HMAC takes any key length")
}

impl PendingAccount {
    /// A pending account expiring an hour after `now_ms`.
    pub fn new(
        account: String,
        name: String,
        copy: Option<bool>,
        path: Option<String>,
        notify_from: Option<String>,
        now_ms: u64,
    ) -> Self {
        PendingAccount {
            account,
            name,
            copy,
            path,
            notify_from,
            expires: now_ms + LIFETIME_MS,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// The signed state.
    pub fn seal(&self, client_secret: &Secret) -> String {
        let json = serde_json::to_vec(self).expect("a pending account encodes");
        let mut m = mac(client_secret);
        m.update(&json);
        let tag = m.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The pending account of a state this gateway signed and that has not expired.
    pub fn open(state: &str, client_secret: &Secret, now_ms: u64) -> Result<Self, StateError> {
        let (body, tag) = state.split_once('.').ok_or(StateError::Forged)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| StateError::Forged)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| StateError::Forged)?;
        let mut m = mac(client_secret);
        m.update(&json);
        m.verify_slice(&tag).map_err(|_| StateError::Forged)?;
        let pending: PendingAccount =
            serde_json::from_slice(&json).map_err(|_| StateError::Forged)?;
        if pending.expires <= now_ms {
            return Err(StateError::Expired);
        }
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_fresh_states_open() {
        let secret = Secret::new("client-secret");
        let p = PendingAccount::new("a".into(), "A".into(), Some(false), None, None, 1_000);
        let state = p.seal(&secret);
        assert!(!state.contains("client-secret"));
        assert_eq!(PendingAccount::open(&state, &secret, 2_000), Ok(p.clone()));
        assert_eq!(
            PendingAccount::open(&state, &secret, 1_000 + LIFETIME_MS),
            Err(StateError::Expired)
        );
        let other = Secret::new("another secret");
        assert_eq!(
            PendingAccount::open(&state, &other, 2_000),
            Err(StateError::Forged)
        );
        // A changed body with the old tag.
        let (_, tag) = state.split_once('.').unwrap();
        let mut forged = p.clone();
        forged.account = "victim".into();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            PendingAccount::open(&format!("{body}.{tag}"), &secret, 2_000),
            Err(StateError::Forged)
        );
        for junk in ["", ".", "abc", "a.b.c", "!!.!!"] {
            assert_eq!(
                PendingAccount::open(junk, &secret, 2_000),
                Err(StateError::Forged),
                "{junk}"
            );
        }
    }
}
