//! Per-folder sync state kept in the store between runs.

use serde::{Deserialize, Serialize};

/// What the gateway remembers of one folder of one account. The uid→flags index is stored
/// beside it in chunks (see `store`), not in this struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderState {
    pub path: String,
    /// Gateway-wide unique, never reused (a new one on UIDVALIDITY change or when the
    /// account is registered again): the folder half of message ids.
    pub mailbox_id: u32,
    pub uid_validity: u32,
    pub uid_next: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest_modseq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Number of messages in the index.
    #[serde(default)]
    pub messages: u32,
    /// A first sync (of a new folder, or of one whose UIDVALIDITY changed) has not
    /// finished: its `mailboxNew`, published when the first sync completes, is still owed.
    /// The intermediate commits of a long first sync write it, so a sync interrupted by a
    /// crash still announces the folder when it completes (at least once, like every event).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_sync_pending: bool,
    /// How many times this state was committed. Flag-change events include it in their id:
    /// a change announced again from the same stored state (after a crash, a reconnect, a
    /// handover) keeps its id, while the same flags changing again later, after a commit,
    /// get a new one. 0 in states stored before it existed.
    #[serde(default)]
    pub generation: u64,
}
