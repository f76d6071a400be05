//! Input checks of a [`MessageDraft`], each error naming its field (`to[1].address`,
//! `headers.X-Foo`, `attachments[0].content`).
//!
//! The point is that nothing a client sends can add header lines of its own (CR or LF in a
//! name, subject or header value) or replace the headers that describe the message.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

use super::draft::{AttachmentDraft, MessageDraft};
use crate::error::ApiError;
use crate::model::Address;

/// Contract limits, in characters.
pub const MAX_NAME: usize = 256;
pub const MAX_SUBJECT: usize = 1024;
pub const MAX_BODY: usize = 5 * 1024 * 1024;
pub const MAX_MESSAGE_ID: usize = 74;
pub const MAX_FILENAME: usize = 256;
pub const MAX_CONTENT: usize = 5 * 1024 * 1024;
pub const MAX_CONTENT_TYPE: usize = 256;
pub const MAX_CID: usize = 256;
/// Our own limits where the contract has none. An address is at most 254 octets (RFC
/// 5321 path limit less the brackets); header names above 76 would not fit a folded line.
pub const MAX_ADDRESS: usize = 254;
pub const MAX_HEADER_NAME: usize = 76;
pub const MAX_HEADER_VALUE: usize = 4096;
/// Header lines are folded at spaces only, and a line may not exceed 998 octets (RFC 5322
/// 2.1.1), so one ASCII word must fit on a line with the field name.
pub const MAX_HEADER_WORD: usize = 900;

/// Headers the composer writes itself: a caller's value would contradict the message
/// (a second From, a Content-Type that lies about the body).
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "content-id",
];

impl MessageDraft {
    /// Check every field; the first problem found is a 400 naming the field.
    pub fn validate(&self) -> Result<(), ApiError> {
        self.check()?;
        self.decode_attachments().map(drop)
    }

    /// Everything but decoding attachments, which [`MessageDraft::build`] does anyway.
    pub(super) fn check(&self) -> Result<(), ApiError> {
        check_address("from", &self.from)?;
        for (list, field) in [(&self.to, "to"), (&self.cc, "cc"), (&self.bcc, "bcc")] {
            for (i, a) in list.iter().enumerate() {
                check_address(&format!("{field}[{i}]"), a)?;
            }
        }
        if let Some(a) = &self.reply_to {
            check_address("replyTo", a)?;
        }
        if let Some(s) = &self.subject {
            check_line("subject", s, MAX_SUBJECT)?;
            check_words("subject", s)?;
        }
        for (field, body) in [("text", &self.text), ("html", &self.html)] {
            if let Some(b) = body {
                check_len(field, b, MAX_BODY)?;
            }
        }
        if let Some(id) = &self.message_id {
            check_len("messageId", id, MAX_MESSAGE_ID)?;
            if !is_msg_id(id) || !id.contains('@') {
                return Err(ApiError::invalid(
                    "messageId",
                    "must be a message id like <id@example.com>",
                ));
            }
        }
        if let Some(id) = &self.in_reply_to {
            check_id_token("inReplyTo", id)?;
        }
        for (i, id) in self.references.iter().enumerate() {
            check_id_token(&format!("references[{i}]"), id)?;
        }
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        for (i, a) in self.attachments.iter().enumerate() {
            a.check(&format!("attachments[{i}]"))?;
        }
        Ok(())
    }

    /// The decoded bytes of every attachment, in order.
    pub(super) fn decode_attachments(&self) -> Result<Vec<Vec<u8>>, ApiError> {
        self.attachments
            .iter()
            .enumerate()
            .map(|(i, a)| decode_base64(&a.content, &format!("attachments[{i}].content")))
            .collect()
    }
}

