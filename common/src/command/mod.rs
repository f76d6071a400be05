//! The request/reply protocol between api (and submit) and the ingest process that owns an
//! account. Carried as JSON over the `Bus` request channel, so it works the same in one
//! process and across machines.
//!
//! Every command is its own type implementing [`Request`], which names its reply type: the
//! caller gets exactly that reply or an [`ApiError`], never a reply of another kind. The
//! [`CommandKind`] enum only exists to tag commands on the wire.

pub mod body;
pub mod client;
pub mod control;
pub mod cursor;
pub mod listing;
pub mod mailbox;
pub mod message;
pub mod verify;
pub mod wire_bytes;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

pub use body::{BodyChunk, PartInfo, ReadBody};
pub use control::{Close, Done, Reconnect};
pub use cursor::ListCursor;
pub use listing::{ListMessages, Search, SearchQuery};
pub use mailbox::{
    CreateMailbox, CreateMailboxReply, DeleteMailbox, DeleteMailboxReply, ListMailboxes,
    RenameMailbox, RenameMailboxReply,
};
pub use message::{
    DeleteMessage, DeleteMessageReply, FlagChanges, FlagUpdate, GetMessage, GetText, MoveMessage,
    MoveMessageReply, MovedTo, SaveSent, SaveSentReply, TextReply, UpdateFlags, UpdateFlagsReply,
    UploadMessage, UploadMessageReply,
};
pub use verify::{VerifyImap, VerifyImapReply};
pub use wire_bytes::WireBytes;

/// What text to include in message details and text downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TextType {
    Plain,
    Html,
    #[default]
    #[serde(rename = "*")]
    All,
}

impl TextType {
    /// Parse the `textType` parameter (`plain`, `html` or `*`, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "plain" => Some(TextType::Plain),
            "html" => Some(TextType::Html),
            "*" => Some(TextType::All),
            _ => None,
        }
    }
    pub fn wants_plain(self) -> bool {
        matches!(self, TextType::Plain | TextType::All)
    }
    pub fn wants_html(self) -> bool {
        matches!(self, TextType::Html | TextType::All)
    }
}

/// A command type and the reply it gets.
pub trait Request: Serialize + DeserializeOwned + Into<CommandKind> + Send + 'static {
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

/// Every command, tagged by `cmd` on the wire.
// `Search` (its criteria) is the large variant. A command lives only between one request and
// its JSON encoding for the bus, so its size costs nothing worth a Box in every variant's
// `From` (see `requests!`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "camelCase")]
pub enum CommandKind {
    ListMailboxes(ListMailboxes),
    CreateMailbox(CreateMailbox),
    DeleteMailbox(DeleteMailbox),
    RenameMailbox(RenameMailbox),
    ListMessages(ListMessages),
    Search(Search),
    GetMessage(GetMessage),
    GetText(GetText),
    ReadBody(ReadBody),
    UpdateFlags(UpdateFlags),
    MoveMessage(MoveMessage),
    DeleteMessage(DeleteMessage),
    UploadMessage(UploadMessage),
    SaveSent(SaveSent),
    VerifyImap(VerifyImap),
    Reconnect(Reconnect),
    Close(Close),
}

impl CommandKind {
    /// The wire name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            CommandKind::ListMailboxes(_) => "listMailboxes",
            CommandKind::CreateMailbox(_) => "createMailbox",
            CommandKind::DeleteMailbox(_) => "deleteMailbox",
            CommandKind::RenameMailbox(_) => "renameMailbox",
            CommandKind::ListMessages(_) => "listMessages",
            CommandKind::Search(_) => "search",
            CommandKind::GetMessage(_) => "getMessage",
            CommandKind::GetText(_) => "getText",
            CommandKind::ReadBody(_) => "readBody",
            CommandKind::UpdateFlags(_) => "updateFlags",
            CommandKind::MoveMessage(_) => "moveMessage",
            CommandKind::DeleteMessage(_) => "deleteMessage",
            CommandKind::UploadMessage(_) => "uploadMessage",
            CommandKind::SaveSent(_) => "saveSent",
            CommandKind::VerifyImap(_) => "verifyImap",
            CommandKind::Reconnect(_) => "reconnect",
            CommandKind::Close(_) => "close",
        }
    }
}

/// Ties each command type to its [`CommandKind`] variant and its reply type.
macro_rules! requests {
    ($($ty:ident => $reply:ty),* $(,)?) => {$(
        impl From<$ty> for CommandKind {
            fn from(r: $ty) -> Self {
                CommandKind::$ty(r)
            }
        }
        impl Request for $ty {
            type Reply = $reply;
        }
    )*};
}

requests! {
    ListMailboxes => crate::model::MailboxList,
    CreateMailbox => CreateMailboxReply,
    DeleteMailbox => DeleteMailboxReply,
    RenameMailbox => RenameMailboxReply,
    ListMessages => crate::model::MessageList,
    Search => crate::model::MessageList,
    GetMessage => crate::model::MessageDetails,
    GetText => TextReply,
    ReadBody => BodyChunk,
    UpdateFlags => UpdateFlagsReply,
    MoveMessage => MoveMessageReply,
    DeleteMessage => DeleteMessageReply,
    UploadMessage => UploadMessageReply,
    SaveSent => SaveSentReply,
    VerifyImap => VerifyImapReply,
    Reconnect => Done,
    Close => Done,
}

/// An addressed command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub account: String,
    #[serde(flatten)]
    pub kind: CommandKind,
}

/// The reply to a [`Command`] on the wire: the command's own reply type, or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reply<T> {
    Ok(T),
    Error(ApiError),
}

impl<T> From<Result<T, ApiError>> for Reply<T> {
    fn from(r: Result<T, ApiError>) -> Self {
        match r {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Error(e),
        }
    }
}

impl<T> Reply<T> {
    pub fn into_result(self) -> Result<T, ApiError> {
        match self {
            Reply::Ok(v) => Ok(v),
            Reply::Error(e) => Err(e),
        }
    }
}

/// Encode an error reply without knowing the command's reply type (routing failures).
pub fn error_reply(e: ApiError) -> Vec<u8> {
    serde_json::to_vec(&Reply::<()>::Error(e)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_json() {
        let c = Command {
            account: "a".into(),
            kind: ListMessages {
                path: "INBOX".into(),
                page: 1,
                page_size: 20,
                cursor: None,
            }
            .into(),
        };
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains("\"cmd\":\"listMessages\""), "{j}");
        assert_eq!(serde_json::from_str::<Command>(&j).unwrap(), c);
        let c = Command {
            account: "a".into(),
            kind: ListMailboxes {}.into(),
        };
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Command>(&j).unwrap(), c);
    }

    #[test]
    fn an_error_reply_decodes_as_any_reply_type() {
        let body = error_reply(ApiError::not_found("x"));
        let r: Reply<crate::model::MessageList> = serde_json::from_slice(&body).unwrap();
        assert_eq!(r.into_result().unwrap_err().status_code, 404);
        let body = serde_json::to_vec(&Reply::Ok(Done {})).unwrap();
        let r: Reply<Done> = serde_json::from_slice(&body).unwrap();
        assert!(r.into_result().is_ok());
    }
}
