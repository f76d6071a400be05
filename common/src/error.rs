//! The JSON error body every REST error and every failed command reply carries.
//!
//! It lives in `common` because ingest produces these errors (in command replies) and api
//! renders them; both must agree on status codes. The shape is the original's
//! (`statusCode`, `error` = the HTTP reason phrase, `message`) plus our own stable `code`
//! and, for invalid input, `fields` naming each offending field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One invalid input field: `key` is its path in the request (`imap.port`, `to[1].address`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    pub message: String,
    pub key: String,
}

/// `{"statusCode": N, "error": "<reason>", "message": "...", "code": "...", "fields": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{code} ({status_code}): {message}")]
pub struct ApiError {
    /// The HTTP status code of the response.
    pub status_code: u16,
    /// The HTTP reason phrase of `status_code` (`"Bad Request"`), as the original had it.
    pub error: String,
    pub message: String,
    /// A stable name of the error for programs (`InputValidationError`, `NotFound`,
    /// `NoActiveConnection`, `Timeout`, `IMAPError`, …).
    pub code: String,
    /// Each invalid input field, for a 400 about the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// The reason phrase of the status codes this API answers with.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

impl ApiError {
    pub fn new(status_code: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status_code,
            error: reason_phrase(status_code).to_string(),
            message: message.into(),
            code: code.to_string(),
            fields: Vec::new(),
        }
    }
    /// 400 for a field that failed validation; the message names the field and `fields`
    /// carries it for programs.
    pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        let message = format!("\"{field}\" {problem}");
        let mut e = Self::new(400, "InputValidationError", message.clone());
        e.fields.push(FieldError {
            message,
            key: field.to_string(),
        });
        e
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
    /// 504: the IMAP side did not answer within `service.commandTimeout`.
    pub fn timeout() -> Self {
        Self::new(504, "Timeout", "Command timed out")
    }
    /// 502: the IMAP server refused or failed the operation.
    pub fn imap(message: impl Into<String>) -> Self {
        Self::new(502, "IMAPError", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_original_shape_plus_code_and_fields() {
        let e = ApiError::invalid("imap.port", "must be a number");
        let j = serde_json::to_value(&e).unwrap();
        assert_eq!(j["statusCode"], 400);
        assert_eq!(j["error"], "Bad Request");
        assert_eq!(j["message"], "\"imap.port\" must be a number");
        assert_eq!(j["code"], "InputValidationError");
        assert_eq!(j["fields"][0]["key"], "imap.port");
        let j = serde_json::to_value(ApiError::not_found("x")).unwrap();
        assert_eq!(j["error"], "Not Found");
        assert!(j.get("fields").is_none());
    }
}
