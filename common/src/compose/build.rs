//! Turning a checked [`MessageDraft`] into RFC 5322 bytes with lettre's builder.
//!
//! Structure, as mail clients lay it out:
//! `mixed[ alternative[ text, related[ html, inline images… ] ], attachments… ]`, each
//! level present only when needed.

use std::sync::OnceLock;

use lettre::Message;
use lettre::address::Envelope;
use lettre::message::header::{
    self, ContentDisposition, ContentTransferEncoding, ContentType, HeaderName, HeaderValue,
};
use lettre::message::{Mailbox, Mailboxes, MessageBuilder, MultiPart, SinglePart};

use super::draft::{AttachmentDraft, Disposition, MessageDraft};
use super::validate::strip_brackets;
use crate::error::ApiError;
use crate::model::Address;

/// A built message: the bytes to APPEND or send, and the Message-ID it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltMessage {
    pub raw: Vec<u8>,
    pub message_id: String,
}

impl MessageDraft {
    /// Validate and build the message. `keep_bcc` keeps the Bcc header in the bytes: an
    /// uploaded copy should show its Bcc recipients, a sent one must not reveal them.
    pub fn build(&self, keep_bcc: bool) -> Result<BuiltMessage, ApiError> {
        self.check()?;
        let contents = self.decode_attachments()?;
        let message_id = match &self.message_id {
            Some(id) => bracketed(id),
            None => generate_message_id(),
        };
        let mut builder = self.header_fields(&message_id)?;
        if keep_bcc {
            builder = builder.keep_bcc();
        }
        let message = match self.body(contents) {
            // Not `singlepart()`: lettre ends a part with CRLF, which in a single-part
            // message would add a line to the text.
            Node::Leaf(content_type, body) => builder
                .header(content_type)
                .header(header::MIME_VERSION_1_0)
                .body(body),
            Node::Multi(part) => builder.multipart(part),
        }
        .map_err(|e| ApiError::internal(format!("Could not build the message: {e}")))?;
        Ok(BuiltMessage {
            raw: message.formatted(),
            message_id,
        })
    }

    /// Every header field but the MIME ones; lettre adds Date and MIME-Version.
    fn header_fields(&self, message_id: &str) -> Result<MessageBuilder, ApiError> {
        let from = mailbox("from", &self.from)?;
        let mut builder = Message::builder()
            .from(from.clone())
            .message_id(Some(message_id.to_string()));
        let mut recipients = Vec::new();
        let to = mailboxes("to", &self.to, &mut recipients)?;
        let cc = mailboxes("cc", &self.cc, &mut recipients)?;
        let bcc = mailboxes("bcc", &self.bcc, &mut recipients)?;
        // Each list is set once: lettre's per-address `to()` re-parses the header it joins.
        if let Some(to) = to {
            builder = builder.header(header::To::from(to));
        }
        if let Some(cc) = cc {
            builder = builder.header(header::Cc::from(cc));
        }
        if let Some(bcc) = bcc {
            builder = builder.header(header::Bcc::from(bcc));
        }
        if let Some(r) = &self.reply_to {
            builder = builder.reply_to(mailbox("replyTo", r)?);
        }
        if let Some(s) = &self.subject {
            builder = builder.subject(s.clone());
        }
        for (name, value) in &self.headers {
            let name = HeaderName::new_from_ascii(name.clone()).map_err(|_| {
                ApiError::invalid(&format!("headers.{name}"), "is not a valid header name")
            })?;
            builder = builder.raw_header(HeaderValue::new(name, value.clone()));
        }
        // After the custom headers, so that the reply headers replace same-named ones.
        if let Some(id) = &self.in_reply_to {
            builder = builder.in_reply_to(bracketed(id));
        }
        if !self.references.is_empty() {
            let ids: Vec<String> = self.references.iter().map(|id| bracketed(id)).collect();
            builder = builder.references(ids.join(" "));
        }
        // A draft may have no recipients; the envelope is not part of the bytes, but lettre
        // insists on one.
        if recipients.is_empty() {
            recipients.push(from.email.clone());
        }
        let envelope = Envelope::new(Some(from.email), recipients)
            .map_err(|e| ApiError::internal(format!("Could not build the envelope: {e}")))?;
        Ok(builder.envelope(envelope))
    }

