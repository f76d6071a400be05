//! How a [`Message`] travels as an SQS message. The body is sent as text when it is text
//! SQS accepts, else base64 (`enc` = `b64`; SQS bodies cannot be empty, so an empty one is
//! `-` with `enc` = `empty`); a body too large for SQS is kept in Redis and the message
//! carries its key (`body-ref`, see `overflow.rs`). Message attributes: `id` (the
//! message's UUID, kept across retries), `key` (routing key), `attempt` (failed deliveries
//! so far) and, on a message that must wait, `not-before` (unix ms).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use uuid::Uuid;

use crate::bus::{DELAY_TOLERANCE, Message, unix_ms};

/// Bodies larger than this once encoded go to Redis: SQS takes 256 KiB per message,
/// attributes included, and per batch call.
pub(super) const MAX_INLINE: usize = 200 * 1024;
/// SQS's longest `DelaySeconds`; longer waits take several hops (see `consume.rs`).
pub(super) const MAX_DELAY: Duration = Duration::from_secs(900);

/// A message's body as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum WireBody {
    /// In the SQS message, encoded (`enc` = `None` for plain text).
    Inline {
        text: String,
        enc: Option<&'static str>,
    },
    /// In Redis under this key.
    Stored(String),
}

impl WireBody {
    /// The inline form of `body`: text when SQS takes it as it is, else base64.
    pub fn inline(body: &[u8]) -> WireBody {
        if body.is_empty() {
            return WireBody::Inline {
                text: "-".into(),
                enc: Some("empty"),
            };
        }
        match std::str::from_utf8(body) {
            Ok(text) if text.chars().all(sqs_accepts) => WireBody::Inline {
                text: text.to_string(),
                enc: None,
            },
            _ => WireBody::Inline {
                text: B64.encode(body),
                enc: Some("b64"),
            },
        }
    }

    /// Whether it is too large to go inline.
    pub fn too_large(&self) -> bool {
        matches!(self, WireBody::Inline { text, .. } if text.len() > MAX_INLINE)
    }
}

/// The characters SQS allows in a message body.
fn sqs_accepts(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// One message ready for `SendMessageBatch`.
#[derive(Debug, Clone)]
pub(super) struct Outgoing {
    pub body: String,
    pub attributes: HashMap<String, MessageAttributeValue>,
    pub delay_seconds: i32,
}

impl Outgoing {
    pub fn new(message: &Message, body: WireBody, now: SystemTime) -> Outgoing {
        let mut attributes = HashMap::new();
        attributes.insert("id".into(), string(message.id.to_string()));
        attributes.insert("key".into(), string(message.key.clone()));
        attributes.insert("attempt".into(), number(u64::from(message.attempt)));
        if let Some(at) = message.not_before {
            attributes.insert("not-before".into(), number(unix_ms(at)));
        }
        let text = match body {
            WireBody::Inline { text, enc } => {
                if let Some(enc) = enc {
                    attributes.insert("enc".into(), string(enc.to_string()));
                }
                text
            }
            WireBody::Stored(key) => {
                attributes.insert("body-ref".into(), string(key));
                "-".to_string()
            }
        };
        Outgoing {
            body: text,
            attributes,
            delay_seconds: delay_seconds(message.wait(now)),
        }
    }

    /// Its size toward the batch cap.
    pub fn weight(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.string_value().map_or(0, str::len) + 8)
                .sum::<usize>()
    }
}

/// SQS's delay for a wait: rounded up to whole seconds (never early), capped at
/// [`MAX_DELAY`]; none for a wait within the tolerance.
pub(super) fn delay_seconds(wait: Duration) -> i32 {
    if wait < DELAY_TOLERANCE / 2 {
        return 0;
    }
    let secs = wait.min(MAX_DELAY).as_millis().div_ceil(1000);
    i32::try_from(secs).unwrap_or(900)
}

