//! The request/reply protocol between api (and submit) and the ingest process that owns an
//! account. Carried as JSON over the `Bus` request channel, so it works the same in one
//! process and across machines.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::model::{MailboxList, MessageDetails, MessageList};

/// What text to include in message details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TextType {
    Plain,
    Html,
    #[default]
    #[serde(rename = "*")]
    All,
}

/// A command for one account, executed over its IMAP connection by the owning ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "camelCase")]
pub enum CommandKind {
    ListMailboxes,
    #[serde(rename_all = "camelCase")]
    ListMessages {
        path: String,
        page: u32,
        page_size: u32,
    },
    #[serde(rename_all = "camelCase")]
    GetMessage {
        /// Encoded message id (decoded and checked by api first).
        message: String,
        max_bytes: Option<u64>,
        text_type: TextType,
    },
    /// Drop the connection and connect again with the stored config (after an update).
    Reconnect,
    /// Close the connection for good and give up the lease (the account was deleted).
    Close,
}

/// An addressed command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub account: String,
    #[serde(flatten)]
    pub kind: CommandKind,
}

/// The reply to a [`Command`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", content = "body", rename_all = "camelCase")]
pub enum CommandReply {
    Mailboxes(MailboxList),
    Messages(MessageList),
    Message(Box<MessageDetails>),
    Done,
    Error(ApiError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_json() {
        let c = Command {
            account: "a".into(),
            kind: CommandKind::ListMessages {
                path: "INBOX".into(),
                page: 1,
                page_size: 20,
            },
        };
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Command>(&j).unwrap(), c);
        let r = CommandReply::Error(ApiError::not_found("x"));
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<CommandReply>(&j).unwrap(), r);
    }
}
