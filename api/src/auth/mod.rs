//! Who may call the REST api: basic auth with the one `api.auth` pair (as the original), or
//! an access token (`Authorization: Bearer …` or `?access_token=`) whose scopes allow the
//! route. Auth is required when `api.auth` is set or `api.requireAuth` is on; without
//! either, requests without credentials pass as before, but credentials that are given are
//! always checked, and a token is always held to its scopes.
//!
//! Every refusal is counted in `imapapi_api_auth_failures_total{reason}`: `missing`,
//! `invalid`, `expired` (401) and `scope` (403).

pub mod basic;
mod credentials;
pub mod scope_check;

use imapapi_common::Services;
use imapapi_common::clock::now_ms;
use imapapi_common::error::ApiError;
use imapapi_common::model::token::token_hash;
use warp::http::Method;
use warp::path::FullPath;
use warp::{Filter, Rejection};

use crate::error::{reject, store_error};
use crate::params::Query;
use credentials::Presented;

/// Passes a request its credentials allow; rejects with 401 (missing, unknown or expired
/// credentials) or 403 (a token whose scopes do not cover the route).
pub fn require(services: Services) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("authorization"))
        .and(crate::params::raw_query())
        .and_then(
            move |method: Method, path: FullPath, header: Option<String>, query: Query| {
                let services = services.clone();
                async move {
                    let presented = Presented::from_request(header.as_deref(), &query);
                    check(&services, presented, &method, path.as_str())
                        .await
                        .map_err(|(reason, e)| {
                            metrics::counter!("imapapi_api_auth_failures_total", "reason" => reason)
                                .increment(1);
                            reject(e)
                        })
                }
            },
        )
        .untuple_one()
}

/// A refusal: the metric's reason label and the error answered.
type Refusal = (&'static str, ApiError);

async fn check(
    services: &Services,
    presented: Presented,
    method: &Method,
    path: &str,
) -> Result<(), Refusal> {
    let api = &services.config.api;
    match presented {
        Presented::Nothing if api.auth.is_none() && !api.require_auth => Ok(()),
        Presented::Nothing => Err(unauthorized("missing", "Missing credentials")),
        Presented::Malformed => Err(unauthorized("invalid", "Invalid credentials")),
        Presented::Basic(header) => match &api.auth {
            Some(expected) if basic::matches(expected, &header) => Ok(()),
            _ => Err(unauthorized("invalid", "Invalid credentials")),
        },
        Presented::Token(token) => {
            let record = services
                .store
                .token_by_hash(&token_hash(token.expose()))
                .await
                .map_err(|e| ("store", store_error(e)))?
                .ok_or_else(|| unauthorized("invalid", "Invalid access token"))?;
            if record.expired_at(now_ms()) {
                return Err(unauthorized("expired", "The access token has expired"));
            }
            if !scope_check::allows(&record.scopes, method, path) {
                return Err((
                    "scope",
                    ApiError::new(
                        403,
                        "Forbidden",
                        "The access token's scopes do not allow this request",
                    ),
                ));
            }
            Ok(())
        }
    }
}

fn unauthorized(reason: &'static str, message: &str) -> Refusal {
    (reason, ApiError::new(401, "Unauthorized", message))
}
