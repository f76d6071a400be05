//! `/v1/settings`: the gateway-wide settings (webhook target, event filter, notify options,
//! auth server, Gmail OAuth2 client).

use imapapi_common::Services;
use imapapi_common::command::Reconnect;
use imapapi_common::command::client::notify;
use imapapi_common::error::ApiError;
use imapapi_common::model::{EventKind, LogSettings, Settings};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::params::{Query, query};
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/settings"), Route::post("/v1/settings")];

/// Every settings key, in the contract's order; each is also a `GET` query flag.
pub const KEYS: [&str; 10] = [
    "webhooks",
    "webhookEvents",
    "notifyHeaders",
    "authServer",
    "notifyText",
    "notifyTextSize",
    "gmailClientId",
    "gmailClientSecret",
    "gmailRedirectUrl",
    "logs",
];

/// The answer of `GET /v1/settings`: the stored settings (or the chosen keys), the Gmail
/// client secret as `******`, and the event names when asked for.
// Spelled out rather than a flattened `Settings`, whose schema refuses unknown keys (as its
// bodies do) and so could not be combined with `eventTypes`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsReply {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_text: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_text_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gmail_client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gmail_client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gmail_redirect_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogSettings>,
    /// Every event name, with `eventTypes=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventKind>>,
}

/// `value` when `wanted` names `key`.
fn pick<T>(wanted: &dyn Fn(&str) -> bool, key: &str, value: Option<T>) -> Option<T> {
    value.filter(|_| wanted(key))
}

impl SettingsReply {
    /// The keys of `settings` that `wanted` chooses (by their names in [`KEYS`]).
    fn select(settings: Settings, wanted: &dyn Fn(&str) -> bool) -> Self {
        let Settings {
            webhooks,
            webhook_events,
            notify_headers,
            notify_text,
            notify_text_size,
            auth_server,
            gmail_client_id,
            gmail_client_secret,
            gmail_redirect_url,
            logs,
        } = settings;
        SettingsReply {
            webhooks: pick(wanted, "webhooks", webhooks),
            webhook_events: pick(wanted, "webhookEvents", webhook_events),
            notify_headers: pick(wanted, "notifyHeaders", notify_headers),
            notify_text: pick(wanted, "notifyText", notify_text),
            notify_text_size: pick(wanted, "notifyTextSize", notify_text_size),
            auth_server: pick(wanted, "authServer", auth_server),
            gmail_client_id: pick(wanted, "gmailClientId", gmail_client_id),
            gmail_client_secret: pick(wanted, "gmailClientSecret", gmail_client_secret),
            gmail_redirect_url: pick(wanted, "gmailRedirectUrl", gmail_redirect_url),
            logs: pick(wanted, "logs", logs),
            event_types: None,
        }
    }
}

/// The answer of `POST /v1/settings`: the keys that were given, and so updated.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsUpdated {
    pub updated: Vec<String>,
}

/// Both settings routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    let get = warp::path!("v1" / "settings")
        .and(warp::get())
        .and(with(services.clone()))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(get_settings(s, q).await) });
    let post = warp::path!("v1" / "settings")
        .and(warp::post())
        .and(with(services))
        .and(crate::body::json::<Settings>(max_size))
        .then(|s: Services, body: Settings| async move { respond(post_settings(s, body).await) });
    get.or(post).unify().boxed()
}

/// Read the settings.
///
/// `GET /v1/settings`: with `?key=true` flags only the chosen keys (and `eventTypes=true`
/// adds the list of event names); without flags every stored setting. The Gmail client
/// secret is always redacted.
#[utoipa::path(
    get,
    path = "/v1/settings",
    operation_id = "getV1Settings",
    tag = tags::SETTINGS,
    params(
        ("eventTypes" = Option<bool>, Query, description = "Add the list of event names"),
        ("webhooks" = Option<bool>, Query, description = "Include `webhooks`"),
        ("webhookEvents" = Option<bool>, Query, description = "Include `webhookEvents`"),
        ("notifyHeaders" = Option<bool>, Query, description = "Include `notifyHeaders`"),
        ("authServer" = Option<bool>, Query, description = "Include `authServer`"),
        ("notifyText" = Option<bool>, Query, description = "Include `notifyText`"),
        ("notifyTextSize" = Option<bool>, Query, description = "Include `notifyTextSize`"),
        ("gmailClientId" = Option<bool>, Query, description = "Include `gmailClientId`"),
        ("gmailClientSecret" = Option<bool>, Query, description = "Include `gmailClientSecret`"),
        ("gmailRedirectUrl" = Option<bool>, Query, description = "Include `gmailRedirectUrl`"),
        ("logs" = Option<bool>, Query, description = "Include `logs`"),
    ),
    responses(
        (status = 200, description = "The chosen settings, or all of them", body = SettingsReply),
        (status = 400, description = "Invalid query parameter", body = ApiError),
    )
)]
pub async fn get_settings(services: Services, q: Query) -> Result<Response, ApiError> {
    let mut allowed = KEYS.to_vec();
    allowed.push("eventTypes");
    q.only(&allowed)?;
    let stored = services
        .store
        .get_settings()
        .await
        .map_err(store_error)?
        .redacted();
    if q.0.is_empty() {
        return Ok(json_ok(&SettingsReply::select(stored, &|_| true)));
    }
    let mut chosen = Vec::new();
    for key in KEYS {
        if q.boolean(key)? == Some(true) {
            chosen.push(key);
        }
    }
    let mut reply = SettingsReply::select(stored, &|key| chosen.contains(&key));
    if q.boolean("eventTypes")? == Some(true) {
        reply.event_types = Some(EventKind::ALL.to_vec());
    }
    Ok(json_ok(&reply))
}

