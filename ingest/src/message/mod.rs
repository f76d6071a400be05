//! Turning IMAP fetch results and raw messages into the REST shapes.
//!
//! Pure functions (no I/O) so the IMAP session code stays about the protocol and this stays
//! testable with literal MIME samples. The listing path works from BODYSTRUCTURE and the
//! header block (cheap to fetch for a whole page); the details, text and attachment paths
//! parse the full source once. Both number parts the way the server does, so attachment ids
//! from a listing resolve in a download. What the FETCH reports beside the content (flags,
//! size, dates, server ids) arrives as a [`Meta`].

mod address;
mod headers;
pub mod partial;
mod parts;

use async_imap::imap_proto::BodyStructure;
use chrono::{DateTime, FixedOffset};
use imapapi_common::command::TextType;
use imapapi_common::ids::{AttachmentId, MessageId, TextId};
use imapapi_common::model::message::{
    Address, AttachmentEntry, EncodedSize, MessageDetails, MessageListEntry, TextContent, TextInfo,
};
use mail_parser::{Message, MessageParser};

pub use headers::header_map;
/// How a part is stored on the server (what a partial FETCH of it must be decoded with).
pub use parts::Wire;
use parts::{Kind, Leaf};

/// Ids and labels the server assigns (Gmail `X-GM-MSGID`/`X-GM-THRID`/`X-GM-LABELS`, or
/// RFC 8474 `EMAILID`/`THREADID`); all `None` on servers without them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerIds {
    pub email_id: Option<String>,
    pub thread_id: Option<String>,
    pub labels: Option<Vec<String>>,
}

/// What a FETCH reports about a message beside its content.
#[derive(Debug, Clone, Default)]
pub struct Meta<'a> {
    pub mailbox_id: u32,
    pub uid: u32,
    pub flags: &'a [String],
    /// RFC822.SIZE.
    pub size: u64,
    pub internal_date: Option<DateTime<FixedOffset>>,
    pub ids: ServerIds,
}

impl Meta<'_> {
    fn id(&self) -> MessageId {
        MessageId::new(self.mailbox_id, self.uid)
    }
    fn states(&self) -> States {
        States::of(self.flags)
    }
}

/// The booleans the shapes derive from the flags.
struct States {
    draft: bool,
    unseen: bool,
    flagged: bool,
    answered: bool,
}

impl States {
    fn of(flags: &[String]) -> States {
        let has = |flag: &str| flags.iter().any(|f| f.eq_ignore_ascii_case(flag));
        States {
            draft: has("\\Draft"),
            unseen: !has("\\Seen"),
            flagged: has("\\Flagged"),
            answered: has("\\Answered"),
        }
    }
}

/// What can change about a message, read fresh on every call and laid over what a cached
/// entry or details keep (`message_cache`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fresh {
    pub uid: u32,
    pub flags: Vec<String>,
    /// Gmail's labels; `None` on servers without them.
    pub labels: Option<Vec<String>>,
}

impl Fresh {
    /// `cached` with these flags and labels.
    pub fn entry(self, cached: &MessageListEntry) -> MessageListEntry {
        let s = States::of(&self.flags);
        MessageListEntry {
            draft: s.draft,
            unseen: s.unseen,
            flagged: s.flagged,
            answered: s.answered,
            flags: self.flags,
            labels: self.labels,
            ..cached.clone()
        }
    }

    /// `cached` with these flags and labels (and no text).
    pub fn details(self, cached: &MessageDetails) -> MessageDetails {
        let s = States::of(&self.flags);
        MessageDetails {
            draft: s.draft,
            unseen: s.unseen,
            flagged: s.flagged,
            answered: s.answered,
            flags: self.flags,
            labels: self.labels,
            ..cached.clone()
        }
    }
}

/// The header fields shared by listing entries and details.
#[derive(Default)]
struct Envelope {
    date: Option<String>,
    subject: Option<String>,
    from: Option<Address>,
    sender: Option<Address>,
    to: Vec<Address>,
    cc: Vec<Address>,
    bcc: Vec<Address>,
    reply_to: Option<Address>,
    message_id: Option<String>,
    in_reply_to: Option<String>,
}

