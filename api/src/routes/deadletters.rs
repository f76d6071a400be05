//! `/v1/deadletters`: events whose delivery ran out of attempts. Not in the original (it
//! dropped them); ours keeps them in the events dead-letter queue so an operator can see
//! what a webhook receiver missed.

use imapapi_common::Services;
use imapapi_common::bus::QueueName;
use imapapi_common::error::ApiError;
use serde_json::{Value, json};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::params::{Query, query};
use crate::routes::with;

/// The dead-letter routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "deadletters")
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(list_dead_letters(s, q).await) })
        .boxed()
}

/// `GET /v1/deadletters?limit=50` → `{"events": [{"id", "attempts", "event"}]}`: up to
/// `limit` (1–1000, default 50) dead-lettered events, oldest first, left in the queue.
/// `id` is the bus message id, `attempts` the failed deliveries, `event` the event JSON as
/// published (or a string when it is not JSON).
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
    let events: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            let event = serde_json::from_slice::<Value>(&m.body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&m.body).into_owned()));
            json!({ "id": m.id, "attempts": m.attempt, "event": event })
        })
        .collect();
    Ok(json_ok(&json!({ "events": events })))
}