/// Change some settings.
///
/// `POST /v1/settings`: merge the given keys into the stored settings. An unknown key or
/// an invalid value is a 400 naming it; nothing is stored then. Responds with the keys
/// that were updated. `logs.resetLoggedAccounts: true` is an action, not a setting: the
/// logs of the accounts in `logs.accounts` are cleared and those accounts reconnect, so
/// that the new log settings apply to them at once.
#[utoipa::path(
    post,
    path = "/v1/settings",
    operation_id = "postV1Settings",
    tag = tags::SETTINGS,
    request_body = Settings,
    responses(
        (status = 200, description = "The keys that were updated", body = SettingsUpdated),
        (status = 400, description = "Unknown key or invalid value", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
    )
)]
pub async fn post_settings(services: Services, mut update: Settings) -> Result<Response, ApiError> {
    update.validate()?;
    let reset = logs_to_reset(&mut update);
    let updated: Vec<String> = match serde_json::to_value(&update) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    // Read-modify-write: two concurrent updates of different keys may race, the last
    // write of the whole record wins; settings are changed rarely and by an operator.
    let mut stored = services.store.get_settings().await.map_err(store_error)?;
    stored.merge(update);
    if let Some(secret) = &services.config.service.secret {
        stored = imapapi_common::crypto::seal_settings_off_runtime(stored, secret.clone())
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    services
        .store
        .put_settings(&stored)
        .await
        .map_err(store_error)?;
    reset_logs(&services, &reset).await?;
    Ok(json_ok(&SettingsUpdated { updated }))
}

/// The accounts whose logs `update` asks to reset, with the flag taken out of it (it is
/// not kept, as in the original).
fn logs_to_reset(update: &mut Settings) -> Vec<String> {
    let Some(logs) = update.logs.as_mut() else {
        return Vec::new();
    };
    match logs.reset_logged_accounts.take() {
        Some(true) => logs.accounts.clone().unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Clear the logs of `accounts` and ask their owners to reconnect (best effort): the
/// sessions read the log settings when they connect.
async fn reset_logs(services: &Services, accounts: &[String]) -> Result<(), ApiError> {
    for account in accounts {
        services
            .store
            .delete_log(account)
            .await
            .map_err(store_error)?;
        match services.store.lease_owner(account).await {
            Ok(owner) => notify(services, owner, account, Reconnect {}),
            Err(e) => tracing::debug!(account, error = %e, "owner lookup failed"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting set, so that each key shows when chosen.
    fn full() -> Settings {
        Settings {
            webhooks: Some("https://example.com/hook".into()),
            webhook_events: Some(vec!["*".into()]),
            notify_headers: Some(vec!["x-spam".into()]),
            notify_text: Some(true),
            notify_text_size: Some(1024),
            auth_server: Some("https://example.com/auth".into()),
            gmail_client_id: Some("id".into()),
            gmail_client_secret: Some("secret".into()),
            gmail_redirect_url: Some("https://example.com/oauth".into()),
            logs: Some(LogSettings::default()),
        }
    }

    #[test]
    fn each_key_selects_its_own_setting() {
        for key in KEYS {
            let reply = SettingsReply::select(full(), &|k| k == key);
            let Value::Object(shown) = serde_json::to_value(&reply).unwrap() else {
                panic!("not an object");
            };
            let names: Vec<&String> = shown.keys().collect();
            assert_eq!(names, [key], "{key}");
        }
        let all = serde_json::to_value(SettingsReply::select(full(), &|_| true)).unwrap();
        assert_eq!(all, serde_json::to_value(full()).unwrap());
    }
}
