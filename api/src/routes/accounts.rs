//! `/v1/account` and `/v1/accounts`: registering, updating, listing, reading and deleting
//! accounts. These touch only the store; every ingest is told that the accounts changed,
//! so a new account is taken at once rather than on the next scan, and the owning ingest
//! is told about updates and deletions so it reconnects or lets go at once. Bodies are
//! strict (an unknown key anywhere is a 400 naming it) and take the original's
//! `imap`/`smtp`/`oauth2: false` for "not set".

use std::collections::HashMap;

use futures::future::join_all;
use imapapi_common::Services;
use imapapi_common::command::{Close, Reconnect};
use imapapi_common::crypto::seal_account_off_runtime;
use imapapi_common::error::ApiError;
use imapapi_common::model::secret::REDACTED;
use imapapi_common::model::{
    AccountConfig, AccountState, AccountStatus, AuthConfig, ImapConfig, OAuth2Config, OrFalse,
    Secret, SmtpConfig, idle_folders, or_false, redact_url_password,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::params::{Query, query};
use crate::routes::{Route, account_id, require_account, with};
use imapapi_common::command::client::notify;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[
    Route::post("/v1/account"),
    Route::get("/v1/accounts"),
    Route::get("/v1/account/{account}"),
    Route::put("/v1/account/{account}"),
    Route::delete("/v1/account/{account}"),
];

/// Characters allowed in an account id: safe in URL paths, in routing keys
/// (`<account>.<event>`) and in log lines, and wide enough for e-mail addresses.
fn safe_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')
}

/// The body of `PUT /v1/account/:account`: the parts that may change. Unknown keys are a
/// 400, as in `POST /v1/account`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAccount {
    pub name: Option<String>,
    pub path: Option<String>,
    pub copy: Option<bool>,
    pub notify_from: Option<String>,
    pub imap: Option<ImapConfig>,
    /// Absent: unchanged; `false` (the original's "not set"): the SMTP settings removed.
    #[schema(schema_with = or_false::schema::value_or_false::<SmtpConfig>)]
    pub smtp: Option<OrFalse<SmtpConfig>>,
    /// This account's webhook URL; `""` removes it (the `webhooks` setting applies again).
    pub webhooks: Option<String>,
}

/// What `POST /v1/account` did with the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum CreateState {
    /// Registered for the first time.
    New,
    /// Replaced an account with the same id; its connection restarts.
    Existing,
}

/// The answer of `POST /v1/account`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateAccountReply {
    pub account: String,
    pub state: CreateState,
}

/// The answer of `POST /v1/account`: the account stored, or where its user must consent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CreateAccountOutcome {
    Stored(CreateAccountReply),
    Consent(crate::routes::oauth::ConsentRedirect),
}

/// The answer of `PUT /v1/account/:account`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateAccountReply {
    pub account: String,
}

/// The answer of `DELETE /v1/account/:account`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteAccountReply {
    pub account: String,
    /// Always `true`: an unknown account is a 404.
    pub deleted: bool,
}

/// One entry of the account listing: the account and its connection state.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountListEntry {
    pub account: String,
    pub name: String,
    #[serde(flatten)]
    pub status: AccountStatus,
}

/// A page of `GET /v1/accounts`, sorted by account id.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountList {
    pub total: u64,
    pub page: u64,
    pub pages: u64,
    pub accounts: Vec<AccountListEntry>,
}

/// The answer of `GET /v1/account/:account`: the stored settings with every secret shown as
/// `******`, and the connection state.
// The fields of `AccountConfig` are spelled out rather than flattened because its schema
// refuses unknown keys (as its bodies do) and so could not be combined with the state.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDetails {
    pub account: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap: Option<ImapConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Config>,
    /// This account's webhook URL (its password shown as `******`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<String>,
    #[serde(flatten)]
    pub status: AccountStatus,
}

