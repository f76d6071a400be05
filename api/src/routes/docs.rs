//! Swagger UI at `/docs/`, so the API can be read and tried from a browser. Every file comes
//! from the binary (utoipa-swagger-ui's `vendored` copy): a gateway without Internet access
//! still has working docs, and the page loads nothing from another host.
//!
//! Public, like `/health` and the document itself: a browser navigating here cannot send a
//! bearer token, and the pages hold documentation, not data. Credentials go in the UI's
//! Authorize dialog, which adds them to every "Try it out" request.
//!
//! Not an API operation, so neither in the OpenAPI document nor in `routes::RESOURCES`:
//! `crate::routes()` mounts [`routes`] itself, and the coverage test in `tests/openapi.rs`
//! checks [`PREFIXES`] separately.

use std::borrow::Cow;
use std::sync::Arc;

use imapapi_common::error::ApiError;
use utoipa_swagger_ui::{Config, SwaggerFile};
use warp::filters::BoxedFilter;
use warp::http::Uri;
use warp::http::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};
use warp::path::{FullPath, Tail};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::error::error_response;

/// The path prefixes the UI answers under: `/docs/` serves it; `/swagger/`, where some
/// clients look first, redirects there.
pub const PREFIXES: &[&str] = &["/docs", "/swagger"];

/// Where the UI lives. The trailing slash matters: the page loads its files by relative
/// URLs (`./swagger-ui.css`), which resolve under `/docs/` but not under `/docs`.
const HOME: &str = "/docs/";

/// `GET /docs/`, its files, and the redirects to it.
pub fn routes() -> BoxedFilter<(Response,)> {
    let config = Arc::new(ui_config());
    let ui = warp::path("docs")
        .and(warp::get())
        .and(warp::path::full())
        .and(warp::path::tail())
        .and_then(move |full: FullPath, tail: Tail| {
            let config = config.clone();
            async move { serve_file(full.as_str(), tail.as_str(), config) }
        });
    // Only the bare alias redirects: any `/swagger/...` path would be a metrics label of
    // its own (see `crate::routes`), so the rest stays a plain 404.
    let alias = warp::path("swagger")
        .and(warp::get())
        .and(warp::path::tail())
        .and_then(|tail: Tail| async move {
            match tail.as_str() {
                "" => Ok(home()),
                _ => Err(warp::reject::not_found()),
            }
        });
    ui.or(alias).unify().boxed()
}

fn ui_config() -> Config<'static> {
    Config::new(["/openapi.json"])
        // What was entered in Authorize survives a reload (the browser's local storage), so
        // trying routes with auth on does not mean typing the token again on every visit.
        .persist_authorization(true)
        // The default validator badge sends the document to validator.swagger.io: another
        // host, unreachable from an offline gateway.
        .validator_url("none")
        // Operation ids follow the original API; clients generated from it use them.
        .display_operation_id(true)
}

fn serve_file(full: &str, tail: &str, config: Arc<Config<'static>>) -> Result<Response, Rejection> {
    if tail.is_empty() && !full.ends_with('/') {
        return Ok(home());
    }
    match utoipa_swagger_ui::serve(tail, config) {
        Ok(Some(file)) => Ok(file_response(file)),
        Ok(None) => Err(warp::reject::not_found()),
        Err(e) => {
            tracing::error!(error = %e, file = tail, "serving a Swagger UI file failed");
            Ok(error_response(&ApiError::internal(
                "Could not serve the Swagger UI",
            )))
        }
    }
}

fn home() -> Response {
    warp::redirect::found(Uri::from_static(HOME)).into_response()
}

fn file_response(file: SwaggerFile<'static>) -> Response {
    let mut res = Response::new(match file.bytes {
        Cow::Borrowed(bytes) => bytes.into(),
        Cow::Owned(bytes) => bytes.into(),
    });
    let headers = res.headers_mut();
    // Every text file of the dist is UTF-8; saying so spares browsers the guess.
    let content_type = match file.content_type.as_str() {
        t @ ("text/html" | "text/css" | "text/javascript" | "application/javascript") => {
            format!("{t}; charset=utf-8")
        }
        t => t.to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    if file.gzpipped {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    res
}
