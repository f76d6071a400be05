//! An OAuth2 token endpoint (RFC 6749 §4.1.3 and §6): a refresh token or an authorization
//! code in, an access token out. A refusal (`invalid_grant`: revoked, expired) is told
//! apart from a failure to ask, since only the first needs a person to act.

use crate::clock::now_ms;
use std::time::Duration;

use serde::Deserialize;

use super::CredentialError;
use crate::model::Secret;
use crate::net::http_client::{self, Limits};

/// `serverResponseCode` of a refused grant.
pub const OAUTH_ERROR: &str = "OauthRenewError";

/// The client the gateway is at the token endpoint.
#[derive(Debug, Clone)]
pub struct OAuth2Client {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

/// What the endpoint granted.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access_token: Secret,
    /// Only for a code exchange (and when the server rotates them).
    pub refresh_token: Option<Secret>,
    /// Unix milliseconds.
    pub expires_at: u64,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Secret,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorReply {
    error: String,
}

/// Lifetime assumed when the endpoint does not say (Google's is an hour).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

impl OAuth2Client {
    /// A fresh access token for `refresh_token`.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<Grant, CredentialError> {
        self.grant(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ])
        .await
    }

    /// Exchange the authorization `code` the consent screen sent to `redirect_uri`.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Grant, CredentialError> {
        self.grant(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ])
        .await
    }

    async fn grant(&self, params: &[(&str, &str)]) -> Result<Grant, CredentialError> {
        let mut form = params.to_vec();
        form.push(("client_id", &self.client_id));
        form.push(("client_secret", self.client_secret.expose()));
        let reply = http_client::post_form(&self.token_url, &form, &[], Limits::default())
            .await
            .map_err(|e| {
                CredentialError::unavailable(
                    format!("OAuth2 token endpoint unreachable: {e}"),
                    None,
                )
            })?;
        if reply.status >= 500 {
            return Err(CredentialError::unavailable(
                format!("OAuth2 token endpoint failed with status {}", reply.status),
                None,
            ));
        }
        if !(200..300).contains(&reply.status) {
            let error = serde_json::from_slice::<ErrorReply>(&reply.body)
                .map(|e| e.error)
                .unwrap_or_else(|_| format!("status {}", reply.status));
            return Err(CredentialError::refused(
                format!("OAuth2 token request was refused: {}", clip(&error)),
                Some(OAUTH_ERROR),
            ));
        }
        let token: TokenReply = serde_json::from_slice(&reply.body).map_err(|_| {
            CredentialError::refused(
                "OAuth2 token endpoint answered without an access token",
                Some(OAUTH_ERROR),
            )
        })?;
        let lifetime = token
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        Ok(Grant {
            access_token: token.access_token,
            refresh_token: token.refresh_token,
            expires_at: now_ms().saturating_add(lifetime.as_millis() as u64),
        })
    }
}

/// An error code from a server, kept short and printable for `lastError`.
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}
