//! `/v1/account/:account/message/:message/source`: downloads a whole message as stored on
//! the server (RFC 822), streamed as ingest reads it, without decoding anything.

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::HeaderValue;
use warp::http::header::CONTENT_TYPE;
use warp::reply::Response;

use crate::error::respond;
use crate::openapi::{Binary, CommandErrors, tags};
use crate::params::{Query, query};
use crate::routes::body_stream::{self, BodyTarget, Decoding};
use crate::routes::{Route, account_id, message_id, require_account, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/account/{account}/message/{message}/source")];

/// The message source route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "account" / String / "message" / String / "source")
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(
            |id: String, message: String, s: Services, q: Query| async move {
                respond(get_source(s, id, message, q).await)
            },
        )
        .boxed()
}

/// Download a message as stored.
///
/// `GET /v1/account/:account/message/:message/source` → the raw message as
/// `message/rfc822`. 400 for a malformed message id, 404 for an unknown account or
/// message; a failure after the first range cuts the transfer short.
#[utoipa::path(
    get,
    path = "/v1/account/{account}/message/{message}/source",
    operation_id = "getV1AccountAccountMessageMessageSource",
    tag = tags::MESSAGE,
    params(("account" = String, Path, max_length = 256, description = "The account id"), ("message" = String, Path, max_length = 256, description = "The message id, from a listing")),
    responses(
        (status = 200, description = "The message source (RFC 822)", body = inline(Binary),
            content_type = "message/rfc822"),
        (status = 400, description = "Malformed id or unknown query parameter", body = ApiError),
        (status = 404, description = "Unknown account or message", body = ApiError),
        CommandErrors,
    )
)]
pub async fn get_source(
    services: Services,
    raw_id: String,
    raw_message: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let message = message_id(&raw_message)?;
    q.only(&[])?;
    require_account(&services, &id).await?;
    let target = BodyTarget {
        account: id,
        message,
        part: None,
    };
    let (_, mut response) = body_stream::open(&services, target, Decoding::Raw).await?;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("message/rfc822"));
    Ok(response)
}
