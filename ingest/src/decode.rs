//! Glue between fetched IMAP data ([`Fetched`]) and the `message` decoders: which FETCH
//! items each shape needs on a given server ([`FetchItems`]), and pulling the attributes
//! out of a FETCH response.

use chrono::{DateTime, FixedOffset, Utc};
use imap_proto::AttributeValue;
use imapapi_common::command::TextType;
use imapapi_common::model::{MessageDetails, MessageListEntry, Settings, TextInfo};

use crate::imap::{Fetched, Imap, flags_of};
use crate::message::{self, Fresh, Meta, ServerIds};

/// Base FETCH items of a listing entry: BODYSTRUCTURE and just the header fields a listing
/// shows, cheap for a whole page. Real mail carries kilobytes of Received, DKIM and ARC
/// headers that a listing never shows: not fetching them saves their transfer, their
/// parsing, and on Dovecot a read of the message file (it answers these fields from its
/// cache).
const LIST_ITEMS: &str = "UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE \
    BODY.PEEK[HEADER.FIELDS (DATE SUBJECT FROM SENDER TO CC BCC REPLY-TO MESSAGE-ID IN-REPLY-TO)]";
/// Base items of message details (and of `messageNew` with `notifyHeaders`): the whole
/// header block, for the `headers` map.
const DETAILS_ITEMS: &str = "UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER]";
/// Base items of a `messageNew` entry when `notifyText` wants the text too.
const LIST_ITEMS_WITH_TEXT: &str = "UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[]";

/// Where a server's message ids, thread ids and labels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdSource {
    /// The server has none: the shapes leave `emailId`, `threadId` and `labels` out.
    #[default]
    None,
    /// Gmail (`X-GM-EXT-1`): `X-GM-MSGID X-GM-THRID X-GM-LABELS`.
    Gmail,
    /// RFC 8474 (`OBJECTID`): `EMAILID THREADID`; such servers have no labels.
    ObjectId,
}

/// The FETCH item lists of one connection: the base items of each shape plus the ids the
/// server can give. Asking a server for items it lacks would fail the whole FETCH, so the
/// items follow its capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchItems {
    ids: IdSource,
}

impl FetchItems {
    /// Items for a server with these capabilities. Gmail's items win when both are
    /// advertised: they carry the labels too.
    pub fn new(gmail: bool, object_id: bool) -> FetchItems {
        let ids = match (gmail, object_id) {
            (true, _) => IdSource::Gmail,
            (false, true) => IdSource::ObjectId,
            (false, false) => IdSource::None,
        };
        FetchItems { ids }
    }

    /// Items for the server behind `imap`.
    pub fn of(imap: &Imap) -> FetchItems {
        FetchItems::new(imap.has("X-GM-EXT-1"), imap.has("OBJECTID"))
    }

    /// Where the ids come from on this connection.
    pub fn ids(self) -> IdSource {
        self.ids
    }

    /// Items of a listing entry (and of `messageNew` without `notifyText`).
    pub fn list(self) -> String {
        self.with(LIST_ITEMS)
    }

    /// Items of message details (and of `messageNew` with `notifyHeaders`): the listing's
    /// plus every header.
    pub fn details(self) -> String {
        self.with(DETAILS_ITEMS)
    }

    /// Items of a `messageNew` entry whose text is wanted too.
    pub fn list_with_text(self) -> String {
        self.with(LIST_ITEMS_WITH_TEXT)
    }

    /// Items of what can change about a message: its flags, and Gmail's labels.
    pub fn fresh(self) -> &'static str {
        match self.ids {
            IdSource::Gmail => "(UID FLAGS X-GM-LABELS)",
            IdSource::None | IdSource::ObjectId => "(UID FLAGS)",
        }
    }

    fn with(self, base: &str) -> String {
        match self.ids {
            IdSource::None => format!("({base})"),
            IdSource::Gmail => format!("({base} X-GM-MSGID X-GM-THRID X-GM-LABELS)"),
            IdSource::ObjectId => format!("({base} EMAILID THREADID)"),
        }
    }
}

