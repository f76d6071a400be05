//! `/v1/deadletters`: events whose delivery ran out of attempts. Not in the original (it
//! dropped them); ours keeps them in the events dead-letter queue so an operator can see
//! what a webhook receiver missed, send them again once the receiver is fixed
//! (`POST /v1/deadletters/redrive`), or drop those nobody wants (`DELETE`).

use imapapi_common::Services;
use imapapi_common::bus::{BusError, MAX_DEAD_LETTER_BATCH, Message, QueueName};
use imapapi_common::error::ApiError;
use imapapi_common::model::Event;
use serde::{Deserialize, Serialize};
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
pub const ROUTES: &[Route] = &[
    Route::get("/v1/deadletters"),
    Route::post("/v1/deadletters/redrive"),
    Route::delete("/v1/deadletters"),
];

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

/// The body of `POST /v1/deadletters/redrive`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveBody {
    /// The events to deliver again, by their `id` in the listing (at most 1000); leave it
    /// out for all of them. An empty list redrives nothing.
    // Read as strings so that a bad one is named `ids[i]` with a plain message.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Uuid>>, max_items = 1000)]
    pub ids: Option<Vec<String>>,
}

/// The answer of `POST /v1/deadletters/redrive`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLettersRedriven {
    /// Events put back on the events queue.
    pub redriven: usize,
}

/// The answer of `DELETE /v1/deadletters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLettersDeleted {
    /// Events deleted for good.
    pub deleted: usize,
}

/// The dead-letter routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    let list = warp::path!("v1" / "deadletters")
        .and(warp::get())
        .and(with(services.clone()))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(list_dead_letters(s, q).await) });
    let redrive = warp::path!("v1" / "deadletters" / "redrive")
        .and(warp::post())
        .and(with(services.clone()))
        .and(crate::body::json::<RedriveBody>(max_size))
        .then(|s: Services, body: RedriveBody| async move {
            respond(redrive_dead_letters(s, body).await)
        });
    let delete = warp::path!("v1" / "deadletters")
        .and(warp::delete())
        .and(with(services))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(delete_dead_letters(s, q).await) });
    list.or(redrive).unify().or(delete).unify().boxed()
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

/// Deliver dead-lettered events again (not in the original).
///
/// `POST /v1/deadletters/redrive` with `{"ids": ["<id>", …]}` → `{"redriven": N}`: those
/// events (by `id` in the listing), or with `{}` all of them, go back on the events queue
/// with their attempts reset, and leave the dead letters. One call looks at the 1000
/// oldest dead letters at most; call again while it redrives some. Ids that are not dead
/// letters (any more) are not counted.
#[utoipa::path(
    post,
    path = "/v1/deadletters/redrive",
    operation_id = "postV1DeadlettersRedrive",
    tag = tags::SERVICE,
    request_body = RedriveBody,
    responses(
        (status = 200, description = "How many events were put back", body = DeadLettersRedriven),
        (status = 400, description = "Invalid body or id", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
        (status = 503, description = "The bus could not be changed", body = ApiError),
    )
)]
pub async fn redrive_dead_letters(
    services: Services,
    body: RedriveBody,
) -> Result<Response, ApiError> {
    let ids = match &body.ids {
        Some(raw) => Some(parse_ids(
            raw.iter().map(String::as_str),
            |i| format!("ids[{i}]"),
            "ids",
        )?),
        None => None,
    };
    let redriven = services
        .bus
        .redrive_dead_letters(QueueName::Events, ids.as_deref(), MAX_DEAD_LETTER_BATCH)
        .await
        .map_err(|e| bus_failed("redriving", e))?;
    Ok(json_ok(&DeadLettersRedriven { redriven }))
}