fn envelope(msg: Option<&Message<'_>>, internal_date: Option<DateTime<FixedOffset>>) -> Envelope {
    let Some(m) = msg else {
        return Envelope {
            date: internal_date.map(|d| headers::format_date(d.to_utc())),
            ..Envelope::default()
        };
    };
    Envelope {
        date: headers::message_date(m, internal_date),
        subject: headers::subject(m),
        from: address::first(m.from()),
        sender: address::first(m.sender()),
        to: address::list(m.to()),
        cc: address::list(m.cc()),
        bcc: address::list(m.bcc()),
        // One address, as the original reported it.
        reply_to: address::first(m.reply_to()),
        message_id: m.message_id().and_then(headers::bracket_id),
        in_reply_to: headers::first_id(Some(m.in_reply_to())),
    }
}

/// mail-parser indexes `parts[0]` in its accessors; an empty parse must never reach them.
fn parsed(m: Option<Message<'_>>) -> Option<Message<'_>> {
    m.filter(|m| !m.parts.is_empty())
}

fn attachments<S>(message: MessageId, leaves: &[Leaf<S>]) -> Vec<AttachmentEntry> {
    leaves
        .iter()
        .filter(|l| l.kind() == Kind::Attachment)
        .map(|l| AttachmentEntry {
            id: AttachmentId {
                message,
                part: l.part.clone(),
            }
            .encode(),
            content_type: l.content_type.clone(),
            encoded_size: l.encoded_size,
            filename: l.filename.clone(),
            embedded: l.embedded(),
            inline: l.inline(),
            content_id: l.content_id.clone(),
        })
        .collect()
}

/// Summed encoded sizes of the body text parts; None when there is no text at all.
fn text_sizes<S>(leaves: &[Leaf<S>]) -> Option<EncodedSize> {
    let mut size = EncodedSize::default();
    for l in leaves {
        let slot = match l.kind() {
            Kind::Plain => &mut size.plain,
            Kind::Html => &mut size.html,
            Kind::Attachment => continue,
        };
        *slot = Some(slot.unwrap_or(0) + l.encoded_size);
    }
    (size.plain.is_some() || size.html.is_some()).then_some(size)
}

/// One entry of a listing from the header block and BODYSTRUCTURE (see
/// `decode::FetchItems::list`). `headers` is left for the caller (only `notifyHeaders`
/// wants it).
pub fn list_entry(
    meta: Meta<'_>,
    header: &[u8],
    body: Option<&BodyStructure<'_>>,
) -> MessageListEntry {
    let message = meta.id();
    let states = meta.states();
    let msg = parsed(MessageParser::new().parse_headers(header));
    let env = envelope(msg.as_ref(), meta.internal_date);
    let leaves = body.map(parts::from_bodystructure).unwrap_or_default();
    MessageListEntry {
        id: message.encode(),
        uid: meta.uid,
        email_id: meta.ids.email_id,
        thread_id: meta.ids.thread_id,
        date: env.date,
        draft: states.draft,
        unseen: states.unseen,
        flagged: states.flagged,
        answered: states.answered,
        size: meta.size,
        subject: env.subject,
        from: env.from,
        sender: env.sender,
        to: env.to,
        cc: env.cc,
        bcc: env.bcc,
        reply_to: env.reply_to,
        message_id: env.message_id,
        in_reply_to: env.in_reply_to,
        flags: meta.flags.to_vec(),
        labels: meta.ids.labels,
        attachments: attachments(message, &leaves),
        text: text_sizes(&leaves).map(|encoded_size| TextInfo {
            id: TextId { message }.encode(),
            encoded_size,
        }),
        headers: None,
    }
}

/// Cut at `max` bytes on a char boundary; true when something was cut.
fn cut(mut s: String, max: Option<u64>) -> (String, bool) {
    match max {
        Some(max) if s.len() as u64 > max => {
            let mut i = max as usize;
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            s.truncate(i);
            (s, true)
        }
        _ => (s, false),
    }
}

fn joined(leaves: &[Leaf<parts::Src<'_, '_>>], kind: Kind) -> Option<String> {
    let texts: Vec<&str> = leaves
        .iter()
        .filter(|l| l.kind() == kind)
        .map(|l| l.src.text_contents().unwrap_or_default())
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n"))
}

fn text_content(
    message: MessageId,
    leaves: &[Leaf<parts::Src<'_, '_>>],
    max_bytes: Option<u64>,
    text_type: TextType,
) -> TextContent {
    let want_plain = matches!(text_type, TextType::Plain | TextType::All);
    let want_html = matches!(text_type, TextType::Html | TextType::All);
    let mut has_more = false;
    let mut take = |want: bool, kind: Kind| {
        let (s, more) = cut(joined(leaves, kind).filter(|_| want)?, max_bytes);
        has_more |= more;
        Some(s)
    };
    let plain = take(want_plain, Kind::Plain);
    let html = take(want_html, Kind::Html);
    TextContent {
        id: TextId { message }.encode(),
        encoded_size: text_sizes(leaves).unwrap_or_default(),
        plain,
        html,
        has_more,
    }
}

/// Message details from the full source, parsed once: the reference the tests hold
/// [`details_from_structure`] to (both walks must number and classify parts alike).
#[cfg(test)]
pub fn details(
    meta: Meta<'_>,
    raw: &[u8],
    max_bytes: Option<u64>,
    text_type: Option<TextType>,
) -> MessageDetails {
    let message = meta.id();
    let states = meta.states();
    let msg = parsed(MessageParser::new().parse(raw));
    let env = envelope(msg.as_ref(), meta.internal_date);
    let leaves = msg.as_ref().map(parts::from_message).unwrap_or_default();
    MessageDetails {
        id: message.encode(),
        uid: meta.uid,
        email_id: meta.ids.email_id,
        thread_id: meta.ids.thread_id,
        date: env.date,
        draft: states.draft,
        unseen: states.unseen,
        flagged: states.flagged,
        answered: states.answered,
        size: meta.size,
        subject: env.subject,
        from: env.from,
        sender: env.sender,
        to: env.to,
        cc: env.cc,
        bcc: env.bcc,
        reply_to: env.reply_to,
        message_id: env.message_id,
        in_reply_to: env.in_reply_to,
        flags: meta.flags.to_vec(),
        labels: meta.ids.labels,
        attachments: attachments(message, &leaves),
        headers: msg.as_ref().map(headers::map_of).unwrap_or_default(),
        // Text only when asked for (`textType`), as the original.
        text: text_type.map(|t| text_content(message, &leaves, max_bytes, t)),
        state: None,
    }
}

/// Message details from the header block and BODYSTRUCTURE alone (what a listing
/// fetches), with the text read separately by partial FETCHes: no body is fetched whole, so
/// the details of a 25 MB message cost what its header and text cost.
pub fn details_from_structure(
    meta: Meta<'_>,
    header: &[u8],
    body: Option<&BodyStructure<'_>>,
    text: Option<imapapi_common::command::TextReply>,
) -> MessageDetails {
    let (mut details, info) = details_and_text_info(meta, header, body);
    details.text = text.map(|t| text_under(info.as_ref(), t));
    details
}

/// The `text` of message details: the text read, under the id and sizes of `info` (the
/// message's [`TextInfo`]).
pub fn text_under(info: Option<&TextInfo>, t: imapapi_common::command::TextReply) -> TextContent {
    TextContent {
        id: info.map_or_else(String::new, |i| i.id.clone()),
        encoded_size: info.map(|i| i.encoded_size.clone()).unwrap_or_default(),
        plain: t.plain,
        html: t.html,
        has_more: t.has_more,
    }
}

/// Message details without text, and the [`TextInfo`] a text read later goes under.
pub fn details_and_text_info(
    meta: Meta<'_>,
    header: &[u8],
    body: Option<&BodyStructure<'_>>,
) -> (MessageDetails, Option<TextInfo>) {
    let headers = parsed(MessageParser::new().parse_headers(header))
        .as_ref()
        .map(headers::map_of)
        .unwrap_or_default();
    let e = list_entry(meta, header, body);
    let info = e.text;
    let details = MessageDetails {
        id: e.id,
        uid: e.uid,
        email_id: e.email_id,
        thread_id: e.thread_id,
        date: e.date,
        draft: e.draft,
        unseen: e.unseen,
        flagged: e.flagged,
        answered: e.answered,
        size: e.size,
        subject: e.subject,
        from: e.from,
        sender: e.sender,
        to: e.to,
        cc: e.cc,
        bcc: e.bcc,
        reply_to: e.reply_to,
        message_id: e.message_id,
        in_reply_to: e.in_reply_to,
        flags: e.flags,
        labels: e.labels,
        attachments: e.attachments,
        headers,
        text: None,
        state: None,
    };
    (details, info)
}

/// The decoded text of a message for the text route.
pub fn text(
    mailbox_id: u32,
    uid: u32,
    raw: &[u8],
    max_bytes: Option<u64>,
    text_type: TextType,
) -> TextContent {
    let message = MessageId::new(mailbox_id, uid);
    let msg = parsed(MessageParser::new().parse(raw));
    let leaves = msg.as_ref().map(parts::from_message).unwrap_or_default();
    text_content(message, &leaves, max_bytes, text_type)
}

#[cfg(test)]
mod tests;
