//! `POST /v1/account/:account/message`: build a message from its JSON description (the
//! contract's `MessageUpload`) and APPEND it to a folder through the owning ingest.
//!
//! Everything the client sent is checked before anything is asked of IMAP, and the
//! message is built here, in the api: ingest only receives finished bytes.

use std::collections::BTreeMap;

use imapapi_common::Services;
use imapapi_common::command::message::is_valid_flag;
use imapapi_common::command::{UploadMessage, UploadMessageReply, WireBytes};
use imapapi_common::compose::{AttachmentDraft, MessageDraft, MessageReference};
use imapapi_common::error::ApiError;
use imapapi_common::ids::MessageId;
use imapapi_common::model::Address;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::answering::{answering, off_the_runtime};
use crate::error::{json_ok, respond};
use crate::openapi::{CommandErrors, tags};
use crate::routes::{Route, account_id, require_account, with};
use imapapi_common::command::client::send;

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::post("/v1/account/{account}/message")];

/// Longest folder path accepted, as for listings.
const MAX_PATH: usize = 1024;

/// The upload route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    let max_size = services.config.api.max_size;
    warp::path!("v1" / "account" / String / "message")
        .and(warp::post())
        .and(with(services))
        .and(crate::body::json::<UploadBody>(max_size))
        .then(|id: String, s: Services, body: UploadBody| async move {
            respond(upload_message(s, id, body).await)
        })
        .boxed()
}

/// The contract's `MessageUpload`: where to store the message, and the message. The
/// message fields are those of [`MessageDraft`] (plus `replyTo`); they are spelled out
/// rather than flattened because serde's flatten loses unknown-field checks and the field
/// names in errors.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadBody {
    /// The folder to store the message in, its whole path.
    #[schema(min_length = 1, max_length = 1024)]
    pub path: String,
    /// Flags to store the message with (`\Seen`, `$Label`).
    #[serde(default)]
    pub flags: Vec<String>,
    /// The message this one replies to or forwards: it gives `In-Reply-To`, `References`
    /// and, without a `subject`, the subject.
    #[serde(default)]
    pub reference: Option<MessageReference>,
    pub from: Address,
    #[serde(default)]
    pub to: Vec<Address>,
    #[serde(default)]
    pub cc: Vec<Address>,
    #[serde(default)]
    pub bcc: Vec<Address>,
    #[serde(default)]
    pub reply_to: Option<Address>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentDraft>,
    /// `<id@domain>`; one is generated when absent.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Extra header fields, name → value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// Where the built message goes.
struct Target {
    path: String,
    flags: Vec<String>,
}

impl UploadBody {
    fn into_parts(self) -> (Target, Option<MessageReference>, MessageDraft) {
        let target = Target {
            path: self.path,
            flags: self.flags,
        };
        let draft = MessageDraft {
            to: self.to,
            cc: self.cc,
            bcc: self.bcc,
            reply_to: self.reply_to,
            subject: self.subject,
            text: self.text,
            html: self.html,
            attachments: self.attachments,
            message_id: self.message_id,
            headers: self.headers,
            ..MessageDraft::new(self.from)
        };
        (target, self.reference, draft)
    }
}

impl Target {
    fn check(&self) -> Result<(), ApiError> {
        if self.path.is_empty() || self.path.chars().count() > MAX_PATH {
            return Err(ApiError::invalid(
                "path",
                format!("length must be 1 to {MAX_PATH} characters"),
            ));
        }
        if self.path.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "path",
                "must not contain control characters",
            ));
        }
        match self.flags.iter().position(|f| !is_valid_flag(f)) {
            Some(i) => Err(ApiError::invalid(
                &format!("flags[{i}]"),
                "must be an IMAP flag or keyword like \\Seen or $Label",
            )),
            None => Ok(()),
        }
    }
}

/// `{id, path, uid, seq}` as the original answered, plus the `messageId` of the message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadResponse {
    #[serde(flatten)]
    pub stored: UploadMessageReply,
    /// The `Message-ID` header of the stored message.
    pub message_id: String,
}

/// Build a message and store it in a folder.
///
/// `POST /v1/account/:account/message`: build the described message (Bcc kept, since this
/// is the sender's own copy) and APPEND it to `path` with `flags` →
/// `{id, path, uid, seq, messageId}`. With `reference`, the referenced message must exist
/// (404 otherwise, and nothing is stored); it gives In-Reply-To and References and, when
/// no subject is given, the subject with `Re: ` or `Fwd: `.
#[utoipa::path(
    post,
    path = "/v1/account/{account}/message",
    operation_id = "postV1AccountAccountMessage",
    tag = tags::MESSAGE,
    params(("account" = String, Path, max_length = 256, description = "The account id")),
    request_body = UploadBody,
    responses(
        (status = 200, description = "Where the message was stored", body = UploadResponse),
        (status = 400, description = "Invalid message description or account id", body = ApiError),
        (status = 404, description = "Unknown account, folder or referenced message", body = ApiError),
        (status = 413, description = "Body larger than `api.maxSize`", body = ApiError),
        CommandErrors,
    )
)]
pub async fn upload_message(
    services: Services,
    raw_id: String,
    body: UploadBody,
) -> Result<Response, ApiError> {
    let id = account_id(&raw_id)?;
    let (target, reference, draft) = body.into_parts();
    target.check()?;
    if let Some(r) = &reference {
        MessageId::parse(&r.message).map_err(|_| {
            ApiError::invalid("reference.message", "must be a message id from a listing")
        })?;
    }
    let draft = off_the_runtime(move || draft.validate().map(|()| draft)).await?;
    require_account(&services, &id).await?;
    let draft = match reference {
        Some(r) => answering(&services, &id, &r, draft).await?,
        None => draft,
    };
    let built = off_the_runtime(move || draft.build(true)).await?;
    let request = UploadMessage {
        path: target.path,
        raw: WireBytes(built.raw),
        flags: target.flags,
    };
    let stored = send(&services, &id, request).await?;
    Ok(json_ok(&UploadResponse {
        stored,
        message_id: built.message_id,
    }))
}
