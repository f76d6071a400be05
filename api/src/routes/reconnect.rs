//! `/v1/account/:account/reconnect`: asks the owning ingest to drop the account's IMAP
//! connections and connect again, for a client that knows something changed on the server
//! side (a new password at the provider, a stuck session).

use imapapi_common::Services;
use imapapi_common::command::Reconnect;
use imapapi_common::error::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::openapi::{CommandErrors, tags};
use crate::routes::{Route, account_id, require_account, with};
use imapapi_common::command::client::send;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::put("/v1/account/{account}/reconnect")];

/// The body and the answer: `{"reconnect": true}`.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestReconnect {
    /// Only `true` reconnects (the contract's default is `false`).
    #[serde(default)]
    pub reconnect: bool,
}

/// The reconnect route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    warp::path!("v1" / "account" / String / "reconnect")
        .and(warp::put())
        .and(with(services))
        .and(crate::body::json::<RequestReconnect>(max_size))
        .then(
            |id: String, s: Services, body: RequestReconnect| async move {
                respond(reconnect(s, id, body).await)
            },
        )
        .boxed()
}

/// Reconnect an account.
///
/// `PUT /v1/account/:account/reconnect` with `{reconnect: true}` → `{reconnect: true}` once
/// the owner has started reconnecting; `{reconnect: false}` does nothing and says so. 404
/// for an unknown account, 503 when no ingest holds it, 504 when the owner does not answer.
#[utoipa::path(
    put,
    path = "/v1/account/{account}/reconnect",
    operation_id = "putV1AccountAccountReconnect",
    tag = tags::ACCOUNT,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    request_body = RequestReconnect,
    responses(
        (status = 200, description = "Whether a reconnect was started", body = RequestReconnect),
        (status = 400, description = "Invalid body or account id", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
        CommandErrors,
    )
)]
pub async fn reconnect(
    services: Services,
    raw_id: String,
    body: RequestReconnect,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    require_account(&services, &id).await?;
    if body.reconnect {
        // Unlike after an account update, the client asked for this and is told whether
        // it happened, so the reply is waited for.
        send(&services, &id, Reconnect {}).await?;
    }
    Ok(json_ok(&body))
}
