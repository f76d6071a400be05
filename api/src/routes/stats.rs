//! `GET /v1/stats`: the gateway's version and its accounts by connection state, read from
//! the store so every api process answers the same.

use std::collections::BTreeMap;

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::model::AccountState;
use serde::Serialize;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::params::{Query, query};
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/stats")];

/// The `/v1/stats` answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The gateway's version.
    pub version: &'static str,
    /// Registered accounts.
    pub accounts: usize,
    /// Accounts per connection state (`connected`, `connecting`, `authenticationError`, …);
    /// every state is listed, with 0 when no account is in it.
    pub connections: BTreeMap<String, usize>,
}

/// The stats route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "stats")
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(stats(s, q).await) })
        .boxed()
}

fn state_name(state: AccountState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The gateway's version and its accounts by connection state.
///
/// `GET /v1/stats?seconds=3600` → `{version, accounts, connections: {state: count}}`.
/// `seconds` is accepted for the original's clients (0–604800); counters over a window are
/// not kept yet.
#[utoipa::path(
    get,
    path = "/v1/stats",
    operation_id = "getV1Stats",
    tag = tags::SERVICE,
    params(
        ("seconds" = Option<u32>, Query, minimum = 0, maximum = 604800,
            description = "Accepted for the original's clients and ignored (default 3600)"),
    ),
    responses(
        (status = 200, description = "Version and connection counts", body = Stats),
        (status = 400, description = "Invalid query parameter", body = ApiError),
    )
)]
pub async fn stats(services: Services, q: Query) -> Result<Response, ApiError> {
    q.only(&["seconds"])?;
    q.number("seconds", 0, 604_800, 3600)?;
    let store = &services.store;
    let accounts = store.list_accounts().await.map_err(store_error)?;
    let mut connections: BTreeMap<String, usize> = AccountState::ALL
        .iter()
        .map(|s| (state_name(*s), 0))
        .collect();
    for a in &accounts {
        let state = store
            .get_status(a)
            .await
            .map_err(store_error)?
            .map_or(AccountState::Init, |s| s.state);
        *connections.entry(state_name(state)).or_default() += 1;
    }
    Ok(json_ok(&Stats {
        version: env!("CARGO_PKG_VERSION"),
        accounts: accounts.len(),
        connections,
    }))
}
