//! Changing one message: its flags and Gmail labels, its folder, or deleting it. Each is one
//! command to the owning ingest; input is checked here first so that nothing malformed can
//! reach the IMAP wire.

use imapapi_common::Services;
use imapapi_common::command::message::is_valid_flag;
use imapapi_common::command::{
    DeleteMessage, DeleteMessageReply, FlagUpdate, MoveMessage, MoveMessageReply, UpdateFlags,
    UpdateFlagsReply,
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
use crate::routes::{Route, account_id, check_mailbox_path, message_id, require_account, with};
use imapapi_common::command::client::send;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[
    Route::put("/v1/account/{account}/message/{message}"),
    Route::put("/v1/account/{account}/message/{message}/move"),
    Route::delete("/v1/account/{account}/message/{message}"),
];

/// Most entries in one `add`, `delete` or `set` list.
const MAX_ENTRIES: usize = 100;

/// Longest label (as the original: 128 characters).
const MAX_LABEL_CHARS: usize = 128;

/// The body of `PUT /v1/account/:account/message/:message`: at least one of `flags` and
/// `labels`, each list at most 100 entries.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MessageUpdate {
    /// IMAP flags and keywords (`\Seen`, `$Label`).
    pub flags: Option<FlagUpdate>,
    /// Gmail labels (up to 128 characters, spaces allowed).
    pub labels: Option<FlagUpdate>,
}

/// The body of `PUT /v1/account/:account/message/:message/move`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MessageMove {
    /// The target folder's whole path.
    #[schema(min_length = 1, max_length = 1024)]
    pub path: String,
}

/// The routes that change a message.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    let update = warp::path!("v1" / "account" / String / "message" / String)
        .and(warp::put())
        .and(with(services.clone()))
        .and(crate::body::json::<MessageUpdate>(max_size))
        .then(
            |id: String, message: String, s: Services, body: MessageUpdate| async move {
                respond(update_message(s, id, message, body).await)
            },
        );
    let move_to = warp::path!("v1" / "account" / String / "message" / String / "move")
        .and(warp::put())
        .and(with(services.clone()))
        .and(crate::body::json::<MessageMove>(max_size))
        .then(
            |id: String, message: String, s: Services, body: MessageMove| async move {
                respond(move_message(s, id, message, body).await)
            },
        );
    let delete = warp::path!("v1" / "account" / String / "message" / String)
        .and(warp::delete())
        .and(with(services))
        .and(query())
        .then(
            |id: String, message: String, s: Services, q: Query| async move {
                respond(delete_message(s, id, message, q).await)
            },
        );
    update.or(move_to).unify().or(delete).unify().boxed()
}

/// Change the flags or labels of a message.
///
/// `PUT /v1/account/:account/message/:message` with `{flags?: {add, delete, set}, labels?:
/// {add, delete, set}}` → which changes were applied, `{flags: {add: true, …}, labels?}`.
/// 400 naming the field for an invalid flag or label (`flags.add[1]`), a list over 100
/// entries, or a body with neither `flags` nor `labels`; 404 for an unknown account or
/// message.
#[utoipa::path(
    put,
    path = "/v1/account/{account}/message/{message}",
    operation_id = "putV1AccountAccountMessageMessage",
    tag = tags::MESSAGE,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("message" = String, Path, max_length = 256, description = "The message id, from a listing"),
    ),
    request_body = MessageUpdate,
    responses(
        (status = 200, description = "Which changes were applied", body = UpdateFlagsReply),
        (status = 400, description = "Invalid flag or label, or malformed id", body = ApiError),
        (status = 404, description = "Unknown account or message", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
        CommandErrors,
    )
)]
pub async fn update_message(
    services: Services,
    raw_id: String,
    raw_message: String,
    body: MessageUpdate,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let message = message_id(&raw_message)?;
    if body.flags.is_none() && body.labels.is_none() {
        return Err(ApiError::invalid("flags", "or \"labels\" must be given"));
    }
    if let Some(flags) = &body.flags {
        check_update("flags", flags, check_flag)?;
    }
    if let Some(labels) = &body.labels {
        check_update("labels", labels, check_label)?;
    }
    require_account(&services, &id).await?;
    let request = UpdateFlags {
        message,
        flags: body.flags,
        labels: body.labels,
    };
    Ok(json_ok(&send(&services, &id, request).await?))
}

