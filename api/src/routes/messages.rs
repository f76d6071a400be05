//! `/v1/account/:account/messages` and `/v1/account/:account/message/:message`: paged
//! message listings and message details, fetched live over the account's IMAP connection
//! by the owning ingest. Input is checked here first, so a bad request never reaches IMAP.

use imapapi_common::Services;
use imapapi_common::command::cursor::CURSOR_FIELD;
use imapapi_common::command::{GetMessage, ListCursor, ListMessages, TextType};
use imapapi_common::error::ApiError;
use imapapi_common::model::{MessageDetails, MessageList};
use utoipa::IntoParams;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::openapi::{CommandErrors, tags};
use crate::params::{Query, query};
use crate::routes::{Route, account_id, check_mailbox_path, message_id, owner_and_state, with};
use imapapi_common::command::client::send_to;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[
    Route::get("/v1/account/{account}/messages"),
    Route::get("/v1/account/{account}/message/{message}"),
];

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

/// List the messages of a folder.
///
/// `GET /v1/account/:account/messages?path=INBOX&page=0&pageSize=20`: one page of a
/// folder, newest first → `{total, page, pages, messages, nextCursor}`. `path` is required;
/// `pageSize` is 1–1000 (default 20); `page` counts from 0. `?cursor=<nextCursor>` instead
/// of `page` gives the messages below the previous page, so mail arriving while a client
/// pages does not shift the next page; `nextCursor` is absent on the last page.
#[utoipa::path(
    get,
    path = "/v1/account/{account}/messages",
    operation_id = "getV1AccountAccountMessages",
    tag = tags::MESSAGE,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "One page of the folder, newest first", body = MessageList),
        (status = 400, description = "Invalid query parameter or account id", body = ApiError),
        (status = 404, description = "Unknown account or folder, or a cursor made before the folder's UIDVALIDITY changed (`FolderReset`)", body = ApiError),
        CommandErrors,
    )
)]
pub async fn list_messages(
    services: Services,
    raw_id: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let page = PageQuery::parse(&q)?;
    let request = ListMessages {
        path: page.path,
        page: page.page,
        page_size: page.page_size,
        cursor: page.cursor,
    };
    // Read before the listing: a change made while it runs comes after this state.
    let (owner, state) = owner_and_state(&services, &id).await?;
    let mut list = send_to(&services, &owner, &id, request).await?;
    list.state = Some(state);
    Ok(json_ok(&list))
}

/// The folder and page of a listing or a search: `?path=&page=&pageSize=`, or `cursor`
/// (a previous page's `nextCursor`) instead of `page`; nothing else.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct PageQuery {
    /// The folder's whole path (`INBOX`, `Parent/Child`).
    #[param(min_length = 1, max_length = 1024)]
    pub path: String,
    /// The page, from 0 (newest first).
    #[param(required = false, default = 0, minimum = 0, maximum = 1048576)]
    pub page: u32,
    /// Messages per page.
    #[param(required = false, default = 20, minimum = 1, maximum = 1000)]
    pub page_size: u32,
    /// A previous page's `nextCursor`, instead of `page`: the next `pageSize` messages below
    /// that page, newest first, however much mail arrived since. 404 `FolderReset` when the
    /// folder's UIDVALIDITY changed since the cursor was made.
    #[param(required = false, value_type = Option<String>, max_length = 64, example = "AWVT8QAAAAAq")]
    pub cursor: Option<ListCursor>,
}

impl PageQuery {
    /// `path` is required; `page` counts from 0 (at most 1048576, as the original);
    /// `pageSize` is 1–1000, 20 by default; `cursor` is one this API made, and not given
    /// with a `page` other than 0.
    pub fn parse(q: &Query) -> Result<Self, ApiError> {
        q.only(&["path", "page", "pageSize", CURSOR_FIELD])?;
        let path = q.required("path")?.to_string();
        check_mailbox_path("path", &path)?;
        let page = q.number("page", 0, 1_048_576, 0)? as u32;
        Ok(PageQuery {
            path,
            page,
            page_size: q.number("pageSize", 1, 1000, 20)? as u32,
            cursor: cursor_of(q, page)?,
        })
    }
}

/// The decoded `cursor`, if given; 400 naming it beside a `page` other than 0 (the two
/// would say different things about where the page starts).
fn cursor_of(q: &Query, page: u32) -> Result<Option<ListCursor>, ApiError> {
    let Some(raw) = q.get(CURSOR_FIELD) else {
        return Ok(None);
    };
    if page != 0 {
        return Err(ApiError::invalid(
            CURSOR_FIELD,
            "is not allowed together with \"page\"",
        ));
    }
    ListCursor::decode(raw).map(Some)
}

/// Read one message.
///
/// `GET /v1/account/:account/message/:message?maxBytes&textType`: one message with its
/// headers, addresses, attachment list and text (cut at `maxBytes`; `textType` is
/// `plain`, `html` or `*`). The id is checked before anything is asked of IMAP.
#[utoipa::path(
    get,
    path = "/v1/account/{account}/message/{message}",
    operation_id = "getV1AccountAccountMessageMessage",
    tag = tags::MESSAGE,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("message" = String, Path, max_length = 256, description = "The message id, from a listing"),
        TextQuery,
    ),
    responses(
        (status = 200, description = "The message", body = MessageDetails),
        (status = 400, description = "Malformed id or invalid query parameter", body = ApiError),
        (status = 404, description = "Unknown account or message", body = ApiError),
        CommandErrors,
    )
)]
pub async fn get_message(
    services: Services,
    raw_id: String,
    raw_message: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let message = message_id(&raw_message)?;
    // Text is included only when asked for, as the original did.
    let TextQuery {
        max_bytes,
        text_type,
    } = TextQuery::parse(&q)?;
    let request = GetMessage {
        message,
        max_bytes,
        text_type,
    };
    let (owner, state) = owner_and_state(&services, &id).await?;
    let mut details = send_to(&services, &owner, &id, request).await?;
    details.state = Some(state);
    Ok(json_ok(&details))
}

/// The text options of message details and text downloads: `?maxBytes=&textType=`,
/// nothing else.
#[derive(Debug, Clone, PartialEq, Eq, IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct TextQuery {
    /// Cut each text at this many bytes.
    #[param(minimum = 0, maximum = 1073741824)]
    pub max_bytes: Option<u64>,
    /// Which text to include, in any case. Message details include text only when it is
    /// given; text downloads default to `*`.
    #[param(inline)]
    pub text_type: Option<TextType>,
}

impl TextQuery {
    /// `maxBytes` is 0–1 GiB; `textType` is `plain`, `html` or `*`, in any case.
    pub fn parse(q: &Query) -> Result<Self, ApiError> {
        q.only(&["maxBytes", "textType"])?;
        let max_bytes = q.optional_number("maxBytes", 0, MAX_BYTES_LIMIT)?;
        let text_type = q
            .get("textType")
            .map(|t| {
                TextType::parse(t)
                    .ok_or_else(|| ApiError::invalid("textType", "must be one of [plain, html, *]"))
            })
            .transpose()?;
        Ok(TextQuery {
            max_bytes,
            text_type,
        })
    }
}