impl AccountDetails {
    /// The details of `account`, its secrets redacted, with its connection `status`.
    fn new(account: &AccountConfig, status: AccountStatus) -> Self {
        let AccountConfig {
            account,
            name,
            copy,
            notify_from,
            path,
            imap,
            smtp,
            oauth2,
            webhooks,
        } = account.redacted();
        AccountDetails {
            account,
            name,
            copy,
            notify_from,
            path,
            imap,
            smtp,
            oauth2,
            webhooks,
            status,
        }
    }
}

/// The query of `GET /v1/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AccountsQuery {
    /// The page, from 0.
    #[param(required = false, default = 0, minimum = 0, maximum = 1048576)]
    pub page: u64,
    /// Accounts per page.
    #[param(required = false, default = 20, minimum = 1, maximum = 1000)]
    pub page_size: u64,
    /// Only accounts in this connection state.
    pub state: Option<AccountState>,
}

impl AccountsQuery {
    /// `page`, `pageSize` and `state`, nothing else; errors name the parameter.
    pub fn parse(q: &Query) -> Result<Self, ApiError> {
        q.only(&["page", "pageSize", "state"])?;
        let page = q.number("page", 0, 1_048_576, 0)?;
        let page_size = q.number("pageSize", 1, 1000, 20)?;
        let state = q
            .get("state")
            .map(|s| {
                serde_json::from_value::<AccountState>(Value::String(s.to_string())).map_err(|_| {
                    ApiError::invalid(
                        "state",
                        "must be one of [init, connecting, connected, authenticationError, \
                             connectError, unset, disconnected]",
                    )
                })
            })
            .transpose()?;
        Ok(AccountsQuery {
            page,
            page_size,
            state,
        })
    }
}

/// All account routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    let create = warp::path!("v1" / "account")
        .and(warp::post())
        .and(with(services.clone()))
        .and(crate::body::json::<AccountConfig>(max_size))
        .then(|s: Services, a: AccountConfig| async move { respond(create_account(s, a).await) });
    let list = warp::path!("v1" / "accounts")
        .and(warp::get())
        .and(with(services.clone()))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(list_accounts(s, q).await) });
    let get = warp::path!("v1" / "account" / String)
        .and(warp::get())
        .and(with(services.clone()))
        .then(|id: String, s: Services| async move { respond(get_account(s, id).await) });
    let update = warp::path!("v1" / "account" / String)
        .and(warp::put())
        .and(with(services.clone()))
        .and(crate::body::json::<UpdateAccount>(max_size))
        .then(|id: String, s: Services, u: UpdateAccount| async move {
            respond(update_account(s, id, u).await)
        });
    let delete = warp::path!("v1" / "account" / String)
        .and(warp::delete())
        .and(with(services))
        .then(|id: String, s: Services| async move { respond(delete_account(s, id).await) });
    create
        .or(list)
        .unify()
        .or(get)
        .unify()
        .or(update)
        .unify()
        .or(delete)
        .unify()
        .boxed()
}

fn check_len(field: &str, value: &str, max: usize, allow_empty: bool) -> Result<(), ApiError> {
    if !allow_empty && value.trim().is_empty() {
        return Err(ApiError::invalid(field, "is not allowed to be empty"));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("length must be less than or equal to {max} characters long"),
        ));
    }
    Ok(())
}

fn check_auth(
    proto: &str,
    auth: &Option<AuthConfig>,
    use_auth_server: bool,
) -> Result<(), ApiError> {
    if use_auth_server {
        return Ok(());
    }
    let Some(auth) = auth else {
        return Err(ApiError::invalid(
            &format!("{proto}.auth"),
            "is required unless useAuthServer is set",
        ));
    };
    check_len(&format!("{proto}.auth.user"), &auth.user, 256, false)?;
    let given = |s: &Option<Secret>| s.as_ref().is_some_and(|s| !s.is_empty());
    if !given(&auth.pass) && !given(&auth.access_token) {
        return Err(ApiError::invalid(
            &format!("{proto}.auth.pass"),
            "is required unless accessToken is given",
        ));
    }
    Ok(())
}

