//! Access tokens for the REST api (not in the original, which had basic auth only): what a
//! token may do, and the record kept of it. Only a SHA-256 hash of the token is ever stored,
//! so a leaked store does not hand out working tokens.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a token may do. A token with several scopes may do what any of them allows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Everything, tokens included.
    Api,
    /// Every `GET` (and `HEAD`), and searches, which change nothing.
    Read,
    /// Every route of one account: `/v1/account/<id>` and below.
    Account(String),
}

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be \"api\", \"read\" or \"account:<id>\"")]
pub struct InvalidScope;

impl FromStr for Scope {
    type Err = InvalidScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api" => Ok(Scope::Api),
            "read" => Ok(Scope::Read),
            other => match other.strip_prefix("account:") {
                Some(id) if !id.is_empty() && id.chars().count() <= 256 => {
                    Ok(Scope::Account(id.to_string()))
                }
                _ => Err(InvalidScope),
            },
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Api => f.write_str("api"),
            Scope::Read => f.write_str("read"),
            Scope::Account(id) => write!(f, "account:{id}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The stored record of a token: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// Public id, for listing and deleting.
    pub id: Uuid,
    /// [`TokenHash`] of the token, hex.
    pub hash: String,
    pub description: String,
    pub scopes: Vec<Scope>,
    /// Unix milliseconds.
    pub created: u64,
    /// Unix milliseconds; `None`: never expires.
    pub expires: Option<u64>,
}

impl TokenRecord {
    /// Whether the token has expired at `now_ms`.
    pub fn expired_at(&self, now_ms: u64) -> bool {
        self.expires.is_some_and(|e| e <= now_ms)
    }
}

/// The SHA-256 of a token, hex. A plain hash suffices (no scrypt): tokens carry 256 random
/// bits, so there is nothing to guess, and every request needs the hash.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token: `imapapi_` and 43 base64url characters (256 bits). The prefix
/// lets secret scanners recognise a leaked one.
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    format!(
        "imapapi_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip() {
        for s in ["api", "read", "account:bob", "account:a:b"] {
            assert_eq!(s.parse::<Scope>().unwrap().to_string(), s);
        }
        for bad in ["", "API", "account:", "write", "account"] {
            assert!(bad.parse::<Scope>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&vec![Scope::Api, Scope::Account("x".into())]).unwrap();
        assert_eq!(json, r#"["api","account:x"]"#);
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("imapapi_") && a.len() == 8 + 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).len(), 64);
    }
}
