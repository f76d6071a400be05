//! An account as registered over REST (`POST /v1/account`) and its connection state.
//!
//! The body is read strictly: an unknown key, at any depth, is a 400 naming it (a typo such
//! as `imap.tls.rejectUnauthorised` must not silently fall back to a default). As in the
//! original, `imap`, `smtp` and `oauth2` may be `false`, meaning not set. The stored record
//! is this same type, so a field added here must keep older readers in mind.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret::{REDACTED, Secret};

/// Credentials for IMAP or SMTP. One of `pass` or `accessToken` (XOAUTH2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthConfig {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
}

/// TLS options of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_unauthorized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
}

/// IMAP server settings of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
    /// On a server without NOTIFY: the folders, by special use (`\Sent`) or by path, that
    /// get an IDLE connection of their own besides INBOX, instead of the global
    /// `ingest.idleFolders`; `[]`: none. At most 32 entries of 1–1024 characters.
    #[schema(max_items = 32)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_folders: Option<Vec<String>>,
}

/// SMTP server settings of an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuth2Config {
    pub auth: OAuth2User,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The Gmail user of an [`OAuth2Config`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2User {
    pub user: String,
}

/// A registered account: the body of `POST /v1/account`, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
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
    /// `false` in a body reads as not set (stored and returned without the key).
    #[schema(schema_with = super::or_false::schema::value_or_false::<ImapConfig>)]
    #[serde(
        default,
        deserialize_with = "super::or_false::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub imap: Option<ImapConfig>,
    /// `false` in a body reads as not set.
    #[schema(schema_with = super::or_false::schema::value_or_false::<SmtpConfig>)]
    #[serde(
        default,
        deserialize_with = "super::or_false::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub smtp: Option<SmtpConfig>,
    /// `false` in a body reads as not set.
    #[schema(schema_with = super::or_false::schema::value_or_false::<OAuth2Config>)]
    #[serde(
        default,
        deserialize_with = "super::or_false::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub oauth2: Option<OAuth2Config>,
    /// This account's webhook URL, used instead of the `webhooks` setting (not in the
    /// original). The `webhookEvents` filter applies to it as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<String>,
}

/// A URL with the password of its user info (`user:pass@`) replaced by `******`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:{REDACTED}")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}{host}{tail}")
        }
        None => url.to_string(),
    }
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
        c.webhooks = c.webhooks.as_deref().map(redact_url_password);
        c
    }
}

/// Connection state of an account, as `GET /v1/accounts` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
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

/// The last connection error of an account, and the data of the `authenticationError`
/// and `connectError` events: the server's answer and, when it gave one, its response code
/// (`AUTHENTICATIONFAILED`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountErrorEntry {
    pub response: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_response_code: Option<String>,
}

/// Runtime status of an account, written by the ingest process that owns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
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
    fn url_passwords_are_masked() {
        assert_eq!(
            redact_url_password("https://u:p@h.example/x?y"),
            "https://u:******@h.example/x?y"
        );
        assert_eq!(redact_url_password("http://h/x@y"), "http://h/x@y");
        assert_eq!(redact_url_password("http://u@h/"), "http://u@h/");
        assert_eq!(redact_url_password("nonsense"), "nonsense");
    }

    fn base() -> serde_json::Value {
        serde_json::json!({"account": "example", "name": "Example",
            "imap": {"host": "imap.example.com", "port": 993, "secure": true,
                     "auth": {"user": "u", "pass": "p"}}})
    }

    #[test]
    fn imap_smtp_and_oauth2_may_be_false() {
        let mut body = base();
        body["smtp"] = false.into();
        body["oauth2"] = false.into();
        let a: AccountConfig = serde_json::from_value(body).unwrap();
        assert!(a.smtp.is_none() && a.oauth2.is_none());
        // Stored and returned without the keys, as when they were never given.
        let out = serde_json::to_value(&a).unwrap();
        assert!(out.get("smtp").is_none() && out.get("oauth2").is_none());

        let a: AccountConfig = serde_json::from_value(serde_json::json!({
            "account": "o", "name": "n", "imap": false, "oauth2": {"auth": {"user": "u"}}
        }))
        .unwrap();
        assert!(a.imap.is_none());
        let mut body = base();
        body["imap"] = true.into();
        assert!(serde_json::from_value::<AccountConfig>(body).is_err());
    }

    #[test]
    fn unknown_keys_are_refused_at_every_depth() {
        let paths: [&[&str]; 5] = [
            &[],
            &["imap"],
            &["imap", "auth"],
            &["imap", "tls"],
            &["smtp"],
        ];
        for path in paths {
            let mut body = base();
            body["smtp"] = serde_json::json!({"host": "h", "port": 25, "tls": {}});
            body["imap"]["tls"] = serde_json::json!({});
            let mut at = &mut body;
            for p in path {
                at = &mut at[*p];
            }
            at["bogus"] = 1.into();
            let e = serde_json::from_value::<AccountConfig>(body).unwrap_err();
            assert!(
                e.to_string().contains("unknown field `bogus`"),
                "{path:?}: {e}"
            );
        }
    }

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
