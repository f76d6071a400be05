//! What uploads and sends share before a message is built: answering a referenced message
//! (its In-Reply-To, References and subject, or 404 when it is gone), attaching it to a
//! forward, and building off the request workers.

use base64::Engine as _;
use imapapi_common::Services;
use imapapi_common::command::client::send;
use imapapi_common::command::{GetMessage, ReadBody};
use imapapi_common::compose::{
    AttachmentDraft, ContentEncoding, Disposition, MessageDraft, MessageReference,
    prefixed_subject, reply_headers,
};
use imapapi_common::error::ApiError;
use imapapi_common::model::{Address, MessageDetails};

use crate::routes::body_stream::RANGE_LENGTH;

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

/// The draft with the referenced message attached whole (`message/rfc822`), as a forward
/// carries it. 413 when the original is larger than `max_size`: it would make a message
/// the api itself refuses.
pub async fn attach_original(
    services: &Services,
    account: &str,
    reference: &MessageReference,
    mut draft: MessageDraft,
    max_size: u64,
) -> Result<MessageDraft, ApiError> {
    let mut source = Vec::new();
    let mut offset = 0u64;
    loop {
        let request = ReadBody {
            message: reference.message.clone(),
            part: None,
            offset,
            length: RANGE_LENGTH,
        };
        let chunk = send(services, account, request).await?;
        if let Some(info) = &chunk.info
            && info.size > max_size
        {
            return Err(ApiError::new(
                413,
                "PayloadTooLarge",
                "The referenced message is larger than api.maxSize and cannot be forwarded",
            ));
        }
        offset += chunk.data.0.len() as u64;
        source.extend_from_slice(&chunk.data.0);
        if chunk.eof || chunk.data.0.is_empty() || source.len() as u64 > max_size {
            break;
        }
    }
    let filename = eml_name(draft.subject.as_deref().unwrap_or_default());
    let content =
        off_the_runtime(move || Ok(base64::engine::general_purpose::STANDARD.encode(source)))
            .await?;
    draft.attachments.push(AttachmentDraft {
        filename: Some(filename),
        content,
        content_type: Some("message/rfc822".into()),
        content_disposition: Some(Disposition::Attachment),
        cid: None,
        encoding: ContentEncoding::Base64,
    });
    Ok(draft)
}

/// The draft with the referenced message's text quoted below its own, as a forward shows
/// it inline: a header block (From, Date, Subject, To) and the original's plain text, and
/// its html in a blockquote when either side has html.
pub async fn quote_original(
    services: &Services,
    account: &str,
    reference: &MessageReference,
    mut draft: MessageDraft,
    max_size: u64,
) -> Result<MessageDraft, ApiError> {
    let request = GetMessage {
        message: reference.message.clone(),
        max_bytes: Some(max_size),
        text_type: Some(imapapi_common::command::TextType::All),
    };
    let original = send(services, account, request).await?;
    let who = |a: &Address| match a.name.is_empty() {
        true => a.address.clone(),
        false => format!("{} <{}>", a.name, a.address),
    };
    let fields = [
        ("From", original.from.as_ref().map(who)),
        ("Date", original.date.clone()),
        ("Subject", original.subject.clone()),
        (
            "To",
            Some(original.to.iter().map(who).collect::<Vec<_>>().join(", "))
                .filter(|t| !t.is_empty()),
        ),
    ];
    let mut plain_head = String::from("---------- Forwarded message ----------\r\n");
    let mut html_head = String::from("<div>---------- Forwarded message ----------<br>");
    for (name, value) in fields {
        if let Some(value) = value {
            plain_head.push_str(&format!("{name}: {value}\r\n"));
            html_head.push_str(&format!("{name}: {}<br>", escape_html(&value)));
        }
    }
    html_head.push_str("</div>");
    let text = original.text.as_ref();
    let plain = text.and_then(|t| t.plain.clone()).unwrap_or_default();
    draft.text = Some(format!(
        "{}\r\n\r\n{plain_head}\r\n{plain}",
        draft.text.as_deref().unwrap_or_default()
    ));
    let original_html = text.and_then(|t| t.html.clone());
    if draft.html.is_some() || original_html.is_some() {
        let quoted = original_html.unwrap_or_else(|| format!("<pre>{}</pre>", escape_html(&plain)));
        draft.html = Some(format!(
            "{}<br>{html_head}<blockquote>{quoted}</blockquote>",
            draft.html.as_deref().unwrap_or_default()
        ));
    }
    Ok(draft)
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A file name for a forwarded message: its subject, without characters file systems
/// refuse, with `.eml`.
fn eml_name(subject: &str) -> String {
    let subject = subject.strip_prefix("Fwd: ").unwrap_or(subject);
    let cleaned: String = subject
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .take(200)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "forwarded.eml".into()
    } else {
        format!("{cleaned}.eml")
    }
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

#[cfg(test)]
mod tests {
    use super::eml_name;

    #[test]
    fn forwarded_files_are_named_after_the_subject() {
        assert_eq!(eml_name("Fwd: Arve 12/2026"), "Arve 12_2026.eml");
        assert_eq!(eml_name(""), "forwarded.eml");
        assert_eq!(eml_name("a\r\nb"), "a__b.eml");
    }
}
