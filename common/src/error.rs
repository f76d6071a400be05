//! The JSON error body every REST error and every failed command reply carries.
//!
//! It lives in `common` because ingest produces these errors (in command replies) and api
//! renders them; both must agree on status codes.

use serde::{Deserialize, Serialize};

/// `{"error": "...", "code": "...", "statusCode": N}` as the REST API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{code} ({status_code}): {error}")]
pub struct ApiError {
    pub error: String,
    pub code: String,
    pub status_code: u16,
}

impl ApiError {
    pub fn new(status_code: u16, code: &str, error: impl Into<String>) -> Self {
        ApiError {
            error: error.into(),
            code: code.to_string(),
            status_code,
        }
    }
    /// 400 for a field that failed validation; the message names the field.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InputValidationError",
            format!("\"{field}\" {problem}"),
        )
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(404, "NotFound", what)
    }
    /// 503: the account has no live IMAP connection right now.
    pub fn no_connection(account: &str) -> Self {
        Self::new(
            503,
            "NoActiveConnection",
            format!("No active IMAP connection for account \"{account}\""),
        )
    }
    /// 504: the owning ingest process did not answer within `service.commandTimeout`.
    pub fn timeout() -> Self {
        Self::new(504, "Timeout", "Command timed out")
    }
    /// 502: the IMAP server refused or failed the operation.
    pub fn imap(error: impl Into<String>) -> Self {
        Self::new(502, "IMAPError", error)
    }
    pub fn internal(error: impl Into<String>) -> Self {
        Self::new(500, "InternalError", error)
    }
}
