//! `/v1/account/:account/mailbox`: creating, deleting and (beyond the original) renaming a
//! folder. New paths come as segments (`["Parent", "Child"]`) so the client need not know
//! the server's hierarchy delimiter; ingest joins them and encodes them for the wire.

use imapapi_common::Services;
use imapapi_common::command::{
    CreateMailbox, CreateMailboxReply, DeleteMailbox, DeleteMailboxReply, RenameMailbox,
    RenameMailboxReply,
};
use imapapi_common::error::ApiError;
use serde::Deserialize;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond};
use crate::openapi::{CommandErrors, tags};
use crate::params::{Query, query};
use crate::routes::{Route, account_id, check_mailbox_path, require_account, with};
use imapapi_common::command::client::send;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[
    Route::post("/v1/account/{account}/mailbox"),
    Route::delete("/v1/account/{account}/mailbox"),
    Route::put("/v1/account/{account}/mailbox"),
];

/// Most segments in a new path.
const MAX_SEGMENTS: usize = 32;
/// Longest segment.
const MAX_SEGMENT_CHARS: usize = 256;

/// The body of `POST /v1/account/:account/mailbox`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateMailboxBody {
    /// The new folder's path as segments (`["Parent", "Child"]`), each 1–256 characters.
    #[schema(min_items = 1, max_items = 32)]
    pub path: Vec<String>,
}

/// The body of `PUT /v1/account/:account/mailbox`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RenameMailboxBody {
    /// The folder to rename, its whole path (`Parent/Child`).
    #[schema(min_length = 1, max_length = 1024)]
    pub path: String,
    /// The new path as segments, each 1–256 characters.
    #[schema(min_items = 1, max_items = 32)]
    pub new_path: Vec<String>,
}

/// The folder routes.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    let create = warp::path!("v1" / "account" / String / "mailbox")
        .and(warp::post())
        .and(with(services.clone()))
        .and(crate::body::json::<CreateMailboxBody>(max_size))
        .then(
            |id: String, s: Services, body: CreateMailboxBody| async move {
                respond(create_mailbox(s, id, body).await)
            },
        );
    let delete = warp::path!("v1" / "account" / String / "mailbox")
        .and(warp::delete())
        .and(with(services.clone()))
        .and(query())
        .then(|id: String, s: Services, q: Query| async move {
            respond(delete_mailbox(s, id, q).await)
        });
    let rename = warp::path!("v1" / "account" / String / "mailbox")
        .and(warp::put())
        .and(with(services))
        .and(crate::body::json::<RenameMailboxBody>(max_size))
        .then(
            |id: String, s: Services, body: RenameMailboxBody| async move {
                respond(rename_mailbox(s, id, body).await)
            },
        );
    create.or(delete).unify().or(rename).unify().boxed()
}

/// A path given as segments: 1–32 of them, each 1–256 characters without line breaks; the
/// error names the segment (`path[2]`).
fn check_segments(field: &str, segments: &[String]) -> Result<(), ApiError> {
    if segments.is_empty() {
        return Err(ApiError::invalid(field, "must contain at least 1 items"));
    }
    if segments.len() > MAX_SEGMENTS {
        return Err(ApiError::invalid(
            field,
            format!("must contain less than or equal to {MAX_SEGMENTS} items"),
        ));
    }
    for (i, segment) in segments.iter().enumerate() {
        let name = format!("{field}[{i}]");
        if segment.is_empty() {
            return Err(ApiError::invalid(&name, "is not allowed to be empty"));
        }
        if segment.chars().count() > MAX_SEGMENT_CHARS {
            return Err(ApiError::invalid(
                &name,
                format!("length must be less than or equal to {MAX_SEGMENT_CHARS} characters long"),
            ));
        }
        if segment.contains(['\r', '\n', '\0']) {
            return Err(ApiError::invalid(&name, "must not contain line breaks"));
        }
    }
    Ok(())
}

