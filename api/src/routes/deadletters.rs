//! `/v1/deadletters`: events whose delivery ran out of attempts. Not in the original (it
//! dropped them); ours keeps them in the events dead-letter queue so an operator can see
//! what a webhook receiver missed.

use imapapi_common::Services;
use imapapi_common::bus::{Message, QueueName};
use imapapi_common::error::ApiError;
use imapapi_common::model::Event;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::Ref;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use uuid::Uuid;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::openapi::tags;
use crate::params::{Query, query};
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/deadletters")];

/// The answer of `GET /v1/deadletters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetters {
    /// Oldest first.
    pub events: Vec<DeadLetter>,
}

/// One event whose delivery ran out of attempts.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetter {
    /// The bus message id.
    pub id: Uuid,
    /// Failed deliveries.
    pub attempts: u32,
    /// The event exactly as published.
    // Kept as JSON rather than read into `Event` so that nothing of it is lost: an event
    // of another schema version keeps its fields.
    #[schema(schema_with = published_event)]
    pub event: Value,
}

impl From<Message> for DeadLetter {
    fn from(m: Message) -> Self {
        let event = serde_json::from_slice::<Value>(&m.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&m.body).into_owned()));
        DeadLetter {
            id: m.id,
            attempts: m.attempt,
            event,
        }
    }
}

/// The OpenAPI schema of [`DeadLetter::event`]: an [`Event`], or the body as a string
/// when it is not JSON.
fn published_event() -> Schema {
    let not_json = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("The published body, when it is not JSON"));
    OneOfBuilder::new()
        .item(Ref::from_schema_name(Event::name()))
        .item(not_json)
        .into()
}

/// The dead-letter routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "deadletters")
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(list_dead_letters(s, q).await) })
        .boxed()
}

/// List the events whose delivery failed for good (not in the original).
///
/// `GET /v1/deadletters?limit=50` → `{"events": [{"id", "attempts", "event"}]}`: up to
/// `limit` (1–1000, default 50) dead-lettered events, oldest first, left in the queue.
/// `id` is the bus message id, `attempts` the failed deliveries, `event` the event JSON as
/// published (or a string when it is not JSON).
#[utoipa::path(
    get,
    path = "/v1/deadletters",
    operation_id = "getV1Deadletters",
    tag = tags::SERVICE,
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
            description = "Most events to list (default 50)"),
    ),
    responses(
        (status = 200, description = "The dead-lettered events, oldest first", body = DeadLetters),
        (status = 400, description = "Invalid query parameter", body = ApiError),
        (status = 503, description = "The bus could not be read", body = ApiError),
    )
)]
pub async fn list_dead_letters(services: Services, q: Query) -> Result<Response, ApiError> {
    q.only(&["limit"])?;
    let limit = q.number("limit", 1, 1000, 50)? as usize;
    let messages = services
        .bus
        .dead_letters(QueueName::Events, limit)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading dead letters failed");
            ApiError::new(503, "BusError", "Could not read the dead-letter queue")
        })?;
    let events = messages.into_iter().map(DeadLetter::from).collect();
    Ok(json_ok(&DeadLetters { events }))
}
