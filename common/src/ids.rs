//! Opaque, URL-safe ids for messages, attachments and text parts.
//!
//! A message id is base64url (no padding) of `u32 BE mailbox id ‖ u32 BE uid`, as in the
//! original (`AAAAAQAAAeE` = mailbox 1, uid 481). Mailbox ids are allocated from a
//! gateway-wide counter and never reused, and a folder gets a new one when its UIDVALIDITY
//! changes or the account is registered again, so a stale id can never resolve to the
//! wrong message: it names a mailbox id that no longer exists and gets 404.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// A decoded message id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId {
    pub mailbox_id: u32,
    pub uid: u32,
}

/// A decoded attachment id: a message and the MIME part number (`"2"`, `"1.2"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentId {
    pub message: MessageId,
    pub part: String,
}

/// A decoded text id: the text parts of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextId {
    pub message: MessageId,
}

const TEXT_MARKER: u8 = b't';

fn decode(field: &str, s: &str) -> Result<Vec<u8>, ApiError> {
    if s.is_empty() || s.len() > 256 {
        return Err(ApiError::invalid(field, "length is not valid"));
    }
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| ApiError::invalid(field, "must be a base64url encoded id"))
}

fn message_from(field: &str, b: &[u8]) -> Result<MessageId, ApiError> {
    if b.len() < 8 {
        return Err(ApiError::invalid(field, "is too short"));
    }
    Ok(MessageId {
        mailbox_id: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        uid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    })
}

impl MessageId {
    pub fn new(mailbox_id: u32, uid: u32) -> Self {
        MessageId { mailbox_id, uid }
    }

    fn bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.mailbox_id.to_be_bytes());
        b[4..].copy_from_slice(&self.uid.to_be_bytes());
        b
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes())
    }

    /// Parse the `message` path parameter; errors name the field.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let b = decode("message", s)?;
        if b.len() != 8 {
            return Err(ApiError::invalid(
                "message",
                if b.len() < 8 {
                    "is too short"
                } else {
                    "is too long"
                },
            ));
        }
        message_from("message", &b)
    }
}

impl AttachmentId {
    pub fn encode(&self) -> String {
        let mut b = self.message.bytes().to_vec();
        b.extend_from_slice(self.part.as_bytes());
        URL_SAFE_NO_PAD.encode(b)
    }

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let b = decode("attachment", s)?;
        let message = message_from("attachment", &b)?;
        let part = std::str::from_utf8(&b[8..])
            .ok()
            .filter(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit() || c == b'.'))
            .ok_or_else(|| ApiError::invalid("attachment", "does not name a message part"))?;
        Ok(AttachmentId {
            message,
            part: part.to_string(),
        })
    }
}

impl TextId {
    pub fn encode(&self) -> String {
        let mut b = self.message.bytes().to_vec();
        b.push(TEXT_MARKER);
        URL_SAFE_NO_PAD.encode(b)
    }

    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let b = decode("text", s)?;
        let message = message_from("text", &b)?;
        if b.len() != 9 || b[8] != TEXT_MARKER {
            return Err(ApiError::invalid("text", "is not a text id"));
        }
        Ok(TextId { message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_original_example() {
        assert_eq!(MessageId::new(1, 481).encode(), "AAAAAQAAAeE");
        assert_eq!(
            MessageId::parse("AAAAAQAAAeE").unwrap(),
            MessageId::new(1, 481)
        );
    }

    #[test]
    fn round_trips_attachment_and_text_ids() {
        let a = AttachmentId {
            message: MessageId::new(7, 9),
            part: "1.2".into(),
        };
        assert_eq!(AttachmentId::parse(&a.encode()).unwrap(), a);
        let t = TextId {
            message: MessageId::new(7, 9),
        };
        assert_eq!(TextId::parse(&t.encode()).unwrap(), t);
    }

    #[test]
    fn rejects_bad_ids_naming_the_field() {
        for bad in ["", "AAAA", "AAAAAQAAAeEAAA", "!!!!", &"A".repeat(300)] {
            let e = MessageId::parse(bad).unwrap_err();
            assert_eq!(e.status_code, 400, "{bad}");
            assert!(e.message.contains("\"message\""), "{bad}: {}", e.message);
        }
    }
}
