//! `GET /health`: whether this api process can serve, for load balancers and container
//! health checks. Answered without basic auth (a load balancer has no credentials), and
//! telling nothing but up or down: the version and a store round trip.

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
pub const ROUTES: &[Route] = &[Route::get("/health")];

/// The `/health` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` in a 200.
    pub status: &'static str,
    pub version: &'static str,
}

/// The health route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("health")
        .and(warp::get())
        .and(with(services))
        .then(|s: Services| async move { respond(health(s).await) })
        .boxed()
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
    if let Err(error) = services.store.accounts_generation().await {
        tracing::warn!(%error, "health check: the store does not answer");
        return Err(ApiError::new(
            503,
            "StoreUnavailable",
            "The store does not answer",
        ));
    }
    Ok(json_ok(&Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    }))
}
