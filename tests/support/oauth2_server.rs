//! The rig's OAuth2 server (`infra/oauth2-server`): consent, token and introspection
//! endpoints for the gateway and for Dovecot's `oauth2` passdb, plus admin endpoints that
//! let a test issue, expire and revoke a user's tokens.

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::request;

/// The running OAuth2 server.
#[derive(Debug)]
pub struct OAuth2Server {
    pub url: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Tokens issued for a user.
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
}

impl OAuth2Server {
    /// Starts the server (idempotent script) the first time a test asks.
    pub fn ensure() -> &'static OAuth2Server {
        static SERVER: OnceLock<OAuth2Server> = OnceLock::new();
        SERVER.get_or_init(|| {
            // Dovecot's passdb points at this server: both must be up.
            super::Dovecot::ensure();
            let env = super::rig_env::start(
                "oauth2-server/start.sh",
                "IMAPAPI_OAUTH2_DIR",
                "/tmp/imapapi-oauth2",
            );
            OAuth2Server {
                url: env.get("IMAPAPI_OAUTH2_URL").to_string(),
                client_id: env.get("IMAPAPI_OAUTH2_CLIENT_ID").to_string(),
                client_secret: env.get("IMAPAPI_OAUTH2_CLIENT_SECRET").to_string(),
            }
        })
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let res = request(
            "POST",
            &format!("{}{path}", self.url),
            &[],
            serde_json::to_vec(&body).unwrap(),
            Some("application/json"),
        )
        .await
        .unwrap_or_else(|e| panic!("OAuth2 server {path}: {e:#}"));
        assert_eq!(res.status, 200, "OAuth2 server {path}: {}", res.text());
        res.json()
    }

    /// Access and refresh tokens for `user`.
    pub async fn issue(&self, user: &str) -> IssuedTokens {
        let v = self.admin("/admin/issue", json!({"user": user})).await;
        IssuedTokens {
            access_token: v["accessToken"].as_str().unwrap().to_string(),
            refresh_token: v["refreshToken"].as_str().unwrap().to_string(),
        }
    }

    /// Every access token of `user` expires now (refresh tokens still work).
    pub async fn expire(&self, user: &str) {
        self.admin("/admin/expire", json!({"user": user})).await;
    }

    /// Every access and refresh token of `user` stops working.
    pub async fn revoke(&self, user: &str) {
        self.admin("/admin/revoke", json!({"user": user})).await;
    }

    /// Tokens issued to `user` from now on last `seconds`.
    pub async fn set_lifetime(&self, user: &str, seconds: u64) {
        self.admin("/admin/lifetime", json!({"user": user, "seconds": seconds}))
            .await;
    }

    /// How many times `user`'s refresh token was used.
    pub async fn refresh_grants(&self, user: &str) -> u64 {
        let res = request(
            "GET",
            &format!("{}/admin/stats", self.url),
            &[],
            Vec::new(),
            None,
        )
        .await
        .expect("OAuth2 server stats");
        res.json()["users"][user]["refreshGrants"]
            .as_u64()
            .unwrap_or(0)
    }
}