/// Delete dead-lettered events for good (not in the original).
///
/// `DELETE /v1/deadletters?id=<id>&id=<id>` → `{"deleted": N}`: those events (by `id` in
/// the listing), or without `id` all of them. One call looks at the 1000 oldest dead
/// letters at most; call again while it deletes some.
#[utoipa::path(
    delete,
    path = "/v1/deadletters",
    operation_id = "deleteV1Deadletters",
    tag = tags::SERVICE,
    params(
        ("id" = Option<Vec<Uuid>>, Query, style = Form, explode,
            description = "An event to delete, by its `id` in the listing; repeat for more \
                (at most 1000). Without it, all are deleted"),
    ),
    responses(
        (status = 200, description = "How many events were deleted", body = DeadLettersDeleted),
        (status = 400, description = "Invalid query parameter", body = ApiError),
        (status = 503, description = "The bus could not be changed", body = ApiError),
    )
)]
pub async fn delete_dead_letters(services: Services, q: Query) -> Result<Response, ApiError> {
    q.only(&["id"])?;
    let given =
        q.0.iter()
            .filter(|(k, _)| k == "id")
            .map(|(_, v)| v.as_str());
    let ids = parse_ids(given, |_| "id".to_string(), "id")?;
    let ids = (!ids.is_empty()).then_some(ids);
    let deleted = services
        .bus
        .drop_dead_letters(QueueName::Events, ids.as_deref(), MAX_DEAD_LETTER_BATCH)
        .await
        .map_err(|e| bus_failed("deleting", e))?;
    Ok(json_ok(&DeadLettersDeleted { deleted }))
}

/// The ids given, each named by `field(i)` when it is not a UUID; at most
/// [`MAX_DEAD_LETTER_BATCH`] of them (`list` names them all).
fn parse_ids<'a>(
    raw: impl Iterator<Item = &'a str>,
    field: impl Fn(usize) -> String,
    list: &str,
) -> Result<Vec<Uuid>, ApiError> {
    let mut ids = Vec::new();
    for (i, s) in raw.enumerate() {
        if i == MAX_DEAD_LETTER_BATCH {
            let most = format!("must list at most {MAX_DEAD_LETTER_BATCH} ids");
            return Err(ApiError::invalid(list, most));
        }
        let id = Uuid::parse_str(s.trim())
            .map_err(|_| ApiError::invalid(&field(i), "must be a UUID"))?;
        ids.push(id);
    }
    Ok(ids)
}

/// The 503 of a bus that failed `doing` something to the dead letters; the cause goes to
/// the log, not to the client.
fn bus_failed(doing: &str, e: BusError) -> ApiError {
    tracing::error!(error = %e, "{doing} dead letters failed");
    ApiError::new(
        503,
        "BusError",
        format!("Could not change the dead-letter queue ({doing} failed)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_id_is_named_by_its_place() {
        let good = Uuid::now_v7().to_string();
        let raw = [good.as_str(), "nope"];
        let e = parse_ids(raw.into_iter(), |i| format!("ids[{i}]"), "ids").unwrap_err();
        assert_eq!(e.fields[0].key, "ids[1]");
        let ids = parse_ids([good.as_str()].into_iter(), |_| "id".into(), "id").unwrap();
        assert_eq!(ids[0].to_string(), good);
    }

    #[test]
    fn too_many_ids_are_refused() {
        let id = Uuid::now_v7().to_string();
        let raw = std::iter::repeat_n(id.as_str(), MAX_DEAD_LETTER_BATCH + 1);
        let e = parse_ids(raw, |_| "id".into(), "id").unwrap_err();
        assert_eq!(e.fields[0].key, "id");
    }

    /// `id` is documented as a repeatable query parameter holding UUIDs.
    #[test]
    fn delete_documents_repeatable_ids() {
        let doc: Value = serde_json::from_str(crate::openapi::document_json().unwrap()).unwrap();
        let params = &doc["paths"]["/v1/deadletters"]["delete"]["parameters"];
        let id = params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "id")
            .expect("id is documented");
        assert_eq!(id["in"], "query");
        assert_eq!(id["explode"], true);
        assert_eq!(id["schema"]["type"], "array", "{id}");
        assert_eq!(id["schema"]["items"]["format"], "uuid", "{id}");
    }
}
