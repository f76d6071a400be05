//! Glue between fetched IMAP data ([`Fetched`]) and the `message` decoders: which FETCH
//! items each shape needs, and pulling the attributes out of a FETCH response.

use chrono::{DateTime, FixedOffset, Utc};
use imap_proto::AttributeValue;
use imapapi_common::command::TextType;
use imapapi_common::model::{MessageDetails, MessageListEntry, Settings};

use crate::imap::Fetched;
use crate::message;

/// FETCH items of a listing entry.
pub const LIST_ITEMS: &str = "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER])";
/// FETCH items of a `messageNew` entry when `notifyText` wants the text too.
pub const LIST_ITEMS_WITH_TEXT: &str =
    "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[])";
/// FETCH items of message details.
pub const DETAIL_ITEMS: &str = "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])";

/// Parse an IMAP INTERNALDATE (`17-Jul-1996 02:44:25 -0700`).
pub fn parse_internal_date(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z").ok()
}

fn internal_date(attrs: &[AttributeValue<'_>]) -> Option<DateTime<FixedOffset>> {
    attrs.iter().find_map(|a| match a {
        AttributeValue::InternalDate(d) => parse_internal_date(d),
        _ => None,
    })
}

fn size(attrs: &[AttributeValue<'_>]) -> u64 {
    attrs
        .iter()
        .find_map(|a| match a {
            AttributeValue::Rfc822Size(n) => Some(u64::from(*n)),
            _ => None,
        })
        .unwrap_or(0)
}

/// The bytes of the `BODY[...]` / `RFC822*` section of a FETCH response.
fn section<'a>(attrs: &'a [AttributeValue<'_>]) -> &'a [u8] {
    attrs
        .iter()
        .find_map(|a| match a {
            AttributeValue::BodySection { data: Some(d), .. }
            | AttributeValue::Rfc822(Some(d))
            | AttributeValue::Rfc822Header(Some(d)) => Some(d.as_ref()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The bytes of the body section of a FETCH response (a partial one included).
pub fn body_section(f: &Fetched) -> Option<Vec<u8>> {
    f.with_attrs(|attrs| {
        attrs.iter().find_map(|a| match a {
            AttributeValue::BodySection { data, .. } | AttributeValue::Rfc822(data) => {
                Some(data.as_ref().map(|d| d.to_vec()).unwrap_or_default())
            }
            _ => None,
        })
    })
    .flatten()
}

/// RFC822.SIZE of a fetched message.
pub fn rfc822_size(f: &Fetched) -> Option<u64> {
    f.with_attrs(|attrs| {
        attrs.iter().find_map(|a| match a {
            AttributeValue::Rfc822Size(n) => Some(u64::from(*n)),
            _ => None,
        })
    })
    .flatten()
}

/// Run `f` on the BODYSTRUCTURE of a fetched message.
pub fn with_bodystructure<T>(
    f: &Fetched,
    g: impl FnOnce(&imap_proto::BodyStructure<'_>) -> T,
) -> Option<T> {
    f.with_attrs(|attrs| {
        attrs
            .iter()
            .find_map(|a| match a {
                AttributeValue::BodyStructure(b) => Some(b),
                _ => None,
            })
            .map(g)
    })
    .flatten()
}

/// INTERNALDATE of a fetched message, as UTC.
pub fn received(f: &Fetched) -> Option<DateTime<Utc>> {
    f.with_attrs(internal_date)
        .flatten()
        .map(|d| d.with_timezone(&Utc))
}

/// A listing entry from a FETCH of [`LIST_ITEMS`].
pub fn list_entry(mailbox_id: u32, f: &Fetched) -> Option<MessageListEntry> {
    let uid = f.uid()?;
    let flags = f.flags().unwrap_or_default();
    f.with_attrs(|attrs| {
        let body = attrs.iter().find_map(|a| match a {
            AttributeValue::BodyStructure(b) => Some(b),
            _ => None,
        });
        message::list_entry(
            mailbox_id,
            uid,
            &flags,
            size(attrs),
            internal_date(attrs),
            section(attrs),
            body,
        )
    })
}

/// `messageNew.data`: the listing entry plus the `notifyHeaders` headers and, with
/// `notifyText`, the text cut at `notifyTextSize` (fetched with [`LIST_ITEMS_WITH_TEXT`]).
pub fn event_entry(mailbox_id: u32, f: &Fetched, settings: &Settings) -> Option<serde_json::Value> {
    let mut entry = list_entry(mailbox_id, f)?;
    let uid = entry.uid;
    if let Some(names) = settings.notify_headers.as_ref().filter(|n| !n.is_empty()) {
        let all = f
            .with_attrs(|a| message::header_map(section(a)))
            .unwrap_or_default();
        entry.headers = Some(
            all.into_iter()
                .filter(|(k, _)| names.iter().any(|n| n == "*" || n.eq_ignore_ascii_case(k)))
                .collect(),
        );
    }
    let mut value = serde_json::to_value(&entry).ok()?;
    if settings.notify_text == Some(true) {
        let max = settings.notify_text_size;
        if let Some(text) =
            f.with_attrs(|a| message::text(mailbox_id, uid, section(a), max, TextType::All))
            && let Ok(t) = serde_json::to_value(text)
        {
            value["text"] = t;
        }
    }
    Some(value)
}

/// Message details from a FETCH of [`DETAIL_ITEMS`].
pub fn details(
    mailbox_id: u32,
    f: &Fetched,
    max_bytes: Option<u64>,
    text_type: Option<TextType>,
) -> Option<MessageDetails> {
    let uid = f.uid()?;
    let flags = f.flags().unwrap_or_default();
    f.with_attrs(|attrs| {
        message::details(
            mailbox_id,
            uid,
            &flags,
            size(attrs),
            internal_date(attrs),
            section(attrs),
            max_bytes,
            text_type,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: Hello\r\nMessage-ID: <x@y>\r\nX-Custom: 1\r\n\r\nHi there\r\n";

    fn fetched() -> Fetched {
        let raw = format!(
            "* 1 FETCH (UID 7 FLAGS (\\Seen \\Recent) RFC822.SIZE {} INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[] {{{}}}\r\n{MAIL})\r\n",
            MAIL.len(),
            MAIL.len()
        );
        Fetched::from_raw(raw.as_bytes()).unwrap()
    }

    #[test]
    fn builds_an_event_entry_with_wanted_headers_and_text() {
        let s = Settings {
            notify_headers: Some(vec!["x-custom".into()]),
            notify_text: Some(true),
            notify_text_size: Some(2),
            ..Default::default()
        };
        let f = fetched();
        assert_eq!(f.flags().unwrap(), vec!["\\Seen".to_string()]);
        let e = event_entry(1, &f, &s).unwrap();
        assert_eq!(e["id"], "AAAAAQAAAAc");
        assert_eq!(e["subject"], "Hello");
        assert_eq!(e["from"]["address"], "ann@example.com");
        assert_eq!(e["unseen"], false);
        assert_eq!(e["headers"]["x-custom"][0], "1");
        assert_eq!(e["text"]["plain"], "Hi");
        assert_eq!(e["text"]["hasMore"], true);
    }

    #[test]
    fn details_and_dates() {
        let d = details(1, &fetched(), None, Some(TextType::Plain)).unwrap();
        assert_eq!(d.subject.as_deref(), Some("Hello"));
        assert!(d.text.unwrap().plain.unwrap().starts_with("Hi there"));
        assert!(received(&fetched()).is_some());
        assert!(parse_internal_date(" 7-Jul-1996 02:44:25 -0700").is_some());
    }
}
