//! `GET /health` and `GET /ready`: whether this api process can serve, for load balancers,
//! container health checks and orchestrators. Answered without basic auth (a load balancer
//! has no credentials), and telling nothing but up or down: `/health` checks the store,
//! `/ready` the store and the queue.

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use serde::Serialize;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::openapi::tags;
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/health"), Route::get("/ready")];

/// The `/health` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` in a 200.
    pub status: &'static str,
    pub version: &'static str,
}

/// The `/ready` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ready` in a 200.
    pub status: &'static str,
    pub version: &'static str,
}

/// The health and readiness routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let health_route = warp::path!("health")
        .and(warp::get())
        .and(with(services.clone()))
        .then(|s: Services| async move { respond(health(s).await) });
    let ready_route = warp::path!("ready")
        .and(warp::get())
        .and(with(services))
        .then(|s: Services| async move { respond(ready(s).await) });
    health_route.or(ready_route).unify().boxed()
}

/// Whether this process can serve.
///
/// `GET /health` → `{status: "ok", version}` when the store answers; 503 otherwise. No
/// basic auth, and nothing about accounts.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "getHealth",
    tag = tags::SERVICE,
    security(()),
    responses(
        (status = 200, description = "Up", body = Health),
        (status = 503, description = "The store does not answer", body = ApiError),
    )
)]
pub async fn health(services: Services) -> Result<Response, ApiError> {
    store_answers(&services).await?;
    Ok(json_ok(&Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// Whether this process can do its work: the store and the queue both answer.
///
/// `GET /ready` → `{status: "ready", version}`; 503 `StoreUnavailable` or
/// `QueueUnavailable` naming the one that does not answer. No basic auth.
#[utoipa::path(
    get,
    path = "/ready",
    operation_id = "getReady",
    tag = tags::SERVICE,
    security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "The store or the queue does not answer", body = ApiError),
    )
)]
pub async fn ready(services: Services) -> Result<Response, ApiError> {
    store_answers(&services).await?;
    if let Err(error) = services.bus.reachable().await {
        tracing::warn!(%error, "readiness check: the queue does not answer");
        return Err(ApiError::new(
            503,
            "QueueUnavailable",
            "The queue does not answer",
        ));
    }
    Ok(json_ok(&Readiness {
        status: "ready",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// A store round trip; 503 `StoreUnavailable` when it fails.
async fn store_answers(services: &Services) -> Result<(), ApiError> {
    if let Err(error) = services.store.accounts_generation().await {
        tracing::warn!(%error, "health check: the store does not answer");
        return Err(ApiError::new(
            503,
            "StoreUnavailable",
            "The store does not answer",
        ));
    }
    Ok(())
}
