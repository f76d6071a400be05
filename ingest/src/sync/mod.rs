//! Folder sync: compare what the server has with the stored state and index, publish the
//! differences as events, then commit the new state in batches.
//!
//! With QRESYNC the server reports only what changed since the stored HIGHESTMODSEQ
//! (VANISHED and changed FETCH FLAGS); otherwise `UID FETCH 1:* (UID FLAGS)` is diffed
//! against the stored index. Events are published before the commit that records them, in
//! one batch per commit (or per `committer::EVENT_BATCH`), so a crash in between repeats events
//! rather than losing them. A folder's first sync (new folder, the account's first sync,
//! or after `mailboxReset`) ends with `mailboxNew`, after that folder's `messageNew`
//! events, as the original did.

//!
//! One file per step: [`diff`] (what changed), [`committer`] (publish, then commit),
//! [`folder`] (one folder's sync) and [`account`] (INBOX first, then the folder list).

use chrono::{DateTime, Utc};
use imapapi_common::Services;
use imapapi_common::bus::BusError;
use imapapi_common::model::{FolderState, Settings};
use imapapi_common::store::{SharedStore, StoreError};

use crate::events;
use crate::imap::{FolderStatus, ImapError, Listed};

/// Index changes committed per store write: a constant number of round trips per batch.
pub const COMMIT_BATCH: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A fenced write was refused: another node owns the account now.
    #[error("account lease lost")]
    LeaseLost,
}

impl From<events::PublishError> for SyncError {
    fn from(e: events::PublishError) -> Self {
        match e {
            events::PublishError::Store(e) => SyncError::Store(e),
            events::PublishError::Bus(e) => SyncError::Bus(e),
        }
    }
}

/// What a sync needs to know besides the connection.
pub struct SyncCtx<'a> {
    pub services: &'a Services,
    pub node: &'a str,
    pub account: &'a str,
    pub settings: &'a Settings,
    /// On a first sync, only messages received after this produce `messageNew`.
    pub notify_from: Option<DateTime<Utc>>,
}

impl SyncCtx<'_> {
    fn store(&self) -> &SharedStore {
        &self.services.store
    }
}

/// A folder as listed now.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderInfo {
    pub path: String,
    pub delimiter: Option<String>,
    pub special_use: Option<String>,
}

/// The special use of a listed folder; INBOX is `\Inbox` as in the original.
pub fn special_use(l: &Listed) -> Option<String> {
    if l.path.eq_ignore_ascii_case("INBOX") {
        return Some("\\Inbox".into());
    }
    l.attributes.iter().find_map(|a| {
        imapapi_common::model::SPECIAL_USES
            .iter()
            .find(|s| s.eq_ignore_ascii_case(a))
            .map(|s| s.to_string())
    })
}

/// Folders that can hold messages, restricted to `path` when the account watches one.
pub fn selectable(listed: &[Listed], only: Option<&str>) -> Vec<FolderInfo> {
    listed
        .iter()
        .filter(|l| {
            !l.attributes.iter().any(|a| {
                a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
            })
        })
        .filter(|l| match only {
            Some(p) if p != "*" => l.path == p,
            _ => true,
        })
        .map(|l| FolderInfo {
            // INBOX is case-insensitive (RFC 3501 §5.1): one spelling, whatever the server's,
            // so that it is the same folder as the one a connect syncs before listing.
            path: if l.path.eq_ignore_ascii_case("INBOX") {
                "INBOX".to_string()
            } else {
                l.path.clone()
            },
            delimiter: l.delimiter.clone(),
            special_use: special_use(l),
        })
        .collect()
}

/// Whether a folder's STATUS says it is as `state` left it (what STATUS does not tell, a
/// server without HIGHESTMODSEQ, counts as unchanged).
pub fn status_unchanged(st: &FolderStatus, state: &FolderState) -> bool {
    st.uid_validity.is_none_or(|v| v == state.uid_validity)
        && st.uid_next.is_none_or(|n| n == state.uid_next)
        && st.messages.is_none_or(|m| m == state.messages)
        && match (st.highest_modseq, state.highest_modseq) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// Whether a sync of a folder with this stored state is (or completes) its first sync, which
/// owes a `mailboxNew`: never synced, its first sync was interrupted, or its UIDVALIDITY
/// changed (a reset starts the folder over under a new mailbox id).
pub fn owes_mailbox_new(stored: Option<&FolderState>, uid_validity: u32) -> bool {
    stored.is_none_or(|s| s.first_sync_pending || s.uid_validity != uid_validity)
}

mod account;
mod committer;
mod diff;
mod folder;

pub use account::sync_account;
pub use diff::{Diff, diff_changes, diff_full};
pub use folder::sync_folder;

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn state(uid_validity: u32, first_sync_pending: bool) -> FolderState {
        FolderState {
            path: "INBOX".into(),
            mailbox_id: 1,
            uid_validity,
            uid_next: 10,
            highest_modseq: None,
            special_use: None,
            delimiter: None,
            messages: 9,
            first_sync_pending,
            generation: 0,
        }
    }

    #[test]
    fn mailbox_new_is_owed_by_first_syncs_only() {
        // Never synced (a new folder, or the account's very first sync).
        assert!(owes_mailbox_new(None, 5));
        // UIDVALIDITY changed: mailboxReset, then the folder starts over.
        assert!(owes_mailbox_new(Some(&state(4, false)), 5));
        // A first sync that a crash interrupted after an intermediate commit.
        assert!(owes_mailbox_new(Some(&state(5, true)), 5));
        // An ordinary resync.
        assert!(!owes_mailbox_new(Some(&state(5, false)), 5));
    }

    #[test]
    fn the_debt_survives_in_the_stored_state_only_while_owed() {
        let v = serde_json::to_value(state(5, true)).unwrap();
        assert_eq!(v["firstSyncPending"], true);
        let v = serde_json::to_value(state(5, false)).unwrap();
        assert!(v.get("firstSyncPending").is_none());
        // States stored before the field existed owe nothing.
        let old: FolderState = serde_json::from_value(serde_json::json!({
            "path": "INBOX", "mailboxId": 1, "uidValidity": 5, "uidNext": 10
        }))
        .unwrap();
        assert!(!old.first_sync_pending);
    }

    #[test]
    fn special_use_and_selectable() {
        let listed = vec![
            Listed {
                path: "INBOX".into(),
                delimiter: Some("/".into()),
                attributes: vec![],
            },
            Listed {
                path: "Sent".into(),
                delimiter: Some("/".into()),
                attributes: vec!["\\Sent".into()],
            },
            Listed {
                path: "Parent".into(),
                delimiter: Some("/".into()),
                attributes: vec!["\\Noselect".into()],
            },
        ];
        let f = selectable(&listed, None);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].special_use.as_deref(), Some("\\Inbox"));
        assert_eq!(f[1].special_use.as_deref(), Some("\\Sent"));
        assert_eq!(selectable(&listed, Some("Sent")).len(), 1);
    }
}