/// Check a server's host and port; the error names `<proto>.host` or `<proto>.port`.
pub fn check_server(proto: &str, host: &str, port: u16) -> Result<(), ApiError> {
    check_len(&format!("{proto}.host"), host, 255, false)?;
    if port == 0 {
        return Err(ApiError::invalid(
            &format!("{proto}.port"),
            "must be a port number from 1 to 65535",
        ));
    }
    Ok(())
}

fn check_date(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = chrono::DateTime::parse_from_rfc3339(value).is_ok()
        || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok();
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(field, "must be a valid ISO 8601 date"))
    }
}

/// Check an account body beyond its JSON types; the error names the field.
pub fn validate(a: &AccountConfig) -> Result<(), ApiError> {
    check_len("account", &a.account, 256, false)?;
    if !a.account.chars().all(safe_id_char) {
        return Err(ApiError::invalid(
            "account",
            "must only contain letters, digits and the characters . _ - @ +",
        ));
    }
    check_len("name", &a.name, 256, false)?;
    if let Some(p) = &a.path {
        check_len("path", p, 1024, false)?;
    }
    if let Some(n) = &a.notify_from {
        check_date("notifyFrom", n)?;
    }
    match &a.imap {
        Some(imap) => {
            check_server("imap", &imap.host, imap.port)?;
            check_auth("imap", &imap.auth, imap.use_auth_server)?;
            if let Some(list) = &imap.idle_folders {
                check_idle_folders(list)?;
            }
        }
        None if a.oauth2.is_none() => {
            return Err(ApiError::invalid(
                "imap",
                "is required unless oauth2 is given",
            ));
        }
        None => {}
    }
    if let Some(smtp) = &a.smtp {
        check_server("smtp", &smtp.host, smtp.port)?;
        check_auth("smtp", &smtp.auth, smtp.use_auth_server)?;
    }
    if let Some(o) = &a.oauth2 {
        check_len("oauth2.auth.user", &o.auth.user, 256, false)?;
    }
    if let Some(url) = &a.webhooks {
        check_webhook_url("webhooks", url)?;
    }
    Ok(())
}

/// `imap.idleFolders`: the error names the list, or the entry at fault (`[1]`).
fn check_idle_folders(list: &[String]) -> Result<(), ApiError> {
    idle_folders::check(list).map_err(|e| {
        let field = match e.index {
            Some(i) => format!("imap.idleFolders[{i}]"),
            None => "imap.idleFolders".to_string(),
        };
        ApiError::invalid(&field, e.problem)
    })
}

/// An http(s) URL of at most 2048 characters (empty clears it).
fn check_webhook_url(field: &str, url: &str) -> Result<(), ApiError> {
    check_len(field, url, 2048, true)?;
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !url.is_empty() && !scheme_ok {
        return Err(ApiError::invalid(
            field,
            "must be an http:// or https:// URL",
        ));
    }
    Ok(())
}

