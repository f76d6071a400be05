//! `/v1/settings`: the gateway-wide settings (webhook target, event filter, notify options,
//! auth server, Gmail OAuth2 client).

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::model::{EventKind, Settings};
use serde_json::{Map, Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::params::{Query, query};
use crate::routes::with;

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

/// `GET /v1/settings`: with `?key=true` flags only the chosen keys (and `eventTypes=true`
/// adds the list of event names); without flags every stored setting. The Gmail client
/// secret is always redacted.
pub async fn get_settings(services: Services, q: Query) -> Result<Response, ApiError> {
    let mut allowed = KEYS.to_vec();
    allowed.push("eventTypes");
    q.only(&allowed)?;
    let stored = services.store.get_settings().await.map_err(store_error)?;
    let Value::Object(all) = serde_json::to_value(stored.redacted())
        .map_err(|e| ApiError::internal(format!("Could not encode settings: {e}")))?
    else {
        return Err(ApiError::internal("Settings are not an object"));
    };
    if q.0.is_empty() {
        return Ok(json_ok(&all));
    }
    let mut out = Map::new();
    for key in KEYS {
        if q.boolean(key)? == Some(true)
            && let Some(v) = all.get(key)
        {
            out.insert(key.to_string(), v.clone());
        }
    }
    if q.boolean("eventTypes")? == Some(true) {
        out.insert("eventTypes".into(), json!(EventKind::names()));
    }
    Ok(json_ok(&out))
}

/// `POST /v1/settings`: merge the given keys into the stored settings. An unknown key or
/// an invalid value is a 400 naming it; nothing is stored then. Responds with the keys
/// that were updated.
pub async fn post_settings(services: Services, update: Settings) -> Result<Response, ApiError> {
    update.validate()?;
    let updated: Vec<String> = match serde_json::to_value(&update) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    // Read-modify-write: two concurrent updates of different keys may race, the last
    // write of the whole record wins; settings are changed rarely and by an operator.
    let mut stored = services.store.get_settings().await.map_err(store_error)?;
    stored.merge(update);
    services
        .store
        .put_settings(&stored)
        .await
        .map_err(store_error)?;
    Ok(json_ok(&json!({ "updated": updated })))
}
