//! `POST /v1/webhooks/test`: sends one test webhook now and says how the receiver answered.
//! Not in the original. It exists so that whoever sets up a receiver (in the web UI's
//! settings, or with curl) learns at once whether it is reachable, accepts the request and
//! checks the signature, instead of waiting for mail to arrive and reading dead letters.
//! The request is the one dispatch would make (same client, headers and signature), but it
//! is sent from here and never queued: a test that fails is reported, not retried.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::webhook::{Target, WebhookClient, WebhookError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::post("/v1/webhooks/test")];

/// The `event` name of a test webhook; no real event has it, so a receiver can tell.
pub const TEST_EVENT: &str = "webhookTest";

/// The body of `POST /v1/webhooks/test`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTestBody {
    /// The receiver to try; leave it out for the `webhooks` URL in the settings. Lets a
    /// form test a URL before saving it.
    #[serde(default)]
    #[schema(max_length = 2048, example = "https://example.com/hook")]
    pub url: Option<String>,
}

/// What the receiver did with the test webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTestReply {
    /// Whether the receiver answered with a 2xx status.
    pub success: bool,
    /// Where it went: scheme, host and port only (the path or query may carry a token).
    pub target: String,
    /// The receiver's HTTP status, when it answered at all.
    pub status: Option<u16>,
    /// Why it failed (refused, timed out, a non-2xx status); absent on success.
    pub error: Option<String>,
    /// Milliseconds from sending to the answer (or the failure).
    pub duration_ms: u64,
    /// The `id` of the test event, also sent in the `X-Imapapi-Event-Id` header.
    pub id: Uuid,
}

/// The body the receiver gets: shaped like every event (`id`, `date`, `event`, `data`)
/// without an account, which a test is not about.
#[derive(Debug, Serialize)]
struct TestEvent {
    id: Uuid,
    date: String,
    event: &'static str,
    data: TestEventData,
}

#[derive(Debug, Serialize)]
struct TestEventData {
    message: &'static str,
}

/// The test-webhook route. The client is made once, with `webhooks.timeout` and
/// `webhooks.signingKey` as dispatch uses them.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    let hooks = &services.config.webhooks;
    let client = WebhookClient::new(hooks.timeout, 1)
        .map(|c| c.signing_with(hooks.signing_key.as_ref().map(|k| k.expose().as_bytes())))
        .map_err(|e| e.to_string());
    let client = Arc::new(client);
    warp::path!("v1" / "webhooks" / "test")
        .and(warp::post())
        .and(with(services))
        .and(warp::any().map(move || client.clone()))
        .and(crate::body::json::<WebhookTestBody>(max_size))
        .then(
            |s: Services, client: Arc<Result<WebhookClient, String>>, body| async move {
                respond(test_webhook(s, client, body).await)
            },
        )
        .boxed()
}

/// Send a test webhook (not in the original).
///
/// `POST /v1/webhooks/test` with `{}` (the URL in the settings) or `{"url": "…"}` (any
/// other) → `{success, target, status, error, durationMs, id}`. The receiver gets
/// `{"id", "date", "event": "webhookTest", "data": {"message"}}` with the headers and
/// signature of a real delivery. 200 whatever the receiver did (that is the answer);
/// 400 naming `url` when it is missing, unusable or not http(s).
#[utoipa::path(
    post,
    path = "/v1/webhooks/test",
    operation_id = "postV1WebhooksTest",
    tag = tags::SETTINGS,
    request_body = WebhookTestBody,
    responses(
        (status = 200, description = "How the receiver answered", body = WebhookTestReply),
        (status = 400, description = "No usable webhook URL", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
    )
)]
pub async fn test_webhook(
    services: Services,
    client: Arc<Result<WebhookClient, String>>,
    body: WebhookTestBody,
) -> Result<Response, ApiError> {
    let url = match body.url.filter(|u| !u.trim().is_empty()) {
        Some(url) => url,
        None => services
            .store
            .get_settings()
            .await
            .map_err(store_error)?
            .webhooks
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                ApiError::invalid("url", "is required: no webhook URL is set in the settings")
            })?,
    };
    let target = Target::parse(&url).map_err(|e| ApiError::invalid("url", e))?;
    let client = client.as_ref().as_ref().map_err(ApiError::internal)?;

    let id = Uuid::now_v7();
    let event = TestEvent {
        id,
        date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        event: TEST_EVENT,
        data: TestEventData {
            message: "A test webhook from imapapi: this receiver is reachable.",
        },
    };
    let body = serde_json::to_vec(&event).map_err(|e| ApiError::internal(e.to_string()))?;
    let started = Instant::now();
    let posted = client.post(&target, id, 1, Bytes::from(body)).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let (status, error) = match &posted {
        Ok(status) => (Some(*status), None),
        Err(WebhookError::Status(status)) => (Some(*status), posted.as_ref().err()),
        Err(e) => (None, Some(e)),
    };
    tracing::info!(target = %target.origin(), success = posted.is_ok(), status, duration_ms,
        "test webhook sent");
    Ok(json_ok(&WebhookTestReply {
        success: posted.is_ok(),
        target: target.origin(),
        status,
        error: error.map(ToString::to_string),
        duration_ms,
        id,
    }))
}
