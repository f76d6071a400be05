//! `/v1/outbox`: the sends that are queued, being sent, waiting for their follow-ups, or
//! failed; a send leaves the outbox once it is done. `DELETE` cancels a send that has not
//! started.

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::model::{OutboxEntry, OutboxState};
use serde::Serialize;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::params::{Query, decode_segment, query};
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[
    Route::get("/v1/outbox"),
    Route::get("/v1/outbox/{queueId}"),
    Route::delete("/v1/outbox/{queueId}"),
];

/// The outbox routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let list = warp::path!("v1" / "outbox")
        .and(warp::get())
        .and(with(services.clone()))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(list_outbox(s, q).await) });
    let get = warp::path!("v1" / "outbox" / String)
        .and(warp::get())
        .and(with(services.clone()))
        .then(|id: String, s: Services| async move { respond(get_outbox(s, id).await) });
    let delete = warp::path!("v1" / "outbox" / String)
        .and(warp::delete())
        .and(with(services))
        .then(|id: String, s: Services| async move { respond(cancel(s, id).await) });
    list.or(get).unify().or(delete).unify().boxed()
}

/// One page of the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxList {
    pub total: usize,
    pub page: u64,
    pub pages: u64,
    /// Oldest first.
    pub messages: Vec<OutboxEntry>,
}

/// The answer of a cancellation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxDeleted {
    pub deleted: bool,
}

fn not_found() -> ApiError {
    ApiError::not_found("No such message in the outbox")
}

/// The sends in the outbox.
///
/// `GET /v1/outbox?page=0&pageSize=20` → `{total, page, pages, messages}`, oldest first.
#[utoipa::path(
    get,
    path = "/v1/outbox",
    operation_id = "getV1Outbox",
    tag = tags::MESSAGE,
    params(
        ("page" = Option<u64>, Query, minimum = 0, description = "Page number, from 0"),
        ("pageSize" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "Entries per page (default 20)"),
    ),
    responses(
        (status = 200, description = "Queued sends", body = OutboxList),
        (status = 400, description = "Invalid query parameter", body = ApiError),
    )
)]
pub async fn list_outbox(services: Services, q: Query) -> Result<Response, ApiError> {
    q.only(&["page", "pageSize"])?;
    let page = q.number("page", 0, u64::from(u32::MAX), 0)?;
    let page_size = q.number("pageSize", 1, 1000, 20)?;
    let all = services.store.list_outbox().await.map_err(store_error)?;
    let total = all.len();
    let pages = (total as u64).div_ceil(page_size).max(1);
    let messages = all
        .into_iter()
        .skip(usize::try_from(page * page_size).unwrap_or(usize::MAX))
        .take(page_size as usize)
        .collect();
    Ok(json_ok(&OutboxList {
        total,
        page,
        pages,
        messages,
    }))
}

/// One send in the outbox.
///
/// `GET /v1/outbox/:queueId` → the entry: its envelope, state (`queued`, `sending`, `sent`
/// with follow-ups pending, `failed`), attempts and last error.
#[utoipa::path(
    get,
    path = "/v1/outbox/{queueId}",
    operation_id = "getV1OutboxQueueid",
    tag = tags::MESSAGE,
    params(("queueId" = String, Path, description = "The `queueId` of the submit answer")),
    responses(
        (status = 200, description = "The send", body = OutboxEntry),
        (status = 404, description = "Not in the outbox (sent and done, or never queued)", body = ApiError),
    )
)]
pub async fn get_outbox(services: Services, raw: String) -> Result<Response, ApiError> {
    let id = decode_segment("queueId", &raw)?;
    let entry = services.store.get_outbox(&id).await.map_err(store_error)?;
    Ok(json_ok(&entry.ok_or_else(not_found)?))
}

/// Cancel a send.
///
/// `DELETE /v1/outbox/:queueId` → `{deleted: true}`. A queued send is cancelled and
/// removed; a failed one is removed; one already being sent or sent answers 409.
#[utoipa::path(
    delete,
    path = "/v1/outbox/{queueId}",
    operation_id = "deleteV1OutboxQueueid",
    tag = tags::MESSAGE,
    params(("queueId" = String, Path, description = "The `queueId` of the submit answer")),
    responses(
        (status = 200, description = "Cancelled and removed", body = OutboxDeleted),
        (status = 404, description = "Not in the outbox", body = ApiError),
        (status = 409, description = "Already being sent, or sent", body = ApiError),
    )
)]
pub async fn cancel(services: Services, raw: String) -> Result<Response, ApiError> {
    let id = decode_segment("queueId", &raw)?;
    let store = &services.store;
    let mut entry = store
        .get_outbox(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    let removable = [
        OutboxState::Queued,
        OutboxState::Failed,
        OutboxState::Cancelled,
    ];
    entry.state = OutboxState::Cancelled;
    // Compare-and-set: a worker that took the send meanwhile wins, and the send goes on.
    if !store
        .update_outbox(&entry, &removable)
        .await
        .map_err(store_error)?
    {
        return Err(ApiError::new(
            409,
            "AlreadySending",
            "The message is being sent or was sent; it can no longer be cancelled",
        ));
    }
    store.delete_outbox(&id).await.map_err(store_error)?;
    Ok(json_ok(&OutboxDeleted { deleted: true }))
}
