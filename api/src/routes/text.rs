//! `/v1/account/:account/text/:text`: only the text of a message (its plain and html
//! parts), fetched partially by the owning ingest so a client can cap huge bodies with
//! `maxBytes` instead of downloading them whole.

use imapapi_common::Services;
use imapapi_common::command::{GetText, TextReply};
use imapapi_common::error::ApiError;
use imapapi_common::ids::TextId;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::openapi::{CommandErrors, tags};
use crate::params::{Query, decode_segment, query};
use crate::routes::messages::TextQuery;
use crate::routes::{Route, account_id, require_account, with};
use imapapi_common::command::client::send;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/account/{account}/text/{text}")];

/// The text route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "account" / String / "text" / String)
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(
            |id: String, text: String, s: Services, q: Query| async move {
                respond(get_text(s, id, text, q).await)
            },
        )
        .boxed()
}

/// Read the text of a message.
///
/// `GET /v1/account/:account/text/:text?maxBytes=&textType=` → `{plain?, html?, hasMore}`.
/// `textType` is `plain`, `html` or `*` (the default, any case); `maxBytes` is 0–1 GiB.
/// 400 for a malformed text id or parameter, 404 for an unknown account or message.
#[utoipa::path(
    get,
    path = "/v1/account/{account}/text/{text}",
    operation_id = "getV1AccountAccountTextText",
    tag = tags::MESSAGE,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("text" = String, Path, max_length = 256, description = "The text id, from a listing"),
        TextQuery,
    ),
    responses(
        (status = 200, description = "The text", body = TextReply),
        (status = 400, description = "Malformed id or invalid query parameter", body = ApiError),
        (status = 404, description = "Unknown account or message", body = ApiError),
        CommandErrors,
    )
)]
pub async fn get_text(
    services: Services,
    raw_id: String,
    raw_text: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let text = TextId::parse(&decode_segment("text", &raw_text)?)?;
    let TextQuery {
        max_bytes,
        text_type,
    } = TextQuery::parse(&q)?;
    let request = GetText {
        message: text.message.encode(),
        max_bytes,
        text_type: text_type.unwrap_or_default(),
    };
    require_account(&services, &id).await?;
    Ok(json_ok(&send(&services, &id, request).await?))
}