/// The server-assigned ids and labels in a FETCH response (whichever kind it sent).
fn server_ids(attrs: &[AttributeValue<'_>]) -> ServerIds {
    let mut ids = ServerIds::default();
    for a in attrs {
        match a {
            // Gmail's ids are 64-bit numbers; the contract has them as decimal strings.
            AttributeValue::GmailMsgId(n) => ids.email_id = Some(n.to_string()),
            AttributeValue::GmailThrId(n) => ids.thread_id = Some(n.to_string()),
            AttributeValue::GmailLabels(l) => {
                ids.labels = Some(l.iter().map(|l| l.to_string()).collect())
            }
            AttributeValue::EmailId(id) => ids.email_id = Some(id.to_string()),
            // `THREADID NIL`: the message belongs to no thread.
            AttributeValue::ThreadId(id) => ids.thread_id = id.as_ref().map(|t| t.to_string()),
            _ => {}
        }
    }
    ids
}

/// The [`Meta`] of a FETCH response whose uid and flags were already read.
fn meta<'a>(
    mailbox_id: u32,
    uid: u32,
    flags: &'a [String],
    attrs: &[AttributeValue<'_>],
) -> Meta<'a> {
    Meta {
        mailbox_id,
        uid,
        flags,
        size: size(attrs),
        internal_date: internal_date(attrs),
        ids: server_ids(attrs),
    }
}

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

/// A listing entry from a FETCH of [`FetchItems::list`].
pub fn list_entry(mailbox_id: u32, f: &Fetched) -> Option<MessageListEntry> {
    f.with_attrs(|attrs| list_entry_of(mailbox_id, attrs))
        .flatten()
}

