//! `GET /metrics`: this process's metrics in the Prometheus text format, for a Prometheus
//! server to scrape (behind basic auth when `api.auth` is set, like every other route).
//! Counters and histograms are recorded where things happen (api requests here, events in
//! ingest, webhooks in dispatch, sends in submit: in one process they all show); the
//! accounts by state are read from the store at scrape time, so any api process reports
//! the whole deployment's.

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::header::CONTENT_TYPE;
use warp::reply::Response;

use crate::error::respond;
use crate::openapi::tags;
use crate::routes::stats::accounts_by_state;
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/metrics")];

/// The content type Prometheus expects for its text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("metrics")
        .and(warp::get())
        .and(with(services))
        .then(|s: Services| async move { respond(metrics(s).await) })
        .boxed()
}

/// Metrics of this process, for Prometheus.
///
/// `GET /metrics` → Prometheus text: `imapapi_accounts{state}`, `imapapi_http_requests_total`
/// and `imapapi_http_request_duration_seconds` by method, route and status,
/// `imapapi_events_published_total{event}`, `imapapi_webhooks_total{result,event}`,
/// `imapapi_webhook_duration_seconds`, `imapapi_ingest_accounts`,
/// `imapapi_submit_total{result}` (those of the roles this process runs).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = tags::SERVICE,
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 503, description = "The store does not answer", body = ApiError),
    )
)]
pub async fn metrics(services: Services) -> Result<Response, ApiError> {
    for (state, count) in accounts_by_state(&services).await? {
        metrics::gauge!("imapapi_accounts", "state" => state).set(count as f64);
    }
    let mut response = Response::new(imapapi_common::prometheus::render().into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        warp::http::HeaderValue::from_static(PROMETHEUS_TEXT),
    );
    Ok(response)
}
