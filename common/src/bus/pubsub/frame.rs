//! How a request and its reply travel as Redis pub/sub payloads: a small binary frame
//! rather than JSON, because the body is opaque bytes and must not be re-encoded.
//!
//! Request: `1` (version), correlation id (16 bytes), deadline (unix ms, u64 big-endian),
//! reply channel length (u16 big-endian), reply channel, body.
//! Reply: correlation id (16 bytes), body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use crate::bus::unix_ms;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 16 + 8 + 2;

/// A request as the serving node receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RequestFrame {
    pub correlation: Uuid,
    /// Past this time nobody waits for the reply any more.
    pub deadline: SystemTime,
    pub reply_channel: String,
    pub body: Vec<u8>,
}

impl RequestFrame {
    pub fn encode(&self) -> Vec<u8> {
        let channel = self.reply_channel.as_bytes();
        let mut out = Vec::with_capacity(HEADER + channel.len() + self.body.len());
        out.push(VERSION);
        out.extend_from_slice(self.correlation.as_bytes());
        out.extend_from_slice(&unix_ms(self.deadline).to_be_bytes());
        // Channel names are ours and short; a longer one is a bug worth failing loudly on.
        let len = u16::try_from(channel.len()).expect("reply channel name fits in u16");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(channel);
        out.extend_from_slice(&self.body);
        out
    }

    /// `None` for a frame that is not ours (another version, or cut short).
    pub fn decode(bytes: &[u8]) -> Option<RequestFrame> {
        if bytes.len() < HEADER || bytes[0] != VERSION {
            return None;
        }
        let correlation = Uuid::from_slice(&bytes[1..17]).ok()?;
        let ms = u64::from_be_bytes(bytes[17..25].try_into().ok()?);
        let len = usize::from(u16::from_be_bytes(bytes[25..27].try_into().ok()?));
        let channel = bytes.get(HEADER..HEADER + len)?;
        Some(RequestFrame {
            correlation,
            deadline: UNIX_EPOCH + Duration::from_millis(ms),
            reply_channel: String::from_utf8(channel.to_vec()).ok()?,
            body: bytes[HEADER + len..].to_vec(),
        })
    }
}

/// A reply: the request's correlation id, then the body.
pub(super) fn encode_reply(correlation: Uuid, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(correlation.as_bytes());
    out.extend_from_slice(body);
    out
}

/// The correlation id and body of a reply; `None` when cut short.
pub(super) fn decode_reply(bytes: &[u8]) -> Option<(Uuid, &[u8])> {
    let id = Uuid::from_slice(bytes.get(..16)?).ok()?;
    Some((id, &bytes[16..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_with_any_body() {
        let frame = RequestFrame {
            correlation: Uuid::new_v4(),
            deadline: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            reply_channel: "imapapi:reply:abc".into(),
            body: vec![0, 255, 10, 13],
        };
        assert_eq!(RequestFrame::decode(&frame.encode()), Some(frame));
    }

    #[test]
    fn foreign_or_short_frames_are_refused() {
        assert_eq!(RequestFrame::decode(b""), None);
        assert_eq!(RequestFrame::decode(&[2; 40]), None);
        let mut cut = RequestFrame {
            correlation: Uuid::new_v4(),
            deadline: SystemTime::now(),
            reply_channel: "r".repeat(30),
            body: Vec::new(),
        }
        .encode();
        cut.truncate(HEADER + 10);
        assert_eq!(RequestFrame::decode(&cut), None);
    }

    #[test]
    fn replies_round_trip() {
        let id = Uuid::new_v4();
        let bytes = encode_reply(id, b"re:x");
        assert_eq!(decode_reply(&bytes), Some((id, &b"re:x"[..])));
        assert_eq!(decode_reply(&bytes[..5]), None);
    }
}
