//! Gmail OAuth2 run by the gateway, as the original offered it: `POST /v1/account` with
//! `oauth2: {auth: {user}}` answers where to consent, and `GET /oauth`, where Google sends
//! the browser back, finishes it: the code is exchanged for tokens, the consenting address
//! read from the Gmail profile, and the account created with Gmail's IMAP and SMTP servers
//! and its refresh token (sealed like every secret). From then on, access tokens are got
//! and renewed by whichever role logs in (`imapapi_common::oauth2`).
//!
//! `GET /oauth` answers without api credentials: the browser coming back from Google has
//! none. What makes it safe is the signed `state` (`crate::oauth_state`).

use imapapi_common::clock::now_ms;

use chrono::{DateTime, SecondsFormat, Utc};
use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::model::{AccountConfig, ImapConfig, OAuth2Config, OAuth2User, SmtpConfig};
use imapapi_common::oauth2::gmail::GmailOAuth2;
use serde::Serialize;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::oauth_state::PendingAccount;
use crate::openapi::tags;
use crate::params::{Query, query};
use crate::routes::accounts::{CreateAccountReply, store_account};
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/oauth")];

/// The answer of `POST /v1/account` for a Gmail OAuth2 account: where the user consents.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRedirect {
    /// Google's consent screen for this account; it sends the browser back to
    /// `gmailRedirectUrl` (this gateway's `GET /oauth`).
    pub redirect: String,
}

/// Whether an account body asks for the consent flow: `oauth2` without any token.
pub fn needs_consent(account: &AccountConfig) -> bool {
    account.oauth2.as_ref().is_some_and(|o| {
        o.refresh_token.as_ref().is_none_or(|t| t.is_empty())
            && o.access_token.as_ref().is_none_or(|t| t.is_empty())
    })
}

/// The configured Gmail client, or a 400 naming the missing setting.
async fn gmail(services: &Services) -> Result<GmailOAuth2, ApiError> {
    let settings = services.store.get_settings().await.map_err(store_error)?;
    let settings = imapapi_common::crypto::open_settings_off_runtime(
        settings,
        services.config.service.secret.clone(),
    )
    .await;
    let not_set = |key: &str| {
        ApiError::invalid(
            "oauth2",
            format!("needs Gmail OAuth2 to be configured: the {key} setting is not set"),
        )
    };
    let client = GmailOAuth2::from_settings(&settings, &services.config.gmail)
        .ok_or_else(|| not_set("gmailClientId or gmailClientSecret"))?;
    if client.redirect_url.is_empty() {
        return Err(not_set("gmailRedirectUrl"));
    }
    Ok(client)
}

/// The consent URL for a (validated) account body; nothing is stored.
pub async fn start_consent(
    services: &Services,
    account: AccountConfig,
) -> Result<ConsentRedirect, ApiError> {
    let gmail = gmail(services).await?;
    let user = account
        .oauth2
        .as_ref()
        .map(|o| o.auth.user.clone())
        .unwrap_or_default();
    let pending = PendingAccount::new(
        account.account,
        account.name,
        account.copy,
        account.path,
        account.notify_from,
        now_ms(),
    );
    let state = pending.seal(&gmail.client.client_secret);
    tracing::info!(account = %pending.account, "Gmail consent started");
    Ok(ConsentRedirect {
        redirect: gmail.consent_url(&user, &state),
    })
}

/// `GET /oauth`.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("oauth")
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(finish_consent(s, q).await) })
        .boxed()
}

/// Finish a Gmail consent (the original's OAuth2 callback).
///
/// `GET /oauth?code=…&state=…`, where Google sends the browser after consent: creates the
/// account and answers `{"account", "state": "new" | "existing"}`. 400 when consent was
/// refused (`error=…`), the state is not this gateway's or older than an hour, or Google
/// gave no refresh token; 502 when Google could not be asked. Needs no api credentials.
#[utoipa::path(
    get,
    path = "/oauth",
    operation_id = "getOauth",
    tag = tags::ACCOUNT,
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state of the consent request"),
        ("error" = Option<String>, Query, description = "Why consent was not given"),
        ("scope" = Option<String>, Query, description = "The scopes granted (ignored)"),
    ),
    responses(
        (status = 200, description = "The account was created", body = CreateAccountReply),
        (status = 400, description = "Consent refused, or an invalid or expired state", body = ApiError),
        (status = 502, description = "Google's token or profile endpoint failed", body = ApiError),
    ),
    security(()),
)]
pub async fn finish_consent(services: Services, q: Query) -> Result<Response, ApiError> {
    q.only(&[
        "code", "state", "error", "scope", "authuser", "prompt", "hd",
    ])?;
    if let Some(error) = q.get("error") {
        return Err(ApiError::new(
            400,
            "OAuthConsentRefused",
            format!("Consent was not given: {}", clip(error)),
        ));
    }
    let code = q.required("code")?;
    let state = q.required("state")?;
    let gmail = gmail(&services).await?;
    let pending = PendingAccount::open(state, &gmail.client.client_secret, now_ms())
        .map_err(|e| ApiError::invalid("state", e))?;
    let upstream = |e: imapapi_common::oauth2::CredentialError| {
        ApiError::new(502, "OAuthError", e.to_string())
    };
    let grant = gmail
        .client
        .exchange_code(code, &gmail.redirect_url)
        .await
        .map_err(upstream)?;
    let refresh_token = grant.refresh_token.ok_or_else(|| {
        ApiError::new(
            400,
            "OAuthNoRefreshToken",
            "Google gave no refresh token: remove the app's access in the Google account and consent again",
        )
    })?;
    let email = gmail
        .profile_email(&grant.access_token)
        .await
        .map_err(upstream)?;
    let account = gmail_account(
        &services,
        pending,
        email,
        grant.access_token,
        refresh_token,
        grant.expires_at,
    );
    let reply = store_account(&services, account).await?;
    tracing::info!(account = %reply.account, "Gmail consent finished");
    Ok(json_ok(&reply))
}

/// The account a finished consent creates: Gmail's servers (implicit TLS), credentials
/// from OAuth2 only.
fn gmail_account(
    services: &Services,
    pending: PendingAccount,
    email: String,
    access_token: imapapi_common::model::Secret,
    refresh_token: imapapi_common::model::Secret,
    expires_at: u64,
) -> AccountConfig {
    let gmail = &services.config.gmail;
    let expires = DateTime::<Utc>::from_timestamp_millis(expires_at as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    AccountConfig {
        account: pending.account,
        name: pending.name,
        copy: pending.copy,
        notify_from: pending.notify_from,
        path: pending.path,
        imap: Some(ImapConfig {
            host: gmail.imap.0.clone(),
            port: gmail.imap.1,
            secure: true,
            auth: None,
            use_auth_server: false,
            tls: None,
            resync_delay: None,
            idle_folders: None,
        }),
        smtp: Some(SmtpConfig {
            host: gmail.smtp.0.clone(),
            port: gmail.smtp.1,
            secure: true,
            auth: None,
            use_auth_server: false,
            tls: None,
        }),
        oauth2: Some(OAuth2Config {
            auth: OAuth2User { user: email },
            access_token: Some(access_token),
            refresh_token: Some(refresh_token),
            expires: Some(expires),
        }),
        webhooks: None,
    }
}

/// A value from a redirect, short and printable for an error message.
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}
