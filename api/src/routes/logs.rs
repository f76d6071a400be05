//! `/v1/logs/:account`: the stored protocol log of an account whose connections are
//! logged (`logs` settings), as the original served it, for an operator debugging what the
//! gateway and the account's servers said to each other. Ingest (IMAP) and submit (SMTP)
//! record the lines (see `imapapi_common::protocol_log`); this only reads them.

use imapapi_common::Services;
use imapapi_common::error::ApiError;
use imapapi_common::store::logs::max_log_lines;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::HeaderValue;
use warp::http::header::CONTENT_TYPE;
use warp::reply::Response;

use crate::error::{respond, store_error};
use crate::openapi::tags;
use crate::params::{Query, query};
use crate::routes::{Route, account_id, require_account, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/logs/{account}")];

/// The log route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "logs" / String)
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(|id: String, s: Services, q: Query| async move { respond(get_logs(s, id, q).await) })
        .boxed()
}

/// Download the protocol log of an account.
///
/// `GET /v1/logs/:account` → `text/plain`, one line per entry, oldest first:
/// `<ISO time> <C:|S:> <line>`, `C:` for what the gateway sent, `S:` for what the server
/// answered, from every connection of the account (the one watching for changes, those
/// running commands, and sends, whose lines start with `[smtp] `; a sent message shows as
/// one `[message: N bytes]` line). Only the newest `logs.maxLogLines` (default 10000) are kept;
/// credentials show as `******`, and a line with its literals is cut after 2 KiB. Empty
/// when the account is not logged (`logs.all`, `logs.accounts`); 404 for an unknown account.
#[utoipa::path(
    get,
    path = "/v1/logs/{account}",
    operation_id = "getV1LogsAccount",
    tag = tags::ACCOUNT,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    responses(
        (status = 200, description = "The stored protocol lines, oldest first",
            content_type = "text/plain", body = String),
        (status = 400, description = "Invalid account id or unknown query parameter", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
    )
)]
pub async fn get_logs(services: Services, raw_id: String, q: Query) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    q.only(&[])?;
    require_account(&services, &id).await?;
    let settings = services.store.get_settings().await.map_err(store_error)?;
    let lines = services
        .store
        .read_log(&id, max_log_lines(&settings))
        .await
        .map_err(store_error)?;
    let mut response = Response::new(render(&lines).into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

/// The lines as the body: each ended by a line break.
fn render(lines: &[String]) -> String {
    let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        body.push_str(line);
        body.push('\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn one_line_per_entry() {
        assert_eq!(render(&[]), "");
        let lines = ["t S: * OK".to_string(), "t C: A1 NOOP".to_string()];
        assert_eq!(render(&lines), "t S: * OK\nt C: A1 NOOP\n");
    }
}