/// Visit every secret of an account by a stable name.
fn for_each_secret(a: &mut AccountConfig, mut f: impl FnMut(&'static str, &mut Option<Secret>)) {
    if let Some(auth) = a.imap.as_mut().and_then(|i| i.auth.as_mut()) {
        f("imap.pass", &mut auth.pass);
        f("imap.accessToken", &mut auth.access_token);
    }
    if let Some(auth) = a.smtp.as_mut().and_then(|s| s.auth.as_mut()) {
        f("smtp.pass", &mut auth.pass);
        f("smtp.accessToken", &mut auth.access_token);
    }
    if let Some(o) = a.oauth2.as_mut() {
        f("oauth2.accessToken", &mut o.access_token);
        f("oauth2.refreshToken", &mut o.refresh_token);
    }
}

/// Prepare an account for storing: a secret sent back as `******` (as a client that
/// round-trips `GET /v1/account/:account` does) keeps the stored value, then every secret
/// is encrypted when `service.secret` is set. Stored values are encrypted already and
/// `seal_account` leaves encrypted values alone, so nothing is encrypted twice. Sealing
/// derives keys, so it runs on the blocking pool.
async fn prepare(
    services: &Services,
    mut account: AccountConfig,
    stored: Option<&AccountConfig>,
) -> Result<AccountConfig, ApiError> {
    account.webhooks = account.webhooks.filter(|u| !u.is_empty());
    if let (Some(given), Some(kept)) = (&account.webhooks, stored.and_then(|s| s.webhooks.as_ref()))
        && *given == redact_url_password(kept)
    {
        account.webhooks = Some(kept.clone());
    }
    let mut previous: HashMap<&'static str, Option<Secret>> = HashMap::new();
    if let Some(stored) = stored {
        let mut stored = stored.clone();
        for_each_secret(&mut stored, |name, s| {
            previous.insert(name, s.clone());
        });
    }
    for_each_secret(&mut account, |name, s| {
        if s.as_ref().is_some_and(|s| s.expose() == REDACTED)
            && let Some(Some(old)) = previous.get(name)
        {
            *s = Some(old.clone());
        }
    });
    match &services.config.service.secret {
        Some(secret) => seal_account_off_runtime(account, secret.clone())
            .await
            .map_err(|e| ApiError::internal(e.to_string())),
        None => Ok(account),
    }
}

/// Register an account, or replace the one with the same id.
///
/// `POST /v1/account`: register an account, or replace it when the id exists (then its
/// connection is restarted with the new settings). Responds `{"account", "state": "new" |
/// "existing"}`. Unknown keys, at any depth, are a 400 naming them; `imap`, `smtp` and
/// `oauth2` may be `false` for "not set".
///
/// With `oauth2: {auth: {user}}` and no tokens (Gmail OAuth2 run by the gateway, settings
/// `gmailClientId`, `gmailClientSecret`, `gmailRedirectUrl`), nothing is stored yet: the
/// answer is `{"redirect": <consent URL>}` for the user to open; the account is created
/// when the consent screen sends the browser back to `GET /oauth`.
#[utoipa::path(
    post,
    path = "/v1/account",
    operation_id = "postV1Account",
    tag = tags::ACCOUNT,
    request_body = AccountConfig,
    responses(
        (status = 200, description = "The account was stored, or (Gmail OAuth2) where to consent", body = CreateAccountOutcome),
        (status = 400, description = "Invalid account settings", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
    )
)]
pub async fn create_account(
    services: Services,
    account: AccountConfig,
) -> Result<Response, ApiError> {
    validate(&account)?;
    if crate::routes::oauth::needs_consent(&account) {
        let redirect = crate::routes::oauth::start_consent(&services, account).await?;
        return Ok(json_ok(&redirect));
    }
    Ok(json_ok(&store_account(&services, account).await?))
}

/// Store a checked account (new or replacing one), its secrets sealed, and have its owner
/// reconnect when it existed: for `POST /v1/account` and the end of the Gmail consent.
pub async fn store_account(
    services: &Services,
    account: AccountConfig,
) -> Result<CreateAccountReply, ApiError> {
    let services = services.clone();
    let id = account.account.clone();
    let stored = services.store.get_account(&id).await.map_err(store_error)?;
    let mut account = prepare(&services, account, stored.as_ref()).await?;
    // notifyFrom defaults to "now", as in the original: mail that arrives after the
    // registration is announced even while the first sync is still running; older mail is
    // not. An update keeps the original registration time.
    if account.notify_from.is_none() {
        account.notify_from = stored
            .as_ref()
            .and_then(|s| s.notify_from.clone())
            .or_else(|| {
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            });
    }
    let existed = services
        .store
        .put_account(&account)
        .await
        .map_err(store_error)?;
    crate::announce::accounts_changed(&services, &id);
    if existed {
        reconnect(&services, &id).await;
    }
    tracing::info!(account = %id, existed, "account stored");
    let state = if existed {
        CreateState::Existing
    } else {
        CreateState::New
    };
    Ok(CreateAccountReply { account: id, state })
}

