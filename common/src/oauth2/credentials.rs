//! What a login uses, and why none could be had. Secrets stay inside [`Secret`] and never
//! reach a `Debug` or an error text.

use crate::model::{AccountErrorEntry, Secret};

/// Which login the credentials are for; the auth server is told (`proto=imap|smtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Imap,
    Smtp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Imap => "imap",
            Proto::Smtp => "smtp",
        }
    }
}

/// What an account authenticates with.
#[derive(Clone)]
pub enum Credentials {
    /// LOGIN / AUTH PLAIN.
    Password { user: String, pass: Secret },
    /// XOAUTH2 with a bearer token.
    OAuth2 { user: String, token: Secret },
}

impl Credentials {
    /// The user that logs in (no secret: fit for events and logs).
    pub fn user(&self) -> &str {
        match self {
            Credentials::Password { user, .. } | Credentials::OAuth2 { user, .. } => user,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "Password({user}, ******)"),
            Credentials::OAuth2 { user, .. } => write!(f, "OAuth2({user}, ******)"),
        }
    }
}

/// Why no credentials could be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CredentialError {
    /// Refused or unusable for good until someone acts: no credentials configured, the
    /// auth server said no or answered nonsense, a refresh token was revoked. The account
    /// goes to `authenticationError`.
    #[error("{}", .0.response)]
    Refused(AccountErrorEntry),
    /// Could not be asked right now (the token endpoint is unreachable): try again later.
    /// The account goes to `connectError`.
    #[error("{}", .0.response)]
    Unavailable(AccountErrorEntry),
}

impl CredentialError {
    pub fn refused(response: impl Into<String>, code: Option<&str>) -> Self {
        CredentialError::Refused(entry(response, code))
    }
    pub fn unavailable(response: impl Into<String>, code: Option<&str>) -> Self {
        CredentialError::Unavailable(entry(response, code))
    }
    /// The error as an account's `lastError`.
    pub fn entry(&self) -> &AccountErrorEntry {
        match self {
            CredentialError::Refused(e) | CredentialError::Unavailable(e) => e,
        }
    }
}

fn entry(response: impl Into<String>, code: Option<&str>) -> AccountErrorEntry {
    AccountErrorEntry {
        response: response.into(),
        server_response_code: code.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::Password {
            user: "me".into(),
            pass: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = Credentials::OAuth2 {
            user: "me@example.com".into(),
            token: Secret::new("tok-123"),
        };
        assert!(!format!("{c:?}").contains("tok-123"));
        assert_eq!(c.user(), "me@example.com");
    }
}
