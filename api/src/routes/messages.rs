//! `/v1/account/:account/messages` and `/v1/account/:account/message/:message`: paged
//! message listings and message details, fetched live over the account's IMAP connection
//! by the owning ingest. Input is checked here first, so a bad request never reaches IMAP.

use imapapi_common::Services;
use imapapi_common::command::{GetMessage, ListMessages, TextType};
use imapapi_common::error::ApiError;
use imapapi_common::ids::MessageId;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::command_client::send;
use crate::error::{json_ok, respond};
use crate::params::{Query, decode_segment, query};
use crate::routes::{account_id, require_account, with};

/// Largest `maxBytes` accepted (as the original: 1 GiB).
const MAX_BYTES_LIMIT: u64 = 1 << 30;

/// The message routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let list =
        warp::path!("v1" / "account" / String / "messages")
            .and(warp::get())
            .and(with(services.clone()))
            .and(query())
            .then(|id: String, s: Services, q: Query| async move {
                respond(list_messages(s, id, q).await)
            });
    let get = warp::path!("v1" / "account" / String / "message" / String)
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(
            |id: String, message: String, s: Services, q: Query| async move {
                respond(get_message(s, id, message, q).await)
            },
        );
    list.or(get).unify().boxed()
}

/// `GET /v1/account/:account/messages?path=INBOX&page=0&pageSize=20`: one page of a
/// folder, newest first → `{total, page, pages, messages}`. `path` is required; `pageSize`
/// is 1–1000 (default 20); `page` counts from 0.
pub async fn list_messages(
    services: Services,
    raw_id: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    q.only(&["path", "page", "pageSize"])?;
    let path = q.required("path")?.to_string();
    if path.chars().count() > 1024 {
        return Err(ApiError::invalid(
            "path",
            "length must be less than or equal to 1024 characters long",
        ));
    }
    let page = q.number("page", 0, 1_048_576, 0)? as u32;
    let page_size = q.number("pageSize", 1, 1000, 20)? as u32;
    require_account(&services, &id).await?;
    let request = ListMessages {
        path,
        page,
        page_size,
    };
    Ok(json_ok(&send(&services, &id, request).await?))
}

/// `GET /v1/account/:account/message/:message?maxBytes&textType`: one message with its
/// headers, addresses, attachment list and text (cut at `maxBytes`; `textType` is
/// `plain`, `html` or `*`). The id is checked before anything is asked of IMAP.
pub async fn get_message(
    services: Services,
    raw_id: String,
    raw_message: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let message = decode_segment("message", &raw_message)?;
    MessageId::parse(&message)?;
    q.only(&["maxBytes", "textType"])?;
    let max_bytes = q.optional_number("maxBytes", 0, MAX_BYTES_LIMIT)?;
    // Text is included only when asked for, as the original did.
    let text_type = match q.get("textType") {
        None => None,
        Some(t) => Some(
            TextType::parse(t)
                .ok_or_else(|| ApiError::invalid("textType", "must be one of [plain, html, *]"))?,
        ),
    };
    require_account(&services, &id).await?;
    let request = GetMessage {
        message,
        max_bytes,
        text_type,
    };
    Ok(json_ok(&send(&services, &id, request).await?))
}
