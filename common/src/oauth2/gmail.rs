//! Gmail OAuth2 run by the gateway (settings `gmailClientId`, `gmailClientSecret`,
//! `gmailRedirectUrl`): the consent URL a new account is sent to, and the profile call
//! that says which address consented. Google's endpoints by default; the `gmail.*` options
//! point them elsewhere (a Google-compatible provider, or the test rig's OAuth2 server).

use serde::Deserialize;

use super::CredentialError;
use super::token_endpoint::OAuth2Client;
use crate::config::GmailConfig;
use crate::model::{Secret, Settings};
use crate::net::http_client::{self, Limits, url_encode};

/// The scope every Gmail IMAP/SMTP login needs.
pub const MAIL_SCOPE: &str = "https://mail.google.com/";

/// The gateway's Gmail OAuth2 client, complete.
#[derive(Debug, Clone)]
pub struct GmailOAuth2 {
    pub client: OAuth2Client,
    pub redirect_url: String,
    pub auth_url: String,
    pub profile_url: String,
}

impl GmailOAuth2 {
    /// The client the settings describe, or `None` while id or secret is missing.
    pub fn from_settings(settings: &Settings, gmail: &GmailConfig) -> Option<GmailOAuth2> {
        let id = settings.gmail_client_id.clone().filter(|s| !s.is_empty())?;
        let secret = settings
            .gmail_client_secret
            .clone()
            .filter(|s| !s.is_empty())?;
        Some(GmailOAuth2 {
            client: OAuth2Client {
                token_url: gmail.token_url.clone(),
                client_id: id,
                client_secret: Secret::new(secret),
            },
            redirect_url: settings.gmail_redirect_url.clone().unwrap_or_default(),
            auth_url: gmail.auth_url.clone(),
            profile_url: gmail.profile_url.clone(),
        })
    }

    /// Where to send the user to consent, coming back to `redirect_url` with `state`.
    pub fn consent_url(&self, login_hint: &str, state: &str) -> String {
        let sep = if self.auth_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let params = [
            ("client_id", self.client.client_id.as_str()),
            ("redirect_uri", self.redirect_url.as_str()),
            ("response_type", "code"),
            ("scope", MAIL_SCOPE),
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("login_hint", login_hint),
            ("state", state),
        ];
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        format!("{}{sep}{}", self.auth_url, query.join("&"))
    }

    /// The address whose mailbox `access_token` opens.
    pub async fn profile_email(&self, access_token: &Secret) -> Result<String, CredentialError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Profile {
            email_address: String,
        }
        let bearer = format!("Bearer {}", access_token.expose());
        let reply = http_client::get(
            &self.profile_url,
            &[("authorization", &bearer)],
            Limits::default(),
        )
        .await
        .map_err(|e| {
            CredentialError::unavailable(format!("Gmail profile request failed: {e}"), None)
        })?;
        if !(200..300).contains(&reply.status) {
            return Err(CredentialError::refused(
                format!(
                    "Gmail profile request was refused (status {})",
                    reply.status
                ),
                None,
            ));
        }
        serde_json::from_slice::<Profile>(&reply.body)
            .map(|p| p.email_address)
            .map_err(|_| CredentialError::refused("Gmail profile answer has no emailAddress", None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_url_carries_everything() {
        let settings = Settings {
            gmail_client_id: Some("cid".into()),
            gmail_client_secret: Some("s3cr3t-cs".into()),
            gmail_redirect_url: Some("http://127.0.0.1:3000/oauth".into()),
            ..Default::default()
        };
        let g = GmailOAuth2::from_settings(&settings, &GmailConfig::default()).unwrap();
        let url = g.consent_url("me@gmail.com", "st.ate");
        assert!(url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?client_id=cid&"));
        assert!(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Foauth"));
        assert!(url.contains("scope=https%3A%2F%2Fmail.google.com%2F"));
        assert!(url.contains("login_hint=me%40gmail.com&state=st.ate"));
        assert!(!url.contains("s3cr3t"), "no client secret in the URL");
        let none = Settings::default();
        assert!(GmailOAuth2::from_settings(&none, &GmailConfig::default()).is_none());
    }
}
