//! `POST /v1/verifyAccount`: check IMAP and SMTP settings without saving anything, and say
//! which step failed and why. The IMAP check runs on a live ingest node (ingest owns the
//! IMAP code); the SMTP check runs here (see `smtp_check`).

use imapapi_common::Services;
use imapapi_common::command::{VerifyImap, VerifyImapReply};
use imapapi_common::crypto::seal_account_off_runtime;
use imapapi_common::error::ApiError;
use imapapi_common::model::{AccountConfig, ImapConfig, MailboxEntry, SmtpConfig};
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::routes::{Route, with};
use crate::smtp_check;
use imapapi_common::command::client::send_to;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::post("/v1/verifyAccount")];

/// The request body: the settings to try (at least one of `imap` and `smtp`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyAccount {
    /// Also list the folders when the IMAP check passes.
    #[serde(default)]
    pub mailboxes: bool,
    pub imap: Option<ImapConfig>,
    pub smtp: Option<SmtpConfig>,
}

/// The outcome of one check, as the original: `{success, error, code}`.
#[derive(Debug, Serialize, PartialEq, ToSchema)]
pub struct CheckResult {
    pub success: bool,
    /// Why the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Which step failed (`ConnectError`, `AuthenticationError`, or the server's code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The response: one result per protocol given, and the folders when asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyAccountReply {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap: Option<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<CheckResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailboxes: Option<Vec<MailboxEntry>>,
}

/// The verify route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    warp::path!("v1" / "verifyAccount")
        .and(warp::post())
        .and(with(services))
        .and(crate::body::json::<VerifyAccount>(max_size))
        .then(|s: Services, v: VerifyAccount| async move { respond(verify(s, v).await) })
        .boxed()
}

/// Try IMAP and SMTP settings without saving them.
///
/// `POST /v1/verifyAccount` `{mailboxes, imap, smtp}` → `{imap: {success, error, code},
/// smtp: {…}, mailboxes}`. A failed check is a 200 with `success: false`; 400 for invalid
/// settings, 503 when no ingest node is running to try IMAP.
#[utoipa::path(
    post,
    path = "/v1/verifyAccount",
    operation_id = "postV1Verifyaccount",
    tag = tags::ACCOUNT,
    request_body = VerifyAccount,
    responses(
        (status = 200, description = "The outcome of each check", body = VerifyAccountReply),
        (status = 400, description = "Invalid settings", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
        (status = 503, description = "No ingest process is running to try IMAP", body = ApiError),
        (status = 504, description = "The ingest process did not answer", body = ApiError),
    )
)]
pub async fn verify(services: Services, body: VerifyAccount) -> Result<Response, ApiError> {
    if body.imap.is_none() && body.smtp.is_none() {
        return Err(ApiError::invalid("imap", "or \"smtp\" is required"));
    }
    if let Some(imap) = &body.imap {
        crate::routes::accounts::check_server("imap", &imap.host, imap.port)?;
    }
    if let Some(smtp) = &body.smtp {
        crate::routes::accounts::check_server("smtp", &smtp.host, smtp.port)?;
    }
    let (imap, mailboxes) = match body.imap {
        Some(imap) => {
            let r = verify_imap(&services, imap, body.mailboxes).await?;
            let check = CheckResult {
                success: r.success,
                error: r.error,
                code: r.code,
            };
            (Some(check), r.mailboxes)
        }
        None => (None, None),
    };
    let smtp = match body.smtp {
        Some(smtp) => Some(smtp_check::check(&smtp).await),
        None => None,
    };
    Ok(json_ok(&VerifyAccountReply {
        imap,
        smtp,
        mailboxes,
    }))
}

async fn verify_imap(
    services: &Services,
    imap: ImapConfig,
    mailboxes: bool,
) -> Result<VerifyImapReply, ApiError> {
    let nodes = services.store.live_nodes().await.map_err(store_error)?;
    let node = nodes.choose(&mut rand::rng()).cloned().ok_or_else(|| {
        ApiError::new(
            503,
            "NoIngestNode",
            "No ingest process is running to try IMAP",
        )
    })?;
    // Sealed like a stored account, so the password never crosses a broker in the clear.
    let holder = AccountConfig {
        account: String::new(),
        name: String::new(),
        copy: None,
        notify_from: None,
        path: None,
        imap: Some(imap),
        smtp: None,
        oauth2: None,
        webhooks: None,
    };
    let holder = match &services.config.service.secret {
        Some(secret) => seal_account_off_runtime(holder, secret.clone())
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?,
        None => holder,
    };
    let Some(imap) = holder.imap else {
        return Err(ApiError::internal("IMAP settings lost while sealing"));
    };
    send_to(services, &node, "", VerifyImap { imap, mailboxes }).await
}
