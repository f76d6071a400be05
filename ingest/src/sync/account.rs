//! An account's sync: INBOX first, then the folder list (folders gone announced as
//! deleted) and every folder on a connect, or those whose STATUS moved on a poll.

use std::collections::BTreeMap;

use imapapi_common::model::{EventKind, FolderState};

use super::folder::sync_folder;
use super::{FolderInfo, SyncCtx, SyncError, selectable, status_unchanged};
use crate::events::{self, FolderRef};
use crate::imap::{Imap, ImapError};

/// On a connect, INBOX is synced before the folder list is read, named as it always
/// exists (RFC 3501 §5.1) with the delimiter of `LIST "" ""`: in Dovecot (2.3, Maildir),
/// once a session has LISTed folders (or asked a STATUS), every opening of INBOX rereads
/// its whole uidlist file, ~0.1 s at 100,000 messages, which was a third of a first sync.
/// It is opened again after the other folders (the session watches it), at that price,
/// but after the sync is complete. Whether it was synced (a server refusing it leaves it
/// to the pass over the listed folders).
async fn sync_inbox_first(
    imap: &mut Imap,
    ctx: &SyncCtx<'_>,
    states: &mut BTreeMap<String, FolderState>,
    baseline: bool,
) -> Result<bool, SyncError> {
    let inbox = FolderInfo {
        path: "INBOX".to_string(),
        delimiter: imap.delimiter().await?,
        special_use: Some("\\Inbox".to_string()),
    };
    let prev = states.get(&inbox.path).cloned();
    match sync_folder(imap, ctx, &inbox, prev, baseline).await {
        Ok(state) => {
            states.insert(inbox.path, state);
            Ok(true)
        }
        Err(SyncError::Imap(ImapError::Refused(e))) => {
            tracing::debug!(account = ctx.account, error = %e, "INBOX refused before listing");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Sync the folder list: `mailboxDeleted` for folders that disappeared since the stored
/// state, then the folders themselves (a new one announces itself with `mailboxNew` at the
/// end of its first sync). With `full`, every
/// folder is synced (connect); otherwise only those whose STATUS differs from the stored
/// state (the poll), and never `skip` (the IDLEd folder, kept current by IDLE).
/// `states` holds the stored state of every watched folder and is kept up to date.
pub async fn sync_account(
    imap: &mut Imap,
    ctx: &SyncCtx<'_>,
    only: Option<&str>,
    states: &mut BTreeMap<String, FolderState>,
    full: bool,
    skip: Option<&str>,
) -> Result<Vec<FolderInfo>, SyncError> {
    if full {
        states.clear();
        for s in ctx.store().list_folders(ctx.account).await? {
            states.insert(s.path.clone(), s);
        }
    }
    let baseline = states.is_empty();
    let inbox_first = full && only.is_none_or(|p| p == "*");
    let inbox_synced = inbox_first && sync_inbox_first(imap, ctx, states, baseline).await?;
    let listed = imap.list().await?;
    let folders = selectable(&listed, only);
    forget_gone(ctx, states, &folders).await?;
    // The folder IDLE will watch goes last, so that it is still selected when IDLE starts
    // and needs no second pass (see the session loop); on a connect INBOX went first
    // instead ([`sync_inbox_first`]) and the session selects it again.
    let watch = only.unwrap_or("INBOX");
    let mut order: Vec<&FolderInfo> = folders.iter().collect();
    order.sort_by_key(|f| f.path.eq_ignore_ascii_case(watch));
    for f in order {
        if inbox_synced && f.path == "INBOX" {
            continue;
        }
        let prev = states.get(&f.path).cloned();
        if let Some(p) = &prev
            && !full
            && (skip == Some(f.path.as_str()) || !moved(imap, ctx, f, p).await?)
        {
            continue;
        }
        let state = match sync_folder(imap, ctx, f, prev, baseline).await {
            Ok(state) => state,
            Err(SyncError::Imap(ImapError::Refused(e))) => {
                tracing::warn!(account = ctx.account, path = %f.path, error = %e,
                    "folder refused; left for the next pass");
                continue;
            }
            Err(e) => return Err(e),
        };
        states.insert(f.path.clone(), state);
    }
    Ok(folders)
}

/// Announce `mailboxDeleted` for every folder of `states` no longer listed (all in one
/// batch, before any of them is forgotten), then forget them.
async fn forget_gone(
    ctx: &SyncCtx<'_>,
    states: &mut BTreeMap<String, FolderState>,
    listed: &[FolderInfo],
) -> Result<(), SyncError> {
    let gone: Vec<FolderState> = states
        .values()
        .filter(|s| !listed.iter().any(|f| f.path == s.path))
        .cloned()
        .collect();
    let deleted = gone
        .iter()
        .map(|s| {
            let fref = FolderRef {
                account: ctx.account,
                path: &s.path,
                special_use: s.special_use.as_deref(),
                uid_validity: s.uid_validity,
            };
            events::mailbox(
                &fref,
                EventKind::MailboxDeleted,
                s.delimiter.as_deref(),
                Some(s.uid_validity),
                None,
            )
        })
        .collect();
    events::publish_all(ctx.services, deleted).await?;
    for s in gone {
        if !ctx
            .store()
            .delete_folder(ctx.account, ctx.node, &s.path)
            .await?
        {
            return Err(SyncError::LeaseLost);
        }
        states.remove(&s.path);
    }
    Ok(())
}

/// Whether a known folder's STATUS differs from its stored state (a poll syncs only
/// those). A folder deleted since it was listed (by the api's own connection, say) has not
/// moved: the next pass no longer lists it and announces it gone.
async fn moved(
    imap: &mut Imap,
    ctx: &SyncCtx<'_>,
    folder: &FolderInfo,
    stored: &FolderState,
) -> Result<bool, SyncError> {
    match imap.status(&folder.path).await {
        Ok(st) => Ok(!status_unchanged(&st, stored)),
        Err(ImapError::Refused(e)) => {
            tracing::debug!(account = ctx.account, path = %folder.path, error = %e,
                "folder gone before its STATUS");
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
