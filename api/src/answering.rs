//! What uploads and sends share before a message is built: answering a referenced message
//! (its In-Reply-To, References and subject, or 404 when it is gone), and building off the
//! request workers.

use imapapi_common::Services;
use imapapi_common::command::GetMessage;
use imapapi_common::command::client::send;
use imapapi_common::compose::{MessageDraft, MessageReference, prefixed_subject, reply_headers};
use imapapi_common::error::ApiError;
use imapapi_common::model::MessageDetails;

/// The draft as a reply to or forward of the referenced message; its error (404 when the
/// message is gone) stops the upload.
pub async fn answering(
    services: &Services,
    account: &str,
    reference: &MessageReference,
    mut draft: MessageDraft,
) -> Result<MessageDraft, ApiError> {
    let request = GetMessage {
        message: reference.message.clone(),
        max_bytes: Some(0),
        text_type: None,
    };
    let original = send(services, account, request).await?;
    let references = header(&original, "references");
    // The details carry only the first In-Reply-To id; the header has them all.
    let in_reply_to = header(&original, "in-reply-to").or_else(|| original.in_reply_to.clone());
    let (in_reply_to, references) = reply_headers(
        original.message_id.as_deref(),
        in_reply_to.as_deref(),
        references.as_deref(),
    );
    draft.in_reply_to = in_reply_to;
    draft.references = references;
    if draft.subject.is_none() {
        let subject = original.subject.as_deref().unwrap_or_default();
        draft.subject = Some(prefixed_subject(reference.action, subject));
    }
    Ok(draft)
}

/// Every value of a header of the original, joined.
fn header(original: &MessageDetails, name: &str) -> Option<String> {
    original
        .headers
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|v| v.join(" "))
}

/// Checking and building walk every byte of a body of up to `api.maxSize` (base64, MIME
/// encoding): that is work for the blocking pool, not for a request worker.
pub async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "message build task failed");
        ApiError::internal("Could not build the message")
    })?
}
