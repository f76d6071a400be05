//! Access tokens of gateway-run OAuth2 accounts, kept per process until shortly before they
//! expire, so that logins (the watcher's and every command connection's) do not each ask
//! the token endpoint. Per process rather than in the store: a token is cheap to get again,
//! and not writing it back means no write can race a user's update of the account.
//!
//! One async lock per account makes concurrent logins of an account share one refresh.
//! Entries are keyed by account and checked against a fingerprint of the refresh token, so
//! an account given a new refresh token never uses a token of the old one.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use sha2::{Digest, Sha256};

use super::CredentialError;
use super::token_endpoint::{Grant, OAuth2Client};
use crate::clock::now_ms;
use crate::model::Secret;

/// Refresh this long before expiry at most (a quarter of the lifetime when that is less).
const MARGIN_MS: u64 = 60_000;

#[derive(Clone)]
struct Entry {
    refresh_fingerprint: [u8; 32],
    token: Secret,
    issued_at: u64,
    expires_at: u64,
}

impl Entry {
    fn fresh_at(&self, now: u64) -> bool {
        let margin = MARGIN_MS.min(self.expires_at.saturating_sub(self.issued_at) / 4);
        now.saturating_add(margin) < self.expires_at
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

static CACHE: LazyLock<Mutex<HashMap<String, Slot>>> = LazyLock::new(Default::default);

fn slot(account: &str) -> Slot {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.entry(account.to_string()).or_default().clone()
}

fn fingerprint(refresh_token: &Secret) -> [u8; 32] {
    Sha256::digest(refresh_token.expose().as_bytes()).into()
}

/// A stored access token and when it expires (unix ms), as the account record has it.
pub struct Stored<'a> {
    pub token: &'a Secret,
    pub expires_at: u64,
}

/// A usable access token of `account`: the cached one, the stored one while fresh, or a
/// new one from `client`.
pub async fn access_token(
    account: &str,
    refresh_token: &Secret,
    stored: Option<Stored<'_>>,
    client: &OAuth2Client,
) -> Result<Secret, CredentialError> {
    let print = fingerprint(refresh_token);
    let slot = slot(account);
    let mut entry = slot.lock().await;
    let now = now_ms();
    if let Some(e) = entry.as_ref().filter(|e| e.refresh_fingerprint == print) {
        if e.fresh_at(now) {
            return Ok(e.token.clone());
        }
    } else if let Some(s) = stored {
        let e = Entry {
            refresh_fingerprint: print,
            token: s.token.clone(),
            issued_at: now,
            expires_at: s.expires_at,
        };
        if e.fresh_at(now) && s.expires_at.saturating_sub(now) > MARGIN_MS {
            *entry = Some(e.clone());
            return Ok(e.token);
        }
    }
    let Grant {
        access_token,
        expires_at,
        ..
    } = client.refresh(refresh_token).await?;
    tracing::debug!(account, "OAuth2 access token renewed");
    metrics::counter!("imapapi_oauth2_token_renewals_total").increment(1);
    *entry = Some(Entry {
        refresh_fingerprint: print,
        token: access_token.clone(),
        issued_at: now,
        expires_at,
    });
    Ok(access_token)
}

/// Forget the cached token of `account` (the server refused it: get a new one next time).
pub async fn forget(account: &str) {
    let slot = slot(account);
    *slot.lock().await = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_ahead_of_expiry() {
        let e = |issued_at, expires_at| Entry {
            refresh_fingerprint: [0; 32],
            token: Secret::new("t"),
            issued_at,
            expires_at,
        };
        // An hour-long token is renewed a minute before it ends.
        let hour = e(0, 3_600_000);
        assert!(hour.fresh_at(3_500_000));
        assert!(!hour.fresh_at(3_550_000));
        // A 4 s token a second before.
        let short = e(0, 4_000);
        assert!(short.fresh_at(2_500));
        assert!(!short.fresh_at(3_100));
    }
}
