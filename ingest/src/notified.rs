//! Acting on what NOTIFY (RFC 5465) reported about folders other than the watched one:
//! syncing each folder it named, or the folder list when folders were created, renamed or
//! deleted (or a folder is named that the list does not have yet). This is what makes a
//! change in Sent, Archive or a nested folder reach the webhook as fast as one in INBOX,
//! instead of at the next periodic resync.

use std::collections::BTreeMap;

use imapapi_common::model::FolderState;

use crate::imap::{Imap, ImapError};
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
