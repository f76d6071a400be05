//! A queued send as the outbox lists it (`GET /v1/outbox`) and the submit worker works from
//! it: the envelope and what to do after the send, while the MIME itself is stored apart.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a queued send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum OutboxState {
    /// Waiting for its turn (or for `sendAt`).
    Queued,
    /// A worker is talking to the SMTP server.
    Sending,
    /// The SMTP server accepted it; the Sent copy and the flag on the original are pending.
    /// A job found in this state is never sent again.
    Sent,
    /// Given up: a permanent refusal, or attempts ran out.
    Failed,
    /// Cancelled through the api before it was sent.
    Cancelled,
}

/// The SMTP envelope: who the server is told the mail is from and for (Bcc included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub from: String,
    pub to: Vec<String>,
}

/// The message a send replies to or forwards, flagged once the send is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentReference {
    /// The API id of the original message.
    pub message: String,
    /// `reply` (flag `\Answered`) or `forward` (flag `$Forwarded`).
    pub action: String,
}

/// One send in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    /// The job's id: time-ordered, so the outbox lists oldest first.
    pub queue_id: String,
    pub account: String,
    /// The `Message-ID` header of the mail.
    pub message_id: String,
    pub envelope: Envelope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<SentReference>,
    /// When it was queued (RFC 3339).
    pub created: String,
    /// Not sent before this time (RFC 3339), when scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    pub state: OutboxState,
    /// SMTP attempts so far.
    pub attempts: u32,
    /// The SMTP server's answer once it accepted the mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Size of the MIME message in bytes.
    pub size: u64,
}

/// The queue message of a send: only the outbox entry's id. The entry and its MIME stay in
/// the store, so a message far larger than a queue message travels by reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitJob {
    pub queue_id: String,
}
