//! Turns every failure into the contract's JSON error body `{"error", "code", "statusCode"}`.
//!
//! Handlers return `ApiError` values directly; filter-level failures (unknown route, wrong
//! method, body too large, bad basic auth) arrive as warp rejections and are mapped here, so
//! that no client ever sees warp's plain-text defaults.

use std::convert::Infallible;

use imapapi_common::error::ApiError;
use imapapi_common::store::StoreError;
use warp::http::StatusCode;
use warp::http::header::{HeaderValue, WWW_AUTHENTICATE};
use warp::reject::Reject;
use warp::reply::Response;
use warp::{Rejection, Reply};

/// An `ApiError` raised by a filter (body, query, auth) rather than by a handler.
#[derive(Debug)]
pub struct ApiReject(pub ApiError);

impl Reject for ApiReject {}

/// Reject the request with this error.
pub fn reject(e: ApiError) -> Rejection {
    warp::reject::custom(ApiReject(e))
}

/// The JSON response for an error. 401 carries the basic auth challenge.
pub fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = warp::reply::with_status(warp::reply::json(e), status).into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"imapapi\", charset=\"UTF-8\""),
        );
    }
    res
}

/// A handler's outcome as a response.
pub fn respond(result: Result<Response, ApiError>) -> Response {
    match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

/// A 200 JSON response.
pub fn json_ok<T: serde::Serialize>(value: &T) -> Response {
    warp::reply::json(value).into_response()
}

/// A store failure as a 500. The detail is logged, not returned: backend errors can carry
/// connection URLs.
pub fn store_error(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "store operation failed");
    ApiError::internal("Store operation failed")
}

/// The `recover` handler: maps every rejection to a JSON error.
pub async fn handle_rejection(r: Rejection) -> Result<Response, Infallible> {
    Ok(error_response(&rejection_to_error(&r)))
}

fn rejection_to_error(r: &Rejection) -> ApiError {
    if let Some(ApiReject(e)) = r.find::<ApiReject>() {
        return e.clone();
    }
    if r.is_not_found() {
        return ApiError::new(404, "NotFound", "Requested route was not found");
    }
    if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        return ApiError::new(405, "MethodNotAllowed", "Method not allowed for this route");
    }
    if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        return too_large();
    }
    if r.find::<warp::reject::InvalidQuery>().is_some() {
        return ApiError::new(400, "InputValidationError", "Invalid query string");
    }
    if let Some(h) = r.find::<warp::reject::InvalidHeader>() {
        return ApiError::new(
            400,
            "InputValidationError",
            format!("Invalid request header \"{}\"", h.name()),
        );
    }
    if let Some(h) = r.find::<warp::reject::MissingHeader>() {
        return ApiError::new(
            400,
            "InputValidationError",
            format!("Missing request header \"{}\"", h.name()),
        );
    }
    if r.find::<warp::reject::LengthRequired>().is_some() {
        return ApiError::new(411, "LengthRequired", "A content-length header is required");
    }
    if r.find::<warp::reject::UnsupportedMediaType>().is_some() {
        return ApiError::new(415, "UnsupportedMediaType", "Unsupported content type");
    }
    tracing::warn!(rejection = ?r, "unhandled rejection");
    ApiError::internal("Internal server error")
}

/// 413 for a body over `api.maxSize`.
pub fn too_large() -> ApiError {
    ApiError::new(
        413,
        "PayloadTooLarge",
        "Request body is larger than allowed",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn not_found_and_custom_are_json() {
        let res = handle_rejection(warp::reject::not_found()).await.unwrap();
        assert_eq!(res.status(), 404);
        let res = handle_rejection(reject(ApiError::new(401, "Unauthorized", "x")))
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().get(WWW_AUTHENTICATE).is_some());
    }
}