/// Ask the owner (if any) to reconnect with the stored settings; best effort.
async fn reconnect(services: &Services, id: &str) {
    match services.store.lease_owner(id).await {
        Ok(owner) => notify(services, owner, id, Reconnect {}),
        Err(e) => tracing::debug!(account = id, error = %e, "owner lookup failed"),
    }
}

/// Change the settings of an account.
///
/// `PUT /v1/account/:account`: change the name, path, copy, notifyFrom, imap or smtp
/// settings of an existing account (404 when unknown); the connection is restarted.
#[utoipa::path(
    put,
    path = "/v1/account/{account}",
    operation_id = "putV1AccountAccount",
    tag = tags::ACCOUNT,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    request_body = UpdateAccount,
    responses(
        (status = 200, description = "The account was updated", body = UpdateAccountReply),
        (status = 400, description = "Invalid settings or account id", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
    )
)]
pub async fn update_account(
    services: Services,
    raw_id: String,
    update: UpdateAccount,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let stored = require_account(&services, &id).await?;
    let mut account = stored.clone();
    if let Some(v) = update.name {
        account.name = v;
    }
    if let Some(v) = update.path {
        account.path = Some(v);
    }
    if let Some(v) = update.copy {
        account.copy = Some(v);
    }
    if let Some(v) = update.notify_from {
        account.notify_from = Some(v);
    }
    if let Some(v) = update.imap {
        account.imap = Some(v);
    }
    if let Some(v) = update.webhooks {
        account.webhooks = Some(v);
    }
    if let Some(OrFalse(v)) = update.smtp {
        account.smtp = v;
    }
    validate(&account)?;
    let account = prepare(&services, account, Some(&stored)).await?;
    services
        .store
        .put_account(&account)
        .await
        .map_err(store_error)?;
    crate::announce::accounts_changed(&services, &id);
    reconnect(&services, &id).await;
    tracing::info!(account = %id, "account updated");
    Ok(json_ok(&UpdateAccountReply { account: id }))
}

/// One entry of the account listing.
fn listing_entry(account: &AccountConfig, status: Option<AccountStatus>) -> AccountListEntry {
    AccountListEntry {
        account: account.account.clone(),
        name: account.name.clone(),
        status: status.unwrap_or_default(),
    }
}

