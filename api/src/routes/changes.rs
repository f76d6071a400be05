//! `GET /v1/account/:account/changes?since=STATE`: the account's events after a state, from
//! the history the store keeps (`store::changes`). Not in the original. It exists so that a
//! consumer that missed webhooks, or lost its place in the queue, reconciles by reading
//! what changed since the last state it saw (every event, listing and message carries one)
//! instead of listing every folder again, in the spirit of JMAP's `/changes`.

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::store::changes::{ChangePage, MAX_CHANGES_PER_READ, StoredChange};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::params::{Query, query};
use crate::routes::{Route, account_id, require_account, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/account/{account}/changes")];

/// Changes returned when `limit` is not given.
const DEFAULT_LIMIT: u64 = 100;

/// The answer of `GET /v1/account/:account/changes`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// The `since` asked for.
    pub old_state: String,
    /// The state after the last change returned: `since` of the next call.
    pub new_state: String,
    /// More changes follow: call again with `newState`.
    pub has_more_changes: bool,
    /// The events, oldest first, as published, each with its `state`.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Value>,
}

/// The 410 answer when the history no longer reaches back to `since` (or `since` is not a
/// state of this account): list again, then follow changes from `state`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CannotCalculateChanges {
    pub status_code: u16,
    pub error: String,
    pub message: String,
    /// `cannotCalculateChanges`.
    pub code: String,
    /// The account's current state, to follow changes from after listing again.
    pub state: String,
}

/// The changes route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "account" / String / "changes")
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(
            |id: String, s: Services, q: Query| async move { respond(get_changes(s, id, q).await) },
        )
        .boxed()
}

/// The account's events after a state (not in the original).
///
/// `GET /v1/account/:account/changes?since=STATE&limit=100` → `{oldState, newState,
/// hasMoreChanges, changes: [event…]}`: the events published for the account after
/// `since`, oldest first, at most `limit` (1–1000), each with its `state`. States come from
/// events, listings and message details; `since=0` reads the whole history kept. The store
/// keeps the newest 10,000 events per account: for a `since` older than that (or not a
/// state of this account) the answer is 410 `cannotCalculateChanges` with the current
/// `state`: list again, then follow from there.
#[utoipa::path(
    get,
    path = "/v1/account/{account}/changes",
    operation_id = "getV1AccountAccountChanges",
    tag = tags::ACCOUNT,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("since" = String, Query, pattern = "^[0-9]{1,20}$",
            description = "The state to read changes after"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000,
            description = "Most changes to return (default 100)"),
    ),
    responses(
        (status = 200, description = "The changes after `since`", body = Changes),
        (status = 400, description = "Invalid or missing query parameter", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
        (status = 410, description = "The history does not reach back to `since`",
            body = CannotCalculateChanges),
    )
)]
pub async fn get_changes(
    services: Services,
    raw_id: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    q.only(&["since", "limit"])?;
    let since = parse_state(q.get("since"))?;
    let limit = q.number("limit", 1, MAX_CHANGES_PER_READ as u64, DEFAULT_LIMIT)? as usize;
    require_account(&services, &id).await?;
    let page = services
        .store
        .changes_since(&id, since, limit)
        .await
        .map_err(store_error)?;
    if since < page.floor || since > page.current {
        return Ok(cannot_calculate(&page));
    }
    Ok(json_ok(&changes_reply(since, page)))
}

/// A state as the query gives it: a decimal number.
fn parse_state(raw: Option<&str>) -> Result<u64, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::invalid("since", "is required"))?;
    raw.parse().map_err(|_| {
        ApiError::invalid("since", "must be a state from an event, listing or message")
    })
}

fn changes_reply(since: u64, page: ChangePage) -> Changes {
    let new_state = match (page.has_more, page.changes.last()) {
        (true, Some(last)) => last.seq,
        _ => page.current,
    };
    Changes {
        old_state: since.to_string(),
        new_state: new_state.to_string(),
        has_more_changes: page.has_more,
        changes: page.changes.into_iter().map(with_state).collect(),
    }
}

/// The stored event with its `state` (stored without, since its number is given when it is
/// stored).
fn with_state(change: StoredChange) -> Value {
    let mut event = serde_json::from_slice::<Value>(&change.event)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&change.event).into_owned()));
    if let Value::Object(map) = &mut event {
        map.insert("state".into(), Value::String(change.seq.to_string()));
    }
    event
}

fn cannot_calculate(page: &ChangePage) -> Response {
    let body = CannotCalculateChanges {
        status_code: 410,
        error: "Gone".into(),
        message: format!(
            "The changes after this state are no longer kept; list again and follow changes from state {}",
            page.current
        ),
        code: "cannotCalculateChanges".into(),
        state: page.current.to_string(),
    };
    warp::reply::with_status(warp::reply::json(&body), StatusCode::GONE).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_numbers() {
        assert_eq!(parse_state(Some("42")).unwrap(), 42);
        for bad in [
            None,
            Some(""),
            Some("-1"),
            Some("x1"),
            Some("99999999999999999999999"),
        ] {
            let e = parse_state(bad).unwrap_err();
            assert_eq!(e.fields[0].key, "since");
        }
    }

    #[test]
    fn the_next_state_follows_the_last_change_returned() {
        let change = |seq| StoredChange {
            seq,
            event: format!(r#"{{"id":"{seq}"}}"#).into_bytes(),
        };
        let page = ChangePage {
            floor: 0,
            current: 9,
            changes: vec![change(3), change(5)],
            has_more: true,
        };
        let reply = changes_reply(2, page);
        assert_eq!(reply.new_state, "5");
        assert_eq!(reply.changes[1]["state"], "5");
        let done = ChangePage {
            floor: 0,
            current: 9,
            changes: vec![change(9)],
            has_more: false,
        };
        assert_eq!(changes_reply(5, done).new_state, "9");
    }
}