    fn body(&self, contents: Vec<Vec<u8>>) -> Node {
        let mut related = Vec::new();
        let mut mixed = Vec::new();
        for (i, (a, content)) in self.attachments.iter().zip(contents).enumerate() {
            let part = attachment_part(i, a, content);
            // Inline parts only make sense next to the html that refers to them.
            if self.html.is_some() && a.cid.is_some() && a.disposition() == Disposition::Inline {
                related.push(part);
            } else {
                mixed.push(part);
            }
        }
        let html = self.html.as_ref().map(|h| {
            let html = Node::Leaf(ContentType::TEXT_HTML, h.clone());
            if related.is_empty() {
                html
            } else {
                Node::Multi(parts(html.append_to(MultiPart::related().build()), related))
            }
        });
        let text = self
            .text
            .as_ref()
            .map(|t| Node::Leaf(ContentType::TEXT_PLAIN, t.clone()));
        let main = match (text, html) {
            (Some(text), Some(html)) => Some(Node::Multi(
                html.append_to(text.append_to(MultiPart::alternative().build())),
            )),
            (text, None) => text,
            (None, html) => html,
        };
        match (main, mixed.is_empty()) {
            (Some(main), true) => main,
            (None, true) => Node::Leaf(ContentType::TEXT_PLAIN, String::new()),
            (main, false) => {
                let top = MultiPart::mixed().build();
                let top = match main {
                    Some(main) => main.append_to(top),
                    None => top,
                };
                Node::Multi(parts(top, mixed))
            }
        }
    }
}

impl AttachmentDraft {
    /// The effective disposition: a part with a cid is meant to be shown inline.
    pub fn disposition(&self) -> Disposition {
        match (self.content_disposition, &self.cid) {
            (Some(d), _) => d,
            (None, Some(_)) => Disposition::Inline,
            (None, None) => Disposition::Attachment,
        }
    }
}

/// A body node: a text part (kept as text until we know whether it is the whole body) or
/// a multipart.
enum Node {
    Leaf(ContentType, String),
    Multi(MultiPart),
}

impl Node {
    fn append_to(self, parent: MultiPart) -> MultiPart {
        match self {
            Node::Leaf(content_type, body) => {
                parent.singlepart(SinglePart::builder().header(content_type).body(body))
            }
            Node::Multi(p) => parent.multipart(p),
        }
    }
}

fn parts(parent: MultiPart, children: Vec<SinglePart>) -> MultiPart {
    children.into_iter().fold(parent, MultiPart::singlepart)
}

/// The identity encoding `bytes` can travel in unchanged (RFC 2045: no NUL, CRLF line
/// ends only, lines of at most 998 octets): 7bit for ASCII, 8bit otherwise; `None` when
/// neither fits.
fn identity_encoding(bytes: &[u8]) -> Option<ContentTransferEncoding> {
    let mut line = 0usize;
    let mut prev = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            0 => return None,
            b'\n' if prev != b'\r' => return None,
            b'\n' => line = 0,
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => return None,
            b'\r' => {}
            _ => {
                line += 1;
                if line > 998 {
                    return None;
                }
            }
        }
        prev = b;
    }
    Some(if bytes.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    })
}

fn attachment_part(index: usize, a: &AttachmentDraft, content: Vec<u8>) -> SinglePart {
    let filename = a
        .filename
        .clone()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| default_filename(index, a.content_type.as_deref()));
    let essence = a
        .content_type
        .clone()
        .unwrap_or_else(|| guess_type(&filename).to_string());
    let mut part = SinglePart::builder().header(content_type_named(&essence, &filename));
    part = part.header(match a.disposition() {
        Disposition::Inline => ContentDisposition::inline_with_name(&filename),
        Disposition::Attachment => ContentDisposition::attachment(&filename),
    });
    if let Some(cid) = &a.cid {
        part = part.header(header::ContentId::from(bracketed(cid)));
    }
    if essence.eq_ignore_ascii_case("message/rfc822") {
        // RFC 2046 (5.2.1) allows only 7bit, 8bit or binary for an attached message, so
        // readers can open it; base64 only when its lines do not fit either.
        if let Some(encoding) = identity_encoding(&content) {
            // Checked above to need no encoding at all, which is what "pre-encoded" asks.
            return part.body(lettre::message::Body::dangerous_pre_encoded(
                content, encoding,
            ));
        }
    }
    // base64 whatever the bytes: it is the only encoding that keeps any file byte-exact.
    part.header(ContentTransferEncoding::Base64).body(content)
}

/// A Content-Type that lettre accepts: the type and subtype lower-cased (the contract
/// converts to lower case), parameters kept. None for anything that is not a leaf type.
pub(super) fn content_type(value: &str) -> Option<ContentType> {
    let (essence, params) = match value.split_once(';') {
        Some((e, p)) => (e, Some(p)),
        None => (value, None),
    };
    let essence = essence.trim().to_ascii_lowercase();
    // A multipart type on a leaf would promise a boundary that is not there.
    if essence.starts_with("multipart/") || !essence.contains('/') {
        return None;
    }
    let full = match params {
        Some(p) => format!("{essence};{p}"),
        None => essence,
    };
    ContentType::parse(&full).ok()
}

