//! `/v1/account/:account/mailboxes`: the folders of an account, listed live over its IMAP
//! connection by the owning ingest.

use imapapi_common::Services;
use imapapi_common::command::ListMailboxes;
use imapapi_common::error::ApiError;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::command_client::send;
use crate::error::{json_ok, respond};
use crate::routes::{account_id, require_account, with};

/// The mailbox routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "account" / String / "mailboxes")
        .and(warp::get())
        .and(with(services))
        .then(|id: String, s: Services| async move { respond(list_mailboxes(s, id).await) })
        .boxed()
}

/// `GET /v1/account/:account/mailboxes` → `{"mailboxes": [...]}`. 404 for an unknown
/// account, 503 without a live connection, 504 when the connection does not answer.
pub async fn list_mailboxes(services: Services, raw_id: String) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    require_account(&services, &id).await?;
    let list = send(&services, &id, ListMailboxes {}).await?;
    Ok(json_ok(&list))
}
