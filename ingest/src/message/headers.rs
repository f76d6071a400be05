//! Header decoding shared by the listing and details paths, so that both report the same
//! subject, ids and dates for one message.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, Message, MessageParser};

/// RFC 3339 with milliseconds and `Z`, as the original printed dates.
pub(crate) fn format_date(dt: DateTime<Utc>) -> String {
    // Not `format("%Y-…")`: interpreting the pattern cost more than the rest of a
    // listing entry's date handling.
    dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The Date header, else the IMAP internal date.
pub(crate) fn message_date(
    msg: &Message<'_>,
    internal_date: Option<DateTime<FixedOffset>>,
) -> Option<String> {
    msg.date()
        .filter(|d| d.is_valid())
        .and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0))
        .or_else(|| internal_date.map(|d| d.with_timezone(&Utc)))
        .map(format_date)
}

/// mail-parser strips the angle brackets of message ids; the REST shapes keep them.
pub(crate) fn bracket_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty()).then(|| format!("<{id}>"))
}

pub(crate) fn first_id(value: Option<&HeaderValue<'_>>) -> Option<String> {
    match value? {
        HeaderValue::Text(t) => bracket_id(t),
        HeaderValue::TextList(l) => l.first().and_then(|t| bracket_id(t)),
        _ => None,
    }
}

pub(crate) fn subject(msg: &Message<'_>) -> Option<String> {
    msg.subject().map(str::to_string)
}

/// Unfold and decode one raw header value (encoded words, 8-bit bytes) to utf-8.
pub(crate) fn decode_unstructured(raw: &[u8]) -> String {
    match MessageStream::new(raw).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        HeaderValue::TextList(l) => l.join(" "),
        _ => String::new(),
    }
}

/// Every header of a parsed message: lower-cased name → decoded values in order.
pub(crate) fn map_of(msg: &Message<'_>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Some(root) = msg.parts.first() else {
        return out;
    };
    for h in &root.headers {
        let raw = msg
            .raw_message
            .get(h.offset_start as usize..h.offset_end as usize)
            .unwrap_or_default();
        out.entry(h.name.as_str().to_ascii_lowercase())
            .or_default()
            .push(decode_unstructured(raw));
    }
    out
}

/// Lower-cased header name → every value in order, decoded to utf-8 and unfolded.
///
/// For `notifyHeaders` on the listing path, where only the header block was fetched.
pub fn header_map(header: &[u8]) -> BTreeMap<String, Vec<String>> {
    MessageParser::new()
        .parse_headers(header)
        .map(|m| map_of(&m))
        .unwrap_or_default()
}