/// A received message as far as the wire tells it; a stored body is still to be fetched.
#[derive(Debug, Clone)]
pub(super) struct Incoming {
    pub message: Message,
    /// The Redis key of a stored body (not yet fetched into `message`).
    pub body_ref: Option<String>,
    pub receipt: String,
    /// When SQS accepted it (unix ms), to list dead letters oldest first.
    pub sent_at: u64,
    /// SQS's own id, the same on every receive of this SQS message.
    pub sqs_id: String,
}

/// Reads a received SQS message; `Err` says what is wrong with it.
pub(super) fn incoming(m: &aws_sdk_sqs::types::Message) -> Result<Incoming, String> {
    let receipt = m.receipt_handle().ok_or("no receipt handle")?.to_string();
    let attrs = m.message_attributes();
    let attr = |name: &str| {
        attrs
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
    };
    let text = m.body().unwrap_or_default();
    let (body_ref, bytes) = match (attr("body-ref"), attr("enc")) {
        (Some(key), _) => (Some(key.to_string()), Vec::new()),
        (None, Some("b64")) => (
            None,
            B64.decode(text)
                .map_err(|e| format!("bad base64 body: {e}"))?,
        ),
        (None, Some("empty")) => (None, Vec::new()),
        (None, _) => (None, text.as_bytes().to_vec()),
    };
    let message = Message {
        // Sent by someone else without an id: give it one, at least per delivery.
        id: attr("id")
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_else(Uuid::now_v7),
        key: attr("key").unwrap_or_default().to_string(),
        attempt: attr("attempt").and_then(|s| s.parse().ok()).unwrap_or(0),
        body: bytes,
        not_before: attr("not-before")
            .and_then(|s| s.parse::<u64>().ok())
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
    };
    let sent_at = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Incoming {
        message,
        body_ref,
        receipt,
        sent_at,
        sqs_id: m.message_id().unwrap_or_default().to_string(),
    })
}

fn string(value: String) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data type is set")
}

fn number(value: u64) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Number")
        .string_value(value.to_string())
        .build()
        .expect("data type is set")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(out: &Outgoing) -> aws_sdk_sqs::types::Message {
        aws_sdk_sqs::types::Message::builder()
            .receipt_handle("r")
            .message_id("m")
            .body(out.body.clone())
            .set_message_attributes(Some(out.attributes.clone()))
            .build()
    }

    #[test]
    fn messages_round_trip_whatever_their_body() {
        let now = SystemTime::now();
        for body in [
            b"{\"json\":true}".to_vec(),
            Vec::new(),
            vec![0, 1, 2, 255],
            "caf\u{e9} \u{1F600}".as_bytes().to_vec(),
            "\u{FFFF}".as_bytes().to_vec(),
        ] {
            let mut m = Message::new("user%40x.messageNew", body.clone());
            m.attempt = 3;
            m = m.not_before(UNIX_EPOCH + Duration::from_millis(1_800_000_000_000));
            let out = Outgoing::new(&m, WireBody::inline(&body), now);
            assert!(!out.body.is_empty());
            let back = incoming(&received(&out)).unwrap();
            assert_eq!(back.message, m, "body {body:?}");
        }
    }

    #[test]
    fn stored_bodies_travel_as_a_reference() {
        let m = Message::new("k", vec![7; 10]);
        let body = WireBody::Stored("p:bus:body:1".into());
        let out = Outgoing::new(&m, body, SystemTime::now());
        let back = incoming(&received(&out)).unwrap();
        assert_eq!(back.body_ref.as_deref(), Some("p:bus:body:1"));
        assert!(back.message.body.is_empty(), "fetched apart");
    }

    #[test]
    fn delays_round_up_and_stop_at_fifteen_minutes() {
        assert_eq!(delay_seconds(Duration::from_millis(10)), 0);
        assert_eq!(delay_seconds(Duration::from_millis(100)), 1);
        assert_eq!(delay_seconds(Duration::from_millis(1_300)), 2);
        assert_eq!(delay_seconds(Duration::from_secs(3)), 3);
        assert_eq!(delay_seconds(Duration::from_secs(86_400)), 900);
    }
}
