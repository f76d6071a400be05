//! `/v1/account/:account/text/:text`: only the text of a message (its plain and html
//! parts), fetched partially by the owning ingest so a client can cap huge bodies with
//! `maxBytes` instead of downloading them whole.

use imapapi_common::Services;
use imapapi_common::command::GetText;
use imapapi_common::error::ApiError;
use imapapi_common::ids::TextId;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::command_client::send;
use crate::error::{json_ok, respond};
use crate::params::{Query, decode_segment, query};
use crate::routes::messages::{MAX_BYTES_LIMIT, text_type};
use crate::routes::{account_id, require_account, with};

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

/// `GET /v1/account/:account/text/:text?maxBytes=&textType=` → `{plain?, html?, hasMore}`.
/// `textType` is `plain`, `html` or `*` (the default, any case); `maxBytes` is 0–1 GiB.
/// 400 for a malformed text id or parameter, 404 for an unknown account or message.
pub async fn get_text(
    services: Services,
    raw_id: String,
    raw_text: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let text = TextId::parse(&decode_segment("text", &raw_text)?)?;
    q.only(&["maxBytes", "textType"])?;
    let request = GetText {
        message: text.message.encode(),
        max_bytes: q.optional_number("maxBytes", 0, MAX_BYTES_LIMIT)?,
        text_type: text_type(&q)?.unwrap_or_default(),
    };
    require_account(&services, &id).await?;
    Ok(json_ok(&send(&services, &id, request).await?))
}