impl AttachmentDraft {
    fn check(&self, field: &str) -> Result<(), ApiError> {
        if let Some(f) = &self.filename {
            check_line(&format!("{field}.filename"), f, MAX_FILENAME)?;
        }
        check_len(&format!("{field}.content"), &self.content, MAX_CONTENT)?;
        if let Some(ct) = &self.content_type {
            let key = format!("{field}.contentType");
            check_line(&key, ct, MAX_CONTENT_TYPE)?;
            if super::build::content_type(ct).is_none() {
                return Err(ApiError::invalid(
                    &key,
                    "must be a MIME type like image/png",
                ));
            }
        }
        if let Some(cid) = &self.cid {
            let key = format!("{field}.cid");
            check_len(&key, cid, MAX_CID)?;
            check_id_token(&key, cid)?;
        }
        Ok(())
    }
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    // Byte length bounds the character count from above, so most values skip the count.
    if value.len() > max && value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("length must be less than or equal to {max} characters long"),
        ));
    }
    Ok(())
}

/// A value that ends up inside one header field: bounded, and without CR, LF or other
/// control characters (tab is fine), so it cannot start a header line of its own.
fn check_line(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    check_len(field, value, max)?;
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ApiError::invalid(
            field,
            "must not contain line breaks or control characters",
        ));
    }
    Ok(())
}

fn check_address(field: &str, a: &Address) -> Result<(), ApiError> {
    check_line(&format!("{field}.name"), &a.name, MAX_NAME)?;
    let key = format!("{field}.address");
    if a.address.len() > MAX_ADDRESS || !is_writable_address(&a.address) {
        return Err(ApiError::invalid(&key, "must be a valid email address"));
    }
    Ok(())
}

/// An addr-spec lettre accepts and can read back from a header it wrote: it re-reads the
/// From header when building, and fails on quoted local parts and address literals, which
/// the original's validation refused as well.
fn is_writable_address(address: &str) -> bool {
    address
        .parse::<lettre::Address>()
        .is_ok_and(|a| a.to_string().parse::<lettre::message::Mailbox>().is_ok())
}

fn check_header(name: &str, value: &str) -> Result<(), ApiError> {
    let field = format!("headers.{name}");
    let valid_name = !name.is_empty()
        && name.len() <= MAX_HEADER_NAME
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if !valid_name {
        return Err(ApiError::invalid(
            &field,
            "is not a valid header name (1 to 76 printable ASCII characters, no colon)",
        ));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(ApiError::invalid(
            &field,
            "is set by the gateway and cannot be given in headers",
        ));
    }
    check_line(&field, value, MAX_HEADER_VALUE)?;
    check_words(&field, value)
}

fn check_words(field: &str, value: &str) -> Result<(), ApiError> {
    // lettre splits at spaces and writes ASCII words as they are; other words become
    // encoded words, which it wraps itself.
    if value
        .split(' ')
        .any(|w| w.is_ascii() && w.len() > MAX_HEADER_WORD)
    {
        return Err(ApiError::invalid(
            field,
            format!("must not contain words longer than {MAX_HEADER_WORD} characters"),
        ));
    }
    Ok(())
}

/// A message or content id: `<left@right>` or without brackets, visible ASCII only.
pub(super) fn is_msg_id(id: &str) -> bool {
    let inner = strip_brackets(id);
    !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

fn check_id_token(field: &str, id: &str) -> Result<(), ApiError> {
    if !is_msg_id(id) {
        return Err(ApiError::invalid(
            field,
            "must be an id like <id@example.com> (visible ASCII, no spaces)",
        ));
    }
    Ok(())
}

/// `<x>` → `x`; brackets are optional in input.
pub(super) fn strip_brackets(id: &str) -> &str {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    id.strip_suffix('>').unwrap_or(id)
}

fn decode_base64(content: &str, field: &str) -> Result<Vec<u8>, ApiError> {
    // Encoders commonly wrap base64 at 76 columns; the line breaks carry nothing.
    let compact: Vec<u8> = content
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    STANDARD_PAD_INDIFFERENT
        .decode(&compact)
        .map_err(|_| ApiError::invalid(field, "must be valid base64"))
}
