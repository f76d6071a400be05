//! `GET /v1/account/:id/mailboxes` entries.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The special uses (RFC 6154) a listed folder can carry, as the gateway spells them in
/// `specialUse`; INBOX is `\Inbox` beside these.
pub const SPECIAL_USES: [&str; 7] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

/// One folder of an account, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailboxEntry {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_path: Option<String>,
    pub name: String,
    pub listed: bool,
    pub subscribed: bool,
    /// `\Sent`, `\Trash`, … (`\Inbox` for INBOX); `false` for an ordinary folder, as in
    /// the original.
    #[schema(schema_with = super::or_false::schema::string_or_false)]
    #[serde(default, with = "super::or_false")]
    pub special_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid_next: Option<u32>,
}

/// `GET /v1/account/:id/mailboxes` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MailboxList {
    pub mailboxes: Vec<MailboxEntry>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn special_use_is_false_for_an_ordinary_folder() {
        // `MailboxResponseItem` with the examples of the contract.
        let sent: MailboxEntry = serde_json::from_value(json!({
            "path": "Kalender/S&APw-nnip&AOQ-evad", "delimiter": "/", "parentPath": "Kalender",
            "name": "Sünnipäevad", "listed": true, "subscribed": true, "specialUse": "\\Sent",
            "messages": 120, "uidNext": 121
        }))
        .unwrap();
        assert_eq!(sent.special_use.as_deref(), Some("\\Sent"));
        assert_eq!(serde_json::to_value(&sent).unwrap()["specialUse"], "\\Sent");

        let plain = MailboxEntry {
            special_use: None,
            ..sent
        };
        let v = serde_json::to_value(&plain).unwrap();
        assert_eq!(v["specialUse"], false);
        let back: MailboxEntry = serde_json::from_value(v).unwrap();
        assert_eq!(back, plain);
    }
}