/// Check each list of an update with `check`; the error names the entry
/// (`labels.set[3]`).
fn check_update(
    field: &str,
    update: &FlagUpdate,
    check: fn(&str) -> Result<(), &'static str>,
) -> Result<(), ApiError> {
    let lists = [
        ("add", &update.add),
        ("delete", &update.delete),
        ("set", &update.set),
    ];
    if lists.iter().all(|(_, list)| list.is_none()) {
        return Err(ApiError::invalid(
            field,
            "must have at least one of add, delete, set",
        ));
    }
    for (name, list) in lists {
        let Some(list) = list else { continue };
        if list.len() > MAX_ENTRIES {
            return Err(ApiError::invalid(
                &format!("{field}.{name}"),
                format!("must contain less than or equal to {MAX_ENTRIES} items"),
            ));
        }
        for (i, entry) in list.iter().enumerate() {
            check(entry)
                .map_err(|problem| ApiError::invalid(&format!("{field}.{name}[{i}]"), problem))?;
        }
    }
    Ok(())
}

/// Flags go on the wire as atoms, so they must be atoms.
fn check_flag(flag: &str) -> Result<(), &'static str> {
    if is_valid_flag(flag) {
        Ok(())
    } else {
        Err(
            "must be a flag such as \\Seen or $Label (at most 128 characters, no spaces, quotes, parentheses or wildcards)",
        )
    }
}

/// Gmail labels may hold spaces (`"Some label"` is the contract's own example), so they go
/// on the wire as quoted strings: anything but control characters fits.
fn check_label(label: &str) -> Result<(), &'static str> {
    if label.is_empty() {
        return Err("is not allowed to be empty");
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err("length must be less than or equal to 128 characters long");
    }
    if label.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// Move a message to another folder.
///
/// `PUT /v1/account/:account/message/:message/move` with `{path}` → `{path, id, uid}`, the
/// message's place in the target folder (`id` and `uid` when the server reports them).
/// 400 for a malformed id or path, 404 for an unknown account or message.
#[utoipa::path(
    put,
    path = "/v1/account/{account}/message/{message}/move",
    operation_id = "putV1AccountAccountMessageMessageMove",
    tag = tags::MESSAGE,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("message" = String, Path, max_length = 256, description = "The message id, from a listing"),
    ),
    request_body = MessageMove,
    responses(
        (status = 200, description = "Where the message is now", body = MoveMessageReply),
        (status = 400, description = "Invalid path or malformed id", body = ApiError),
        (status = 404, description = "Unknown account or message", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
        CommandErrors,
    )
)]
pub async fn move_message(
    services: Services,
    raw_id: String,
    raw_message: String,
    body: MessageMove,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let message = message_id(&raw_message)?;
    check_mailbox_path("path", &body.path)?;
    require_account(&services, &id).await?;
    let request = MoveMessage {
        message,
        path: body.path,
    };
    Ok(json_ok(&send(&services, &id, request).await?))
}

/// Delete a message.
///
/// `DELETE /v1/account/:account/message/:message?force=false` → `{deleted, moved?:
/// {destination, messageId}}`: moved to Trash, or expunged when already in Trash or with
/// `force=true`. 400 for a malformed id or `force`, 404 for an unknown account or message.
#[utoipa::path(
    delete,
    path = "/v1/account/{account}/message/{message}",
    operation_id = "deleteV1AccountAccountMessageMessage",
    tag = tags::MESSAGE,
    params(
        ("account" = String, Path, max_length = 256, description = "The account id"),
        ("message" = String, Path, max_length = 256, description = "The message id, from a listing"),
        ("force" = Option<bool>, Query,
            description = "Expunge at once instead of moving to Trash (default `false`)"),
    ),
    responses(
        (status = 200, description = "The message was deleted or moved to Trash", body = DeleteMessageReply),
        (status = 400, description = "Malformed id or `force`", body = ApiError),
        (status = 404, description = "Unknown account or message", body = ApiError),
        CommandErrors,
    )
)]
pub async fn delete_message(
    services: Services,
    raw_id: String,
    raw_message: String,
    q: Query,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let message = message_id(&raw_message)?;
    q.only(&["force"])?;
    let force = q.boolean("force")?.unwrap_or(false);
    require_account(&services, &id).await?;
    let request = DeleteMessage { message, force };
    Ok(json_ok(&send(&services, &id, request).await?))
}
