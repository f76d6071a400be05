//! `/v1/account/:account/search`: the messages of a folder that match a query, paged like
//! the folder listing. The query is checked here (unknown criteria, lengths, sequence sets)
//! so that only well-formed criteria reach the IMAP SEARCH that ingest builds.

use imapapi_common::Services;
use imapapi_common::command::{Search, SearchQuery};
use imapapi_common::error::ApiError;
use imapapi_common::model::MessageList;
use serde::Deserialize;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::openapi::{CommandErrors, tags};
use crate::params::{Query, query};
use crate::routes::messages::PageQuery;
use crate::routes::{Route, account_id, owner_and_state, with};
use imapapi_common::command::client::send_to;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::post("/v1/account/{account}/search")];

/// The body of a search: `{"search": {...}}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SearchBody {
    pub search: SearchQuery,
}

/// The search route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    warp::path!("v1" / "account" / String / "search")
        .and(warp::post())
        .and(with(services))
        .and(query())
        .and(crate::body::json::<SearchBody>(max_size))
        .then(
            |id: String, s: Services, q: Query, body: SearchBody| async move {
                respond(search(s, id, q, body).await)
            },
        )
        .boxed()
}

/// Search a folder.
///
/// `POST /v1/account/:account/search?path=INBOX&page=0&pageSize=20` with `{"search":
/// {...}}` → `{total, page, pages, messages, nextCursor}`, newest first, as the folder
/// listing; `cursor` instead of `page` gives the matches below the previous page.
/// 400 naming the parameter or criterion (`search.uid`), 404 for an unknown account.
#[utoipa::path(
    post,
    path = "/v1/account/{account}/search",
    operation_id = "postV1AccountAccountSearch",
    tag = tags::MESSAGE,
    params(("account" = String, Path, max_length = 256, description = "The account id"), PageQuery),
    request_body = SearchBody,
    responses(
        (status = 200, description = "One page of the matches, newest first", body = MessageList),
        (status = 400, description = "Invalid criterion, query parameter or account id", body = ApiError),
        (status = 404, description = "Unknown account or folder, or a cursor made before the folder's UIDVALIDITY changed (`FolderReset`)", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
        CommandErrors,
    )
)]
pub async fn search(
    services: Services,
    raw_id: String,
    q: Query,
    body: SearchBody,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let page = PageQuery::parse(&q)?;
    body.search.validate()?;
    let request = Search {
        path: page.path,
        page: page.page,
        page_size: page.page_size,
        cursor: page.cursor,
        query: body.search,
    };
    let (owner, state) = owner_and_state(&services, &id).await?;
    let mut found = send_to(&services, &owner, &id, request).await?;
    found.state = Some(state);
    Ok(json_ok(&found))
}
