//! The REST resources, one module each, and what their handlers share.

pub mod accounts;
pub mod deadletters;
pub mod mailboxes;
pub mod messages;
pub mod settings;
pub mod upload;

use std::convert::Infallible;

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::model::AccountConfig;
use warp::Filter;

use crate::error::store_error;
use crate::params::decode_segment;

/// Hands each handler its own clone of the services.
pub fn with(services: Services) -> impl Filter<Extract = (Services,), Error = Infallible> + Clone {
    warp::any().map(move || services.clone())
}

/// The `:account` path parameter, decoded and checked for length.
pub fn account_id(raw: &str) -> Result<String, ApiError> {
    let id = decode_segment("account", raw)?;
    if id.is_empty() || id.chars().count() > 256 {
        return Err(ApiError::invalid(
            "account",
            "length must be 1 to 256 characters",
        ));
    }
    Ok(id)
}

/// The stored account, or 404. Every `/v1/account/:account/...` route checks this before
/// sending a command, so an unknown account is a 404 rather than a 503.
pub async fn require_account(services: &Services, id: &str) -> Result<AccountConfig, ApiError> {
    services
        .store
        .get_account(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(format!("Account \"{id}\" was not found")))
}
