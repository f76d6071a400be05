//! Checking IMAP settings before they are saved (`POST /v1/verifyAccount`). It belongs to
//! no account, so api sends it to any live ingest node, which owns the IMAP code.

use serde::{Deserialize, Serialize};

use crate::model::{ImapConfig, MailboxEntry};

/// Connect, authenticate and (with `mailboxes`) list the folders; save nothing. Secrets
/// in `imap` are sealed with `service.secret` when it is set, as stored accounts are, so
/// they never cross a broker in the clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyImap {
    pub imap: ImapConfig,
    #[serde(default)]
    pub mailboxes: bool,
}

/// `{success, error, code}` as the original, plus the folders when asked for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct VerifyImapReply {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Which step failed: `ConnectError` (DNS, TCP, TLS, greeting) or
    /// `AuthenticationError`, or the server's response code when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailboxes: Option<Vec<MailboxEntry>>,
}
