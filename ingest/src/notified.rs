//! Acting on what NOTIFY (RFC 5465) reported about folders other than the watched one:
//! syncing each folder it named, or the folder list when folders were created, renamed or
//! deleted (or a folder is named that the list does not have yet). This is what makes a
//! change in Sent, Archive or a nested folder reach the webhook as fast as one in INBOX,
//! instead of at the next periodic resync.

use std::collections::{BTreeMap, BTreeSet};

use imapapi_common::model::FolderState;

use crate::imap::notices::Notice;
use crate::imap::{FolderStatus, Imap, ImapError};
use crate::sync::{self, FolderInfo, SyncCtx, SyncError};

/// Sync what the pending notices name; whether the watched folder was among them (the
/// session syncs that one itself, where IDLE expects it selected).
pub async fn sync(
    imap: &mut Imap,
    ctx: &SyncCtx<'_>,
    folders: &mut Vec<FolderInfo>,
    states: &mut BTreeMap<String, FolderState>,
    watched: Option<&str>,
) -> Result<bool, SyncError> {
    let (changed, listing) = imap.notices.take();
    let watched_changed = changed.iter().any(|p| Some(p.as_str()) == watched);
    let unknown = changed
        .iter()
        .any(|p| !folders.iter().any(|f| &f.path == p));
    if listing || unknown {
        // New, renamed and deleted folders, and every folder whose STATUS moved.
        *folders = sync::sync_account(imap, ctx, None, states, false, watched).await?;
        return Ok(watched_changed);
    }
    for path in changed {
        if Some(path.as_str()) == watched {
            continue;
        }
        let Some(info) = folders.iter().find(|f| f.path == path) else {
            continue;
        };
        let prev = states.get(&path).cloned();
        match sync::sync_folder(imap, ctx, info, prev, false).await {
            Ok(state) => {
                states.insert(path, state);
            }
            // Gone since it was listed: the next pass of the folder list announces it.
            Err(SyncError::Imap(ImapError::Refused(e))) => {
                tracing::debug!(account = ctx.account, %path, error = %e, "notified folder refused");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(watched_changed)
}

/// Compare the STATUS of each folder sent as NOTIFY began with `states`, the folders as
/// the sync before it left them, and keep a notice for every folder that moved since (so
/// a change made between the sync and NOTIFY is not missed; see [`moved_since_sync`]).
pub fn note_moved_since_sync(
    imap: &mut Imap,
    states: &BTreeMap<String, FolderState>,
    statuses: Vec<(String, FolderStatus)>,
) {
    let (moved, listing) = moved_since_sync(states, statuses, imap.selected.as_deref());
    for path in moved {
        imap.notices.add(Some(Notice::Folder(path)));
    }
    if listing {
        imap.notices.add(Some(Notice::Listing));
    }
}

/// The folders that moved since the sync: one whose STATUS differs from its state, or a
/// folder the sync did not know (made meanwhile); and whether the folder list changed: a
/// known folder without a STATUS (gone meanwhile). The `selected` folder has no STATUS:
/// what happened to it meanwhile was reported as it is for any command (`Imap::changed`).
fn moved_since_sync(
    states: &BTreeMap<String, FolderState>,
    statuses: Vec<(String, FolderStatus)>,
    selected: Option<&str>,
) -> (Vec<String>, bool) {
    let mut seen = BTreeSet::new();
    let mut moved = Vec::new();
    for (path, st) in statuses {
        if !states
            .get(&path)
            .is_some_and(|s| sync::status_unchanged(&st, s))
        {
            moved.push(path.clone());
        }
        seen.insert(path);
    }
    let listing = states
        .keys()
        .any(|p| !seen.contains(p) && selected != Some(p.as_str()));
    (moved, listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(path: &str, uid_next: u32, modseq: u64) -> (String, FolderState) {
        let s = FolderState {
            path: path.into(),
            mailbox_id: 1,
            uid_validity: 7,
            uid_next,
            highest_modseq: Some(modseq),
            special_use: None,
            delimiter: Some("/".into()),
            messages: uid_next - 1,
            first_sync_pending: false,
            generation: 1,
        };
        (path.into(), s)
    }

    fn status(uid_next: u32, modseq: u64) -> FolderStatus {
        FolderStatus {
            messages: Some(uid_next - 1),
            uid_next: Some(uid_next),
            uid_validity: Some(7),
            highest_modseq: Some(modseq),
        }
    }

    #[test]
    fn finds_what_moved_between_the_sync_and_notify() {
        let states: BTreeMap<_, _> = [
            state("INBOX", 10, 50),
            state("Sent", 3, 9),
            state("Archive", 5, 20),
            state("Junk", 1, 1),
        ]
        .into_iter()
        .collect();
        let statuses = vec![
            ("Sent".to_string(), status(3, 9)),
            ("Archive".to_string(), status(5, 21)),
            ("Junk".to_string(), status(2, 2)),
            ("New".to_string(), status(1, 1)),
        ];
        // INBOX is selected (no STATUS for it): nothing said of it here.
        let (moved, listing) = moved_since_sync(&states, statuses.clone(), Some("INBOX"));
        assert_eq!(moved, vec!["Archive", "Junk", "New"]);
        assert!(!listing);
        // Another folder selected: INBOX without a STATUS is gone from the list.
        let (_, listing) = moved_since_sync(&states, statuses, Some("Sent"));
        assert!(listing);
    }
}
