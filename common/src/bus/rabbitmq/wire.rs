//! How a [`Message`] travels as an AMQP message: persistent, its id as `message_id`, and
//! the fields that queues reroute or lose in headers (`key`, `attempt`, `not-before`).

use std::time::{Duration, UNIX_EPOCH};

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use uuid::Uuid;

use crate::bus::{BusError, Message, unix_ms};

pub(super) fn backend(e: impl std::fmt::Display) -> BusError {
    BusError::Backend(e.to_string())
}

pub(super) fn short(s: impl Into<String>) -> Result<ShortString, BusError> {
    let s = s.into();
    ShortString::try_new(s.clone())
        .map_err(|_| BusError::Backend(format!("name too long for AMQP: {s}")))
}

/// The properties that carry `message` (its body goes apart).
pub(super) fn persistent(message: &Message) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert(
        "key".into(),
        AMQPValue::LongString(LongString::from(message.key.as_str())),
    );
    headers.insert("attempt".into(), AMQPValue::LongUInt(message.attempt));
    if let Some(at) = message.not_before {
        headers.insert(
            "not-before".into(),
            AMQPValue::LongLongInt(i64::try_from(unix_ms(at)).unwrap_or(i64::MAX)),
        );
    }
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(message.id.to_string().into())
        .with_headers(headers)
}

fn header<'a>(props: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    props.headers().as_ref()?.inner().get(name)
}

fn number(v: Option<&AMQPValue>) -> Option<i64> {
    match v? {
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// The [`Message`] a delivery carries.
pub(super) fn to_message(d: lapin::message::Delivery) -> Message {
    let props = &d.properties;
    let id = props
        .message_id()
        .as_ref()
        .and_then(|s| Uuid::parse_str(s.as_str()).ok())
        // Published by someone else without an id: give it one, at least per delivery.
        .unwrap_or_else(Uuid::now_v7);
    let attempt = number(header(props, "attempt"))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let key = match header(props, "key") {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        _ => d.routing_key.to_string(),
    };
    let not_before = number(header(props, "not-before"))
        .and_then(|ms| u64::try_from(ms).ok())
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    Message {
        id,
        key,
        attempt,
        body: d.data,
        not_before,
    }
}