/// Create a folder.
///
/// `POST /v1/account/:account/mailbox` with `{path: ["Parent", "Child"]}` →
/// `{path, mailboxId?, created}` (`created: false` when it existed already). 400 naming the
/// segment, 404 for an unknown account.
#[utoipa::path(
    post,
    path = "/v1/account/{account}/mailbox",
    operation_id = "postV1AccountAccountMailbox",
    tag = tags::MAILBOX,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    request_body = CreateMailboxBody,
    responses(
        (status = 200, description = "The folder exists now", body = CreateMailboxReply),
        (status = 400, description = "Invalid path or account id", body = ApiError),
        (status = 404, description = "Unknown account", body = ApiError),
        CommandErrors,
    )
)]
pub async fn create_mailbox(
    services: Services,
    raw_id: String,
    body: CreateMailboxBody,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    check_segments("path", &body.path)?;
    require_account(&services, &id).await?;
    let request = CreateMailbox { path: body.path };
    Ok(json_ok(&send(&services, &id, request).await?))
}

/// Delete a folder.
///
/// `DELETE /v1/account/:account/mailbox?path=Parent/Child` → `{path, deleted}`. 400 for a
/// missing or malformed `path`, 404 for an unknown account or folder.
#[utoipa::path(
    delete,
    path = "/v1/account/{account}/mailbox",
    operation_id = "deleteV1AccountAccountMailbox",
    tag = tags::MAILBOX,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("path" = String, Query, min_length = 1, max_length = 1024,
            description = "The folder's whole path (`Parent/Child`)"),
    ),
    responses(
        (status = 200, description = "The folder was deleted", body = DeleteMailboxReply),
        (status = 400, description = "Missing or invalid path, or account id", body = ApiError),
        (status = 404, description = "Unknown account or folder", body = ApiError),
        CommandErrors,
    )
)]
pub async fn delete_mailbox(
    services: Services,
    raw_id: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    q.only(&["path"])?;
    let path = q.required("path")?.to_string();
    check_mailbox_path("path", &path)?;
    require_account(&services, &id).await?;
    Ok(json_ok(
        &send(&services, &id, DeleteMailbox { path }).await?,
    ))
}

/// Rename a folder (not in the original).
///
/// `PUT /v1/account/:account/mailbox` with `{path: "Old", newPath: ["New", "Name"]}` →
/// `{path, newPath, renamed}`. 400 naming the field, 404 for an unknown account or folder.
#[utoipa::path(
    put,
    path = "/v1/account/{account}/mailbox",
    operation_id = "putV1AccountAccountMailbox",
    tag = tags::MAILBOX,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    request_body = RenameMailboxBody,
    responses(
        (status = 200, description = "The folder was renamed", body = RenameMailboxReply),
        (status = 400, description = "Invalid path or account id", body = ApiError),
        (status = 404, description = "Unknown account or folder", body = ApiError),
        CommandErrors,
    )
)]
pub async fn rename_mailbox(
    services: Services,
    raw_id: String,
    body: RenameMailboxBody,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    check_mailbox_path("path", &body.path)?;
    check_segments("newPath", &body.new_path)?;
    require_account(&services, &id).await?;
    let request = RenameMailbox {
        path: body.path,
        new_path: body.new_path,
    };
    Ok(json_ok(&send(&services, &id, request).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(segments: &[&str]) -> String {
        let segments: Vec<String> = segments.iter().map(|s| s.to_string()).collect();
        check_segments("path", &segments).unwrap_err().fields[0]
            .key
            .clone()
    }

    #[test]
    fn segments_are_checked_one_by_one() {
        assert!(check_segments("path", &["INBOX".into(), "Sub".into()]).is_ok());
        assert_eq!(key(&[]), "path");
        assert_eq!(key(&["a"; 33]), "path");
        assert_eq!(key(&["a", ""]), "path[1]");
        assert_eq!(key(&["a", "b", "c\r\nd"]), "path[2]");
        let long = "é".repeat(257);
        assert_eq!(key(&[long.as_str()]), "path[0]");
        assert!(check_segments("path", &["é".repeat(256)]).is_ok());
    }
}
