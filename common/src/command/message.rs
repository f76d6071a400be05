//! Commands on one message: details, text, flags, move, delete; and uploading a new one.
//! Message ids are the encoded ids of the API; api checks their syntax before sending.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{TextType, WireBytes};

/// `GET /v1/account/:id/message/:message?maxBytes=&textType=`. Text is included only when
/// `text_type` is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetMessage {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_type: Option<TextType>,
}

/// `GET /v1/account/:id/text/:text?maxBytes=&textType=`: only the text parts, fetched
/// partially (at most what `maxBytes` needs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetText {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    pub text_type: TextType,
}

/// `{plain, html, hasMore}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TextReply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    pub has_more: bool,
}

/// Flag (or Gmail label) changes: `set` replaces all; otherwise `add` then `delete`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Vec<String>>,
}

/// `PUT /v1/account/:id/message/:message` with `{flags: {add, delete, set}, labels: {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateFlags {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<FlagUpdate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<FlagUpdate>,
}

/// Which of the requested changes were applied (the original's `FlagResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct FlagChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateFlagsReply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<FlagChanges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<FlagChanges>,
}

/// `PUT /v1/account/:id/message/:message/move` with `{path}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveMessage {
    pub message: String,
    pub path: String,
}

/// Where the message is now. `id` and `uid` are known when the server reports the new uid
/// (UIDPLUS) and the target folder is synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MoveMessageReply {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// `DELETE /v1/account/:id/message/:message?force=`: to Trash, or expunged when already in
/// Trash or with `force`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMessage {
    pub message: String,
    #[serde(default)]
    pub force: bool,
}

/// The Trash copy of a message deleted by moving it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MovedTo {
    pub destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeleteMessageReply {
    pub deleted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<MovedTo>,
}

/// `POST /v1/account/:id/message`: APPEND a message that api has already built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadMessage {
    pub path: String,
    pub raw: WireBytes,
    #[serde(default)]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UploadMessageReply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
}

/// Store a copy of a sent message in the account's Sent folder (special use `\Sent`, else a
/// well-known name such as `Sent Items`), flagged `\Seen`: the submit role's follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveSent {
    pub raw: WireBytes,
}

/// Where the copy went; `path: None` when the account has no Sent folder (nothing stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveSentReply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// True for a flag or keyword that can go on the IMAP wire as an atom: `\Seen`, `$Label1`,
/// `Important`; nothing that could add syntax (spaces, parentheses, quotes, wildcards).
pub fn is_valid_flag(flag: &str) -> bool {
    let body = flag.strip_prefix('\\').unwrap_or(flag);
    !body.is_empty()
        && flag.len() <= 128
        && body
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_valid_flag;

    #[test]
    fn flags_are_atoms() {
        for ok in ["\\Seen", "$Forwarded", "Important", "\\Answered"] {
            assert!(is_valid_flag(ok), "{ok}");
        }
        for bad in [
            "",
            "\\",
            "a b",
            "x)",
            "\\Seen \\Deleted",
            "a\r\n",
            "*",
            "\"q\"",
            "\\\\x",
        ] {
            assert!(!is_valid_flag(bad), "{bad}");
        }
    }
}
