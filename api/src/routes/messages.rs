//! `/v1/account/:account/messages` and `/v1/account/:account/message/:message`: paged
//! message listings and message details, fetched live over the account's IMAP connection
//! by the owning ingest. Input is checked here first, so a bad request never reaches IMAP.

use imapapi_common::Services;
use imapapi_common::command::{GetMessage, ListMessages, TextType};
use imapapi_common::error::ApiError;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::command_client::send;
use crate::error::{json_ok, respond};
use crate::params::{Query, query};
use crate::routes::{account_id, check_mailbox_path, message_id, require_account, with};

/// Largest `maxBytes` accepted (as the original: 1 GiB).
pub const MAX_BYTES_LIMIT: u64 = 1 << 30;

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
    let page = PageQuery::parse(&q)?;
    require_account(&services, &id).await?;
    let request = ListMessages {
        path: page.path,
        page: page.page,
        page_size: page.page_size,
    };
    Ok(json_ok(&send(&services, &id, request).await?))
}

/// The folder and page of a listing or a search: `?path=&page=&pageSize=`, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    pub path: String,
    pub page: u32,
    pub page_size: u32,
}

impl PageQuery {
    /// `path` is required; `page` counts from 0 (at most 1048576, as the original);
    /// `pageSize` is 1–1000, 20 by default.
    pub fn parse(q: &Query) -> Result<Self, ApiError> {
        q.only(&["path", "page", "pageSize"])?;
        let path = q.required("path")?.to_string();
        check_mailbox_path("path", &path)?;
        Ok(PageQuery {
            path,
            page: q.number("page", 0, 1_048_576, 0)? as u32,
            page_size: q.number("pageSize", 1, 1000, 20)? as u32,
        })
    }
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
    let message = message_id(&raw_message)?;
    q.only(&["maxBytes", "textType"])?;
    let max_bytes = q.optional_number("maxBytes", 0, MAX_BYTES_LIMIT)?;
    // Text is included only when asked for, as the original did.
    let text_type = text_type(&q)?;
    require_account(&services, &id).await?;
    let request = GetMessage {
        message,
        max_bytes,
        text_type,
    };
    Ok(json_ok(&send(&services, &id, request).await?))
}

/// The `textType` parameter (`plain`, `html` or `*`, any case), if given.
pub fn text_type(q: &Query) -> Result<Option<TextType>, ApiError> {
    q.get("textType")
        .map(|t| {
            TextType::parse(t)
                .ok_or_else(|| ApiError::invalid("textType", "must be one of [plain, html, *]"))
        })
        .transpose()
}
