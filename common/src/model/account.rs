//! An account as registered over REST (`POST /v1/account`) and its connection state.

use serde::{Deserialize, Serialize};

use super::secret::{REDACTED, Secret};

/// Credentials for IMAP or SMTP. One of `pass` or `accessToken` (XOAUTH2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
}

/// TLS options of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_unauthorized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
}

/// IMAP server settings of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    /// Implicit TLS (port 993). When false, STARTTLS is used if the server offers it.
    #[serde(default)]
    pub secure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub use_auth_server: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Seconds between full resyncs of folders that are not IDLEd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resync_delay: Option<u64>,
}

/// SMTP server settings of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub secure: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub use_auth_server: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// Gmail OAuth2 handled by the gateway itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Config {
    pub auth: OAuth2User,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuth2User {
    pub user: String,
}

/// A registered account: the body of `POST /v1/account`, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountConfig {
    pub account: String,
    pub name: String,
    /// Copy sent mail to the Sent folder (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_from: Option<String>,
    /// Folder(s) to watch; `*` (default) means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap: Option<ImapConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
}

fn redact_auth(auth: &mut Option<AuthConfig>) {
    if let Some(a) = auth {
        if a.pass.is_some() {
            a.pass = Some(Secret::new(REDACTED));
        }
        if a.access_token.is_some() {
            a.access_token = Some(Secret::new(REDACTED));
        }
    }
}

impl AccountConfig {
    /// A copy fit for a response: every secret replaced with `******`.
    pub fn redacted(&self) -> AccountConfig {
        let mut c = self.clone();
        if let Some(imap) = &mut c.imap {
            redact_auth(&mut imap.auth);
        }
        if let Some(smtp) = &mut c.smtp {
            redact_auth(&mut smtp.auth);
        }
        if let Some(o) = &mut c.oauth2 {
            o.access_token = o.access_token.as_ref().map(|_| Secret::new(REDACTED));
            o.refresh_token = o.refresh_token.as_ref().map(|_| Secret::new(REDACTED));
        }
        c
    }
}

/// Connection state of an account, as `GET /v1/accounts` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AccountState {
    #[default]
    Init,
    Connecting,
    Connected,
    AuthenticationError,
    ConnectError,
    Unset,
    Disconnected,
}

impl AccountState {
    /// Every state, in the order the original listed them.
    pub const ALL: [AccountState; 7] = [
        AccountState::Init,
        AccountState::Connecting,
        AccountState::Connected,
        AccountState::AuthenticationError,
        AccountState::ConnectError,
        AccountState::Unset,
        AccountState::Disconnected,
    ];
}

/// The last connection error of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountErrorEntry {
    pub response: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_response_code: Option<String>,
}

/// Runtime status of an account, written by the ingest process that owns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AccountStatus {
    pub state: AccountState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<AccountErrorEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_readme_example_and_redacts() {
        let body = r#"{"account":"example","name":"My Example Account",
          "imap":{"host":"imap.gmail.com","port":993,"secure":true,"auth":{"user":"u","pass":"verysecret"}},
          "smtp":{"host":"smtp.gmail.com","port":465,"secure":true,"auth":{"user":"u","pass":"verysecret"}}}"#;
        let a: AccountConfig = serde_json::from_str(body).unwrap();
        assert_eq!(a.imap.as_ref().unwrap().port, 993);
        let out = serde_json::to_string(&a.redacted()).unwrap();
        assert!(!out.contains("verysecret"));
        assert!(out.contains("******"));
    }
}