/// List the accounts.
///
/// `GET /v1/accounts?page&pageSize&state`: accounts sorted by id, a page at a time, with
/// their connection state (`init` until ingest reports one).
#[utoipa::path(
    get,
    path = "/v1/accounts",
    operation_id = "getV1Accounts",
    tag = tags::ACCOUNT,
    params(AccountsQuery),
    responses(
        (status = 200, description = "One page of accounts", body = AccountList),
        (status = 400, description = "Invalid query parameter", body = ApiError),
    )
)]
pub async fn list_accounts(services: Services, q: Query) -> Result<Response, ApiError> {
    let AccountsQuery {
        page,
        page_size,
        state,
    } = AccountsQuery::parse(&q)?;
    let store = &services.store;
    let ids = store.list_accounts().await.map_err(store_error)?;
    // With a state filter every status must be read to count; without one only the page.
    let (ids, mut statuses): (Vec<String>, HashMap<String, Option<AccountStatus>>) = match state {
        None => (ids, HashMap::new()),
        Some(want) => {
            let found = join_all(ids.iter().map(|id| store.get_status(id))).await;
            let mut keep = Vec::new();
            let mut statuses = HashMap::new();
            for (id, st) in ids.into_iter().zip(found) {
                let st = st.map_err(store_error)?;
                if st.as_ref().map(|s| s.state).unwrap_or_default() == want {
                    statuses.insert(id.clone(), st);
                    keep.push(id);
                }
            }
            (keep, statuses)
        }
    };
    let total = ids.len() as u64;
    let pages = total.div_ceil(page_size);
    let start = (page * page_size).min(total) as usize;
    let end = ((page + 1) * page_size).min(total) as usize;
    let page_ids = &ids[start..end];
    let configs = join_all(page_ids.iter().map(|id| store.get_account(id))).await;
    let mut accounts = Vec::with_capacity(page_ids.len());
    for (id, config) in page_ids.iter().zip(configs) {
        // Deleted between the listing and this read: leave it out.
        let Some(config) = config.map_err(store_error)? else {
            continue;
        };
        let status = match statuses.remove(id) {
            Some(s) => s,
            None => store.get_status(id).await.map_err(store_error)?,
        };
        accounts.push(listing_entry(&config, status));
    }
    Ok(json_ok(&AccountList {
        total,
        page,
        pages,
        accounts,
    }))
}

/// Read an account's settings and connection state.
///
/// `GET /v1/account/:account`: the stored settings with every secret shown as `******`,
/// plus `state`, `syncTime` and `lastError` (the original lacked the state).
#[utoipa::path(
    get,
    path = "/v1/account/{account}",
    operation_id = "getV1AccountAccount",
    tag = tags::ACCOUNT,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    responses(
        (status = 200, description = "The account", body = AccountDetails),
        (status = 400, description = "Malformed account id", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
    )
)]
pub async fn get_account(services: Services, raw_id: String) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let account = require_account(&services, &id).await?;
    let status = services
        .store
        .get_status(&id)
        .await
        .map_err(store_error)?
        .unwrap_or_default();
    Ok(json_ok(&AccountDetails::new(&account, status)))
}

