//! Picks where the credentials of one login come from and gets them: the auth server when
//! the account says `useAuthServer`, else its own `auth`, else the gateway-run OAuth2 of
//! its `oauth2` settings (a refresh token).

use super::access_tokens::{self, Stored};
use super::gmail::GmailOAuth2;
use super::{CredentialError, Credentials, Proto, auth_server};
use crate::config::GmailConfig;
use crate::model::{AccountConfig, AuthConfig, OAuth2Config, Settings};
use crate::net::http_client::Limits;

/// Everything one login's credentials may come from. Built from the account record (its
/// secrets opened) and the settings of the moment; cheap to clone.
#[derive(Debug, Clone)]
pub struct CredentialSource {
    account: String,
    proto: Proto,
    auth: Option<AuthConfig>,
    use_auth_server: bool,
    oauth2: Option<OAuth2Config>,
    auth_server: Option<String>,
    gmail: Option<GmailOAuth2>,
}

impl CredentialSource {
    /// The source of `account`'s `proto` login (IMAP or SMTP settings; for an account
    /// without them, only its `oauth2`).
    pub fn new(
        account: &AccountConfig,
        proto: Proto,
        settings: &Settings,
        gmail: &GmailConfig,
    ) -> CredentialSource {
        let (auth, use_auth_server) = match proto {
            Proto::Imap => account
                .imap
                .as_ref()
                .map(|i| (i.auth.clone(), i.use_auth_server)),
            Proto::Smtp => account
                .smtp
                .as_ref()
                .map(|s| (s.auth.clone(), s.use_auth_server)),
        }
        .unwrap_or((None, false));
        CredentialSource {
            account: account.account.clone(),
            proto,
            auth,
            use_auth_server,
            oauth2: account.oauth2.clone(),
            auth_server: settings.auth_server.clone().filter(|s| !s.is_empty()),
            gmail: GmailOAuth2::from_settings(settings, gmail),
        }
    }

    /// The credentials to log in with now.
    pub async fn credentials(&self) -> Result<Credentials, CredentialError> {
        if self.use_auth_server {
            let base = self
                .auth_server
                .as_deref()
                .ok_or_else(|| CredentialError::refused("Auth server is not configured", None))?;
            return auth_server::fetch(base, &self.account, self.proto, Limits::default()).await;
        }
        if let Some(auth) = &self.auth {
            return own(auth, self.proto);
        }
        if let Some(o) = &self.oauth2 {
            return self.managed(o).await;
        }
        Err(no_credentials(self.proto))
    }

    /// Whether the account has any credentials for this login at all (an SMTP relay may
    /// take mail without AUTH).
    pub fn configured(&self) -> bool {
        self.use_auth_server || self.auth.is_some() || self.oauth2.is_some()
    }

    /// Whether the credentials come from the operator's auth server.
    pub fn uses_auth_server(&self) -> bool {
        self.use_auth_server
    }

    /// Whether these credentials come from gateway-run OAuth2, whose cached token is
    /// worth forgetting after the server refused it.
    pub fn is_managed_oauth2(&self) -> bool {
        !self.use_auth_server && self.auth.is_none() && self.oauth2.is_some()
    }

    /// After the server refused a login: a managed token is got anew next time.
    pub async fn refused(&self) {
        if self.is_managed_oauth2() {
            access_tokens::forget(&self.account).await;
        }
    }

    async fn managed(&self, o: &OAuth2Config) -> Result<Credentials, CredentialError> {
        let user = o.auth.user.clone();
        let Some(refresh) = o.refresh_token.as_ref().filter(|t| !t.is_empty()) else {
            // An access token alone (set by hand) is used as it is.
            return match o.access_token.as_ref().filter(|t| !t.is_empty()) {
                Some(token) => Ok(Credentials::OAuth2 {
                    user,
                    token: token.clone(),
                }),
                None => Err(CredentialError::refused(
                    "OAuth2 has no refresh token: finish the consent flow",
                    None,
                )),
            };
        };
        let gmail = self.gmail.as_ref().ok_or_else(|| {
            CredentialError::refused(
                "Gmail OAuth2 is not configured (settings gmailClientId and gmailClientSecret)",
                None,
            )
        })?;
        let stored = o.access_token.as_ref().and_then(|token| {
            let expires = o.expires.as_deref()?;
            let at = chrono::DateTime::parse_from_rfc3339(expires).ok()?;
            Some(Stored {
                token,
                expires_at: u64::try_from(at.timestamp_millis()).ok()?,
            })
        });
        let token =
            access_tokens::access_token(&self.account, refresh, stored, &gmail.client).await?;
        Ok(Credentials::OAuth2 { user, token })
    }
}

fn own(auth: &AuthConfig, proto: Proto) -> Result<Credentials, CredentialError> {
    if let Some(token) = auth.access_token.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Credentials::OAuth2 {
            user: auth.user.clone(),
            token: token.clone(),
        });
    }
    match &auth.pass {
        Some(pass) => Ok(Credentials::Password {
            user: auth.user.clone(),
            pass: pass.clone(),
        }),
        None => Err(no_credentials(proto)),
    }
}

fn no_credentials(proto: Proto) -> CredentialError {
    let name = match proto {
        Proto::Imap => "IMAP",
        Proto::Smtp => "SMTP",
    };
    CredentialError::refused(format!("No {name} credentials configured"), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ImapConfig, OAuth2User, Secret};

    fn account(auth: Option<AuthConfig>, oauth2: Option<OAuth2Config>) -> AccountConfig {
        serde_json::from_value::<AccountConfig>(serde_json::json!({"account": "a", "name": "n"}))
            .map(|mut a| {
                a.imap = Some(ImapConfig {
                    host: "127.0.0.1".into(),
                    port: 1,
                    secure: false,
                    auth,
                    use_auth_server: false,
                    tls: None,
                    resync_delay: None,
                    idle_folders: None,
                });
                a.oauth2 = oauth2;
                a
            })
            .unwrap()
    }

    #[tokio::test]
    async fn own_credentials_token_wins_over_password() {
        let auth = AuthConfig {
            user: "u".into(),
            pass: Some(Secret::new("p")),
            access_token: Some(Secret::new("t")),
        };
        let src = CredentialSource::new(
            &account(Some(auth), None),
            Proto::Imap,
            &Settings::default(),
            &GmailConfig::default(),
        );
        assert!(matches!(
            src.credentials().await,
            Ok(Credentials::OAuth2 { .. })
        ));
        let none = CredentialSource::new(
            &account(None, None),
            Proto::Imap,
            &Settings::default(),
            &GmailConfig::default(),
        );
        let e = none.credentials().await.unwrap_err();
        assert!(matches!(e, CredentialError::Refused(_)), "{e}");
    }

    #[tokio::test]
    async fn managed_oauth2_needs_the_gmail_client() {
        let o = OAuth2Config {
            auth: OAuth2User {
                user: "me@gmail.com".into(),
            },
            access_token: None,
            refresh_token: Some(Secret::new("r")),
            expires: None,
        };
        let src = CredentialSource::new(
            &account(None, Some(o)),
            Proto::Smtp,
            &Settings::default(),
            &GmailConfig::default(),
        );
        assert!(src.is_managed_oauth2());
        let e = src.credentials().await.unwrap_err();
        assert!(e.to_string().contains("gmailClientId"), "{e}");
    }
}
