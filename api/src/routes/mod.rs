//! The REST resources, one module each, and what their handlers share.

pub mod accounts;
pub mod attachment;
pub mod body_stream;
pub mod deadletters;
pub mod mailbox;
pub mod mailboxes;
pub mod message_update;
pub mod messages;
pub mod reconnect;
pub mod search;
pub mod settings;
pub mod source;
pub mod stats;
pub mod text;
pub mod upload;
pub mod verify;

use std::convert::Infallible;

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::ids::MessageId;
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

/// The `:message` path parameter, decoded and checked to be a message id (400 naming
/// `message` otherwise), as the command carries it.
pub fn message_id(raw: &str) -> Result<String, ApiError> {
    let message = decode_segment("message", raw)?;
    MessageId::parse(&message)?;
    Ok(message)
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

/// Longest folder path accepted (as the original's listing: 1024 characters).
const MAX_PATH_CHARS: usize = 1024;

/// A folder path given whole (`INBOX`, `Parent/Child`): not empty, at most 1024
/// characters, and no line breaks or NUL: no folder name has them, and a quoted IMAP
/// string cannot carry them.
pub fn check_mailbox_path(field: &str, path: &str) -> Result<(), ApiError> {
    if path.is_empty() {
        return Err(ApiError::invalid(field, "is not allowed to be empty"));
    }
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("length must be less than or equal to {MAX_PATH_CHARS} characters long"),
        ));
    }
    if path.contains(['\r', '\n', '\0']) {
        return Err(ApiError::invalid(field, "must not contain line breaks"));
    }
    Ok(())
}