/// Delete an account.
///
/// `DELETE /v1/account/:account`: forget the account and everything kept for it; its
/// owner closes the connection. 404 when unknown.
#[utoipa::path(
    delete,
    path = "/v1/account/{account}",
    operation_id = "deleteV1AccountAccount",
    tag = tags::ACCOUNT,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    responses(
        (status = 200, description = "The account was deleted", body = DeleteAccountReply),
        (status = 400, description = "Malformed account id", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
    )
)]
pub async fn delete_account(services: Services, raw_id: String) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    // The lease goes with the account, so find the owner first.
    let owner = services.store.lease_owner(&id).await.map_err(store_error)?;
    let deleted = services
        .store
        .delete_account(&id)
        .await
        .map_err(store_error)?;
    if !deleted {
        return Err(ApiError::not_found(format!(
            "Account \"{id}\" was not found"
        )));
    }
    crate::announce::accounts_changed(&services, &id);
    notify(&services, owner, &id, Close {});
    tracing::info!(account = %id, "account deleted");
    Ok(json_ok(&DeleteAccountReply {
        account: id,
        deleted: true,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn account(body: Value) -> AccountConfig {
        serde_json::from_value(body).unwrap()
    }

    fn base() -> Value {
        json!({"account": "example", "name": "Example",
            "imap": {"host": "imap.example.com", "port": 993, "secure": true,
                     "auth": {"user": "u", "pass": "p"}}})
    }

    #[test]
    fn accepts_the_readme_shapes() {
        validate(&account(base())).unwrap();
        validate(&account(json!({"account": "ouath-user", "name": "Example",
            "imap": {"host": "imap.gmail.com", "port": 993, "secure": true, "useAuthServer": true},
            "smtp": {"host": "smtp.gmail.com", "port": 465, "secure": true, "useAuthServer": true}})))
        .unwrap();
        validate(&account(
            json!({"account": "o", "name": "n", "oauth2": {"auth": {"user": "u"}}}),
        ))
        .unwrap();
    }

    /// Parse a body as the route does (`crate::body::parse`), so errors name their field.
    fn posted<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
        crate::body::parse(body.to_string().as_bytes())
    }

    #[test]
    fn takes_false_for_not_set() {
        let mut body = base();
        body["smtp"] = json!(false);
        body["oauth2"] = json!(false);
        let a: AccountConfig = posted(body).unwrap();
        validate(&a).unwrap();
        assert!(a.smtp.is_none() && a.oauth2.is_none());
        let a: AccountConfig = posted(json!({"account": "o", "name": "n", "imap": false,
            "oauth2": {"auth": {"user": "u"}}}))
        .unwrap();
        validate(&a).unwrap();
        assert!(a.imap.is_none());
        let u: UpdateAccount = posted(json!({"smtp": false})).unwrap();
        assert!(matches!(u.smtp, Some(OrFalse(None))));
        let u: UpdateAccount = posted(json!({"name": "x"})).unwrap();
        assert!(u.smtp.is_none());
    }

    #[test]
    fn unknown_keys_are_named_at_any_depth() {
        let cases = [
            (
                json!({"imap": {"host": "h", "port": 1, "hots": "x"}}),
                "\"imap.hots\"",
            ),
            (
                json!({"imap": {"host": "h", "port": 1, "auth": {"user": "u", "password": "p"}}}),
                "\"imap.auth.password\"",
            ),
            (
                json!({"smtp": {"host": "h", "port": 1, "tls": {"rejectUnauthorised": false}}}),
                "\"smtp.tls.rejectUnauthorised\"",
            ),
            (
                json!({"oauth2": {"auth": {"user": "u", "x": 1}}}),
                "\"oauth2.auth.x\"",
            ),
            (json!({"colour": "red"}), "\"colour\""),
        ];
        for (patch, field) in cases {
            let mut body = base();
            for (k, v) in patch.as_object().unwrap() {
                body[k] = v.clone();
            }
            let e = posted::<AccountConfig>(body).unwrap_err();
            assert_eq!(e.status_code, 400);
            assert_eq!(e.message, format!("{field} is not allowed"));
        }
        let e = posted::<UpdateAccount>(json!({"nmae": "x"})).unwrap_err();
        assert_eq!(e.message, "\"nmae\" is not allowed");
        let e = posted::<AccountConfig>({
            let mut b = base();
            b["imap"] = json!(true);
            b
        })
        .unwrap_err();
        assert!(e.message.starts_with("\"imap\" must be"), "{}", e.message);
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            (json!({"account": ""}), "\"account\""),
            (json!({"account": "a b"}), "\"account\""),
            (json!({"account": "x".repeat(257)}), "\"account\""),
            (json!({"name": "n".repeat(257)}), "\"name\""),
            (json!({"imap": null}), "\"imap\""),
            (
                json!({"imap": {"host": "", "port": 1, "auth": {"user": "u", "pass": "p"}}}),
                "\"imap.host\"",
            ),
            (
                json!({"imap": {"host": "h", "port": 0, "auth": {"user": "u", "pass": "p"}}}),
                "\"imap.port\"",
            ),
            (json!({"imap": {"host": "h", "port": 1}}), "\"imap.auth\""),
            (
                json!({"imap": {"host": "h", "port": 1, "auth": {"user": "u"}}}),
                "\"imap.auth.pass\"",
            ),
            (json!({"notifyFrom": "yesterday"}), "\"notifyFrom\""),
        ];
        for (patch, field) in cases {
            let mut body = base();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    body.as_object_mut().unwrap().remove(k);
                } else {
                    body[k] = v.clone();
                }
            }
            let e = validate(&account(body)).unwrap_err();
            assert!(e.message.contains(field), "{field}: {}", e.message);
        }
    }
}
