//! `/v1/account/:account/mailboxes`: the folders of an account, listed live over its IMAP
//! connection by the owning ingest.

use imapapi_common::Services;
use imapapi_common::command::ListMailboxes;
use imapapi_common::error::ApiError;
use imapapi_common::model::MailboxList;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::openapi::{CommandErrors, tags};
use crate::routes::{Route, account_id, require_account, with};
use imapapi_common::command::client::send;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/account/{account}/mailboxes")];

/// The mailbox routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "account" / String / "mailboxes")
        .and(warp::get())
        .and(with(services))
        .then(|id: String, s: Services| async move { respond(list_mailboxes(s, id).await) })
        .boxed()
}

/// List the folders of an account.
///
/// `GET /v1/account/:account/mailboxes` → `{"mailboxes": [...]}`. 404 for an unknown
/// account, 503 without a live connection, 504 when the connection does not answer.
#[utoipa::path(
    get,
    path = "/v1/account/{account}/mailboxes",
    operation_id = "getV1AccountAccountMailboxes",
    tag = tags::MAILBOX,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    responses(
        (status = 200, description = "The folders", body = MailboxList),
        (status = 400, description = "Malformed account id", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
        CommandErrors,
    )
)]
pub async fn list_mailboxes(services: Services, raw_id: String) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    require_account(&services, &id).await?;
    let list = send(&services, &id, ListMailboxes {}).await?;
    Ok(json_ok(&list))
}
