//! Message listing entries and decoded message details.
//!
//! `emailId`, `threadId` and `labels` are there only when the server has them (Gmail's
//! `X-GM-*` items, or RFC 8474 `OBJECTID`); an attachment without a name has
//! `filename: false`, as in the original.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One mailbox of an address header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    #[serde(default)]
    pub name: String,
    pub address: String,
}

/// Encoded sizes of the plain and html text of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
pub struct EncodedSize {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<u64>,
}

/// `text` of a listing entry: the id to fetch the text with and its encoded sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextInfo {
    pub id: String,
    pub encoded_size: EncodedSize,
}

/// `text` of message details: the decoded content, cut at `maxBytes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextContent {
    pub id: String,
    pub encoded_size: EncodedSize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    pub has_more: bool,
}

/// One attachment of a listing entry or of message details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentEntry {
    pub id: String,
    pub content_type: String,
    pub encoded_size: u64,
    /// `false` when the part has no name.
    #[schema(schema_with = super::or_false::schema::string_or_false)]
    #[serde(default, with = "super::or_false")]
    pub filename: Option<String>,
    pub embedded: bool,
    pub inline: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

/// One entry of `GET /v1/account/:id/messages` (and `messageNew.data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageListEntry {
    pub id: String,
    pub uid: u32,
    /// Gmail's `X-GM-MSGID` or RFC 8474 `EMAILID`; absent when the server has neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_id: Option<String>,
    /// Gmail's `X-GM-THRID` or RFC 8474 `THREADID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub draft: bool,
    pub unseen: bool,
    pub flagged: bool,
    /// `\Answered` is set.
    #[serde(default)]
    pub answered: bool,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    /// From the header block the entry is read from anyway (an addition to the original's
    /// listing entry; `messageNew` carries it as the details do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<Address>,
    /// The first Reply-To address, like `sender` an addition for `messageNew`'s sake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    /// Gmail labels (`X-GM-LABELS`); absent on other servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextInfo>,
    /// Only in `messageNew` events, with the `notifyHeaders` setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, Vec<String>>>,
}

/// `GET /v1/account/:id/messages` response (and a search's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    /// Messages in the folder (for a search: matches).
    pub total: u32,
    /// This page's number, from 0; with a cursor, the page it starts in (the newer
    /// messages divided by `pageSize`).
    pub page: u32,
    pub pages: u32,
    pub messages: Vec<MessageListEntry>,
    /// Give it as `cursor` for the next page: the messages below this one, unshifted by
    /// mail that arrives meanwhile. Absent on the last page.
    #[serde(
        rename = "nextCursor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(example = "AWVT8QAAAAAq")]
    pub next_cursor: Option<String>,
    /// The account's state when the listing was read: `since` for
    /// `GET /v1/account/:account/changes` to follow what changes after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// `GET /v1/account/:id/message/:message` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDetails {
    pub id: String,
    pub uid: u32,
    /// Gmail's `X-GM-MSGID` or RFC 8474 `EMAILID`; absent when the server has neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_id: Option<String>,
    /// Gmail's `X-GM-THRID` or RFC 8474 `THREADID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    pub draft: bool,
    pub unseen: bool,
    pub flagged: bool,
    /// `\Answered` is set.
    #[serde(default)]
    pub answered: bool,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<Address>,
    /// The first Reply-To address: one object, as in the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub flags: Vec<String>,
    /// Gmail labels (`X-GM-LABELS`); absent on other servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentEntry>,
    /// Original headers: lower-cased name → every value, in order.
    pub headers: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextContent>,
    /// The account's state when the message was read: `since` for
    /// `GET /v1/account/:account/changes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `MessageListEntry` with the examples of the contract (imapapi-1.8-api.json).
    const CONTRACT_ENTRY: &str = r#"{
        "id": "AAAAAgAACrI", "uid": 12345,
        "emailId": "1694937972638499881", "threadId": "1694936993596975454",
        "date": "2021-03-22T13:13:31.000Z", "draft": false, "unseen": true, "flagged": true,
        "size": 1040, "subject": "What a wonderful message",
        "from": {"name": "From Me", "address": "sender@example.com"},
        "to": [{"address": "recipient@example.com"}],
        "messageId": "<test123@example.com>",
        "inReplyTo": "<7JBUMt0WOn+_==MOkaCOQ@mail.gmail.com>",
        "labels": ["\\Important"],
        "attachments": [{"id": "AAAAAgAACrIyLjI", "contentType": "image/gif", "encodedSize": 48,
            "embedded": true, "inline": true, "contentId": "<unique-image-id@localhost>"}],
        "text": {"id": "AAAAAgAACqiTkaExkaEykA", "encodedSize": {"plain": 17, "html": 40}}
    }"#;

    #[test]
    fn listing_entries_read_and_write_the_contract_shape() {
        let e: MessageListEntry = serde_json::from_str(CONTRACT_ENTRY).unwrap();
        assert_eq!(e.email_id.as_deref(), Some("1694937972638499881"));
        assert_eq!(e.labels.as_deref(), Some(&["\\Important".to_string()][..]));
        assert!(!e.answered, "absent reads as not answered");
        assert_eq!(e.attachments[0].filename, None);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["threadId"], "1694936993596975454");
        assert_eq!(v["answered"], false);
        assert_eq!(v["labels"], json!(["\\Important"]));
        // A part without a name says so with `false`, as the original did.
        assert_eq!(v["attachments"][0]["filename"], false);
        assert!(v.get("replyTo").is_none() && v.get("sender").is_none());
        let back: MessageListEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn ids_and_labels_are_absent_where_the_server_has_none() {
        let mut e: MessageListEntry = serde_json::from_str(CONTRACT_ENTRY).unwrap();
        e.email_id = None;
        e.thread_id = None;
        e.labels = None;
        e.attachments[0].filename = Some("dot.gif".into());
        let v = serde_json::to_value(&e).unwrap();
        for key in ["emailId", "threadId", "labels"] {
            assert!(v.get(key).is_none(), "{key}");
        }
        assert_eq!(v["attachments"][0]["filename"], "dot.gif");
    }

    #[test]
    fn details_have_one_reply_to_address() {
        let d: MessageDetails = serde_json::from_value(json!({
            "id": "AAAAAgAACrI", "uid": 12345, "draft": false, "unseen": false,
            "flagged": false, "answered": true, "size": 10, "headers": {},
            "sender": {"name": "Sender", "address": "sender@example.com"},
            "replyTo": {"name": "Some Name", "address": "user@example.com"},
        }))
        .unwrap();
        assert_eq!(d.reply_to.as_ref().unwrap().address, "user@example.com");
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v["replyTo"],
            json!({"name": "Some Name", "address": "user@example.com"})
        );
        assert_eq!(v["answered"], true);
    }
}