/// The Content-Type with a `name` parameter, which older clients read instead of the
/// Content-Disposition filename.
fn content_type_named(value: &str, filename: &str) -> ContentType {
    let has_name = value
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("name="));
    let named = (!has_name)
        .then(|| content_type(&format!("{value}; name={}", quoted_name(filename))))
        .flatten();
    named
        .or_else(|| content_type(value))
        .unwrap_or_else(octet_stream)
}

fn octet_stream() -> ContentType {
    ContentType::parse("application/octet-stream").expect("a constant valid type")
}

/// A quoted parameter value; non-ASCII names as RFC 2047 encoded words, as mail clients
/// write (and read) them in Content-Type.
fn quoted_name(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
    if plain {
        return format!("\"{name}\"");
    }
    format!("\"{}\"", encoded_words(name))
}

/// RFC 2047 B-encoded words of at most 75 characters, split on character boundaries.
fn encoded_words(s: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    // 45 bytes → 60 base64 characters + 12 of `=?utf-8?B?` `?=` stays under 75.
    const CHUNK: usize = 45;
    let mut words = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, tail) = rest.split_at(end);
        words.push(format!("=?utf-8?B?{}?=", STANDARD.encode(chunk)));
        rest = tail;
    }
    words.join(" ")
}

fn mailbox(field: &str, a: &Address) -> Result<Mailbox, ApiError> {
    let email = a.address.parse().map_err(|_| {
        ApiError::invalid(&format!("{field}.address"), "must be a valid email address")
    })?;
    let name = Some(a.name.trim().to_string()).filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, email))
}

/// The list as one header value (None when empty); every address also goes to `envelope`.
fn mailboxes(
    field: &str,
    list: &[Address],
    envelope: &mut Vec<lettre::Address>,
) -> Result<Option<Mailboxes>, ApiError> {
    let mut out = Mailboxes::new();
    for (i, a) in list.iter().enumerate() {
        let m = mailbox(&format!("{field}[{i}]"), a)?;
        envelope.push(m.email.clone());
        out.push(m);
    }
    Ok((!list.is_empty()).then_some(out))
}

/// `x@y` or `<x@y>` → `<x@y>`.
pub(super) fn bracketed(id: &str) -> String {
    format!("<{}>", strip_brackets(id))
}

/// `<uuid@host>`: the host name when it is a plain domain, else `imapapi`.
fn generate_message_id() -> String {
    format!("<{}@{}>", uuid::Uuid::new_v4(), id_domain())
}

fn id_domain() -> &'static str {
    static DOMAIN: OnceLock<String> = OnceLock::new();
    DOMAIN.get_or_init(|| {
        hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| is_plain_domain(h))
            .unwrap_or_else(|| "imapapi".to_string())
    })
}

fn is_plain_domain(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Extension ↔ type for the common attachment types; anything else is octet-stream.
const TYPES: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
    ("bmp", "image/bmp"),
    ("ico", "image/vnd.microsoft.icon"),
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("csv", "text/csv"),
    ("html", "text/html"),
    ("htm", "text/html"),
    ("ics", "text/calendar"),
    ("json", "application/json"),
    ("xml", "application/xml"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("eml", "message/rfc822"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("mp4", "video/mp4"),
];

fn guess_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    TYPES
        .iter()
        .find(|(e, _)| *e == ext)
        .map_or("application/octet-stream", |(_, t)| t)
}

/// `attachment-N.<ext>`, as the original named attachments that came without a name.
fn default_filename(index: usize, content_type: Option<&str>) -> String {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let ext = TYPES
        .iter()
        .find(|(_, t)| *t == essence)
        .map_or("bin", |(e, _)| e);
    format!("attachment-{}.{ext}", index + 1)
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn identity_encodings_follow_rfc_2045() {
        assert_eq!(
            identity_encoding(b"a\r\nb\r\n"),
            Some(ContentTransferEncoding::SevenBit)
        );
        assert_eq!(
            identity_encoding("õ\r\n".as_bytes()),
            Some(ContentTransferEncoding::EightBit)
        );
        assert_eq!(identity_encoding(b"bare\nnewline"), None);
        assert_eq!(identity_encoding(b"bare\rreturn"), None);
        assert_eq!(identity_encoding(b"nul\0"), None);
        assert_eq!(identity_encoding(&[b'x'; 999]), None);
        assert!(identity_encoding(&[b'x'; 998]).is_some());
    }
}