/// A listing entry from the attributes of a FETCH of [`FetchItems::list`] (none without
/// a UID).
pub fn list_entry_of(mailbox_id: u32, attrs: &[AttributeValue<'_>]) -> Option<MessageListEntry> {
    let mut uid = None;
    let mut flags = Vec::new();
    let mut body = None;
    for a in attrs {
        match a {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::Flags(f) => flags = flags_of(f),
            AttributeValue::BodyStructure(b) => body = Some(b),
            _ => {}
        }
    }
    let meta = meta(mailbox_id, uid?, &flags, attrs);
    Some(message::list_entry(meta, section(attrs), body))
}

/// The flags and labels of a FETCH of [`FetchItems::fresh`] (none without a UID).
pub fn fresh_of(attrs: &[AttributeValue<'_>]) -> Option<Fresh> {
    let mut uid = None;
    let mut flags = Vec::new();
    for a in attrs {
        match a {
            AttributeValue::Uid(u) => uid = Some(*u),
            AttributeValue::Flags(f) => flags = flags_of(f),
            _ => {}
        }
    }
    Some(Fresh {
        uid: uid?,
        flags,
        labels: server_ids(attrs).labels,
    })
}

/// `messageNew.data`: the listing entry (with `sender`, `replyTo`, `answered` and the
/// server's ids, as the details have them) plus the `notifyHeaders` headers and, with
/// `notifyText`, the text cut at `notifyTextSize` (fetched with
/// [`FetchItems::list_with_text`]).
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

/// Message details without text from a FETCH of [`FetchItems::details`] (header and
/// BODYSTRUCTURE), and the [`TextInfo`] a text read apart goes under.
pub fn details_from_structure(
    mailbox_id: u32,
    f: &Fetched,
) -> Option<(MessageDetails, Option<TextInfo>)> {
    let uid = f.uid()?;
    let flags = f.flags().unwrap_or_default();
    f.with_attrs(|attrs| {
        let body = attrs.iter().find_map(|a| match a {
            AttributeValue::BodyStructure(b) => Some(b),
            _ => None,
        });
        message::details_and_text_info(meta(mailbox_id, uid, &flags, attrs), section(attrs), body)
    })
}

/// Message details from the full source (`BODY.PEEK[]`): the reference the tests hold
/// [`details_from_structure`] to.
#[cfg(test)]
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
            meta(mailbox_id, uid, &flags, attrs),
            section(attrs),
            max_bytes,
            text_type,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From: Ann <ann@example.com>\r\nSender: Desk <desk@example.com>\r\nReply-To: Bob <bob@example.com>, c@example.com\r\nTo: bob@example.com\r\nSubject: Hello\r\nMessage-ID: <x@y>\r\nX-Custom: 1\r\n\r\nHi there\r\n";

    /// A FETCH response of `MAIL` with `extra` items after the flags.
    fn fetched_with(flags: &str, extra: &str) -> Fetched {
        let raw = format!(
            "* 1 FETCH (UID 7 FLAGS ({flags}){extra} RFC822.SIZE {} INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[] {{{}}}\r\n{MAIL})\r\n",
            MAIL.len(),
            MAIL.len()
        );
        Fetched::from_raw(raw.as_bytes()).unwrap()
    }

    fn fetched() -> Fetched {
        fetched_with("\\Seen \\Recent", "")
    }

    #[test]
    fn items_follow_the_capabilities() {
        let plain = FetchItems::new(false, false);
        assert_eq!(
            plain.list(),
            "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (DATE \
             SUBJECT FROM SENDER TO CC BCC REPLY-TO MESSAGE-ID IN-REPLY-TO)])"
        );
        assert_eq!(
            plain.details(),
            "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER])"
        );
        let gmail = FetchItems::new(true, true);
        assert_eq!(gmail.ids(), IdSource::Gmail);
        assert_eq!(
            gmail.list_with_text(),
            "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[] X-GM-MSGID X-GM-THRID X-GM-LABELS)"
        );
        let object_id = FetchItems::new(false, true);
        assert_eq!(
            object_id.details(),
            "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER] EMAILID THREADID)"
        );
    }

    #[test]
    fn gmail_ids_and_labels_are_read() {
        let f = fetched_with(
            "\\Answered",
            " X-GM-MSGID 1694937972638499881 X-GM-THRID 1694936993596975454 X-GM-LABELS (\\Important \"Muy Importante\" Work)",
        );
        let d = details(1, &f, None, None).unwrap();
        assert_eq!(d.email_id.as_deref(), Some("1694937972638499881"));
        assert_eq!(d.thread_id.as_deref(), Some("1694936993596975454"));
        assert_eq!(
            d.labels.unwrap(),
            vec!["\\Important", "Muy Importante", "Work"]
        );
        assert!(d.answered && d.unseen);
        let e = list_entry(1, &f).unwrap();
        assert_eq!(e.email_id.as_deref(), Some("1694937972638499881"));
        // No labels yet is an empty list, not an absent one.
        let f = fetched_with("", " X-GM-MSGID 1 X-GM-THRID 2 X-GM-LABELS ()");
        assert_eq!(list_entry(1, &f).unwrap().labels, Some(vec![]));
    }

    #[test]
    fn rfc8474_ids_are_read() {
        let f = fetched_with(
            "",
            " EMAILID (M6d952b5c6f82bfd8) THREADID (T64b4c7e452f961e2)",
        );
        let e = list_entry(1, &f).unwrap();
        assert_eq!(e.email_id.as_deref(), Some("M6d952b5c6f82bfd8"));
        assert_eq!(e.thread_id.as_deref(), Some("T64b4c7e452f961e2"));
        assert_eq!(e.labels, None);
        let f = fetched_with("", " EMAILID (Mabc) THREADID NIL");
        let d = details(1, &f, None, None).unwrap();
        assert_eq!(d.email_id.as_deref(), Some("Mabc"));
        assert_eq!(d.thread_id, None);
        // Without either, nothing is made up.
        let e = list_entry(1, &fetched()).unwrap();
        assert!(e.email_id.is_none() && e.thread_id.is_none() && e.labels.is_none());
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
        // What the details have that the header block gives cheaply.
        assert_eq!(e["sender"]["address"], "desk@example.com");
        assert_eq!(
            e["replyTo"],
            serde_json::json!({"name": "Bob", "address": "bob@example.com"})
        );
        assert_eq!(e["answered"], false);
        assert!(e.get("emailId").is_none() && e.get("labels").is_none());
        let f = fetched_with(
            "\\Answered",
            " X-GM-MSGID 5 X-GM-THRID 6 X-GM-LABELS (\\Inbox)",
        );
        let e = event_entry(1, &f, &Settings::default()).unwrap();
        assert_eq!(
            (e["answered"].clone(), e["emailId"].clone()),
            (true.into(), "5".into())
        );
        assert_eq!(
            (e["threadId"].clone(), e["labels"][0].clone()),
            ("6".into(), "\\Inbox".into())
        );
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
