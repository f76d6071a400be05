//! One folder's sync: open it, load its stored index, diff, announce and apply the
//! changes, index the new messages, and commit.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use imapapi_common::model::{EventKind, FolderState};

use super::committer::Committer;
use super::diff::{Diff, read_diff};
use super::{FolderInfo, SyncCtx, SyncError, owes_mailbox_new};
use crate::decode::{self, FetchItems};
use crate::events::{self, FlagChange, FolderRef};
use crate::imap::{Imap, Selected, num_set};
use crate::index::{FolderIndex, flag_changes};
use crate::message_flags::MessageFlags;

/// Messages per FETCH of listing data for new messages.
const FETCH_BATCH: usize = 100;

/// Sync one folder. `stored` is its stored state (None: never synced); `baseline` says the
/// whole account is being synced for the first time (existing mail is not announced).
pub async fn sync_folder(
    imap: &mut Imap,
    ctx: &SyncCtx<'_>,
    folder: &FolderInfo,
    stored: Option<FolderState>,
    baseline: bool,
) -> Result<FolderState, SyncError> {
    let stored = stored.as_ref();
    let known = stored.and_then(|s| s.highest_modseq.map(|m| (s.uid_validity, m)));
    let started = std::time::Instant::now();
    let mut sel = imap.examine(&folder.path, known).await?;
    let examined = started.elapsed();
    let uid_validity = sel.uid_validity.unwrap_or(0);
    let fref = FolderRef {
        account: ctx.account,
        path: &folder.path,
        special_use: folder.special_use.as_deref(),
        uid_validity,
    };
    let first_sync = owes_mailbox_new(stored, uid_validity);
    let mut loaded = load(ctx, &fref, folder, stored, baseline).await?;
    let qresync_used = known.is_some() && imap.qresync && !loaded.reset;
    let opened = started.elapsed();
    let diff = read_diff(imap, &mut sel, &loaded.index, stored, qresync_used).await?;
    tracing::debug!(
        account = ctx.account,
        path = %folder.path,
        qresync = qresync_used,
        // Opening (EXAMINE, of which the server's answer took `examined_ms`) and loading
        // the stored index, then the rest: what the server took to open the folder apart
        // from what reading its messages took.
        opened_ms = opened.as_millis() as u64,
        examined_ms = examined.as_millis() as u64,
        elapsed_ms = started.elapsed().as_millis() as u64,
        removed = diff.removed.len(),
        updated = diff.updated.len(),
        new = diff.new.len(),
        "folder diff"
    );

    let progress = progress_state(folder, &loaded, uid_validity, stored, first_sync);
    let mut committer = Committer::new(ctx, loaded.reset, progress.generation);
    let index = &mut loaded.index;
    apply_changes(&fref, &diff, &progress, index, &mut committer).await?;
    let before_new = started.elapsed();
    let baseline = loaded.baseline;
    announce_new(
        imap,
        ctx,
        &fref,
        diff.new,
        baseline,
        &progress,
        index,
        &mut committer,
    )
    .await?;
    let before_commit = started.elapsed();
    let state = finish(&mut committer, &fref, folder, &sel, progress, index).await?;
    tracing::debug!(
        account = ctx.account,
        path = %folder.path,
        messages = state.messages,
        total_ms = started.elapsed().as_millis() as u64,
        last_commit_ms = (started.elapsed() - before_commit).as_millis() as u64,
        // Indexing the new messages (and fetching those announced, or the dates that
        // tell which are): the time between the diff and the final commit.
        new_ms = (before_commit - before_new).as_millis() as u64,
        "folder synced"
    );
    Ok(state)
}

/// The state the intermediate commits of a sync write: the old sync point, so that an
/// interrupted sync is repeated from there (and finds the changes already applied as
/// no-ops).
fn progress_state(
    folder: &FolderInfo,
    loaded: &Loaded,
    uid_validity: u32,
    stored: Option<&FolderState>,
    first_sync: bool,
) -> FolderState {
    let kept = stored.filter(|_| !loaded.reset);
    FolderState {
        path: folder.path.clone(),
        mailbox_id: loaded.mailbox_id,
        uid_validity,
        uid_next: kept.map(|s| s.uid_next).unwrap_or(1),
        // Until the first full pass completes, QRESYNC must not be used from this state.
        highest_modseq: kept.and_then(|s| s.highest_modseq),
        special_use: folder.special_use.clone(),
        delimiter: folder.delimiter.clone(),
        messages: loaded.index.len() as u32,
        first_sync_pending: first_sync,
        generation: stored.map_or(0, |s| s.generation),
    }
}

/// Commit the folder at the server's sync point (UIDNEXT, HIGHESTMODSEQ), after its
/// `mailboxNew` when the sync owes one; the state as committed.
async fn finish(
    committer: &mut Committer<'_>,
    fref: &FolderRef<'_>,
    folder: &FolderInfo,
    sel: &Selected,
    mut state: FolderState,
    index: &mut FolderIndex,
) -> Result<FolderState, SyncError> {
    state.uid_next = sel
        .uid_next
        .unwrap_or_else(|| index.max_uid().map(|u| u + 1).unwrap_or(1));
    state.highest_modseq = sel.highest_modseq;
    state.messages = index.len() as u32;
    if state.first_sync_pending {
        // After the folder's messageNew events, before the commit that ends the debt.
        let event = events::mailbox(
            fref,
            EventKind::MailboxNew,
            folder.delimiter.as_deref(),
            Some(fref.uid_validity),
            None,
        );
        committer.announce(event).await?;
        state.first_sync_pending = false;
    }
    committer.commit(&state, index).await?;
    state.generation = committer.generation();
    Ok(state)
}

/// A folder's index as the sync starts from it.
struct Loaded {
    mailbox_id: u32,
    index: FolderIndex,
    /// The folder starts over (UIDVALIDITY changed, or its stored index is unreadable).
    reset: bool,
    /// Existing mail is not announced (the account's first sync, or a reset).
    baseline: bool,
}

/// Load the stored index of a folder whose UIDVALIDITY is `fref.uid_validity`: the stored
/// one when it matches, else a new empty one under a new mailbox id (announcing
/// `mailboxReset` when the UIDVALIDITY changed).
async fn load(
    ctx: &SyncCtx<'_>,
    fref: &FolderRef<'_>,
    folder: &FolderInfo,
    stored: Option<&FolderState>,
    baseline: bool,
) -> Result<Loaded, SyncError> {
    let uid_validity = fref.uid_validity;
    let mut reset = false;
    let mut baseline = baseline;
    let (mailbox_id, index) = match stored {
        Some(s) if s.uid_validity == uid_validity => {
            let chunks = ctx.store().load_index(ctx.account, &folder.path).await?;
            match FolderIndex::from_chunks(&chunks) {
                Ok(i) => (s.mailbox_id, i),
                Err(e) => {
                    tracing::warn!(account = ctx.account, path = %folder.path, error = %e, "stored index unreadable; rebuilding without events");
                    reset = true;
                    baseline = true;
                    (s.mailbox_id, FolderIndex::new())
                }
            }
        }
        Some(s) => {
            let event = events::mailbox(
                fref,
                EventKind::MailboxReset,
                folder.delimiter.as_deref(),
                Some(uid_validity),
                Some(s.uid_validity),
            );
            events::publish(ctx.services, event).await?;
            reset = true;
            baseline = true;
            (ctx.store().allocate_mailbox_id().await?, FolderIndex::new())
        }
        None => (ctx.store().allocate_mailbox_id().await?, FolderIndex::new()),
    };
    Ok(Loaded {
        mailbox_id,
        index,
        reset,
        baseline,
    })
}

/// Announce and apply removed and flag-changed messages, committing in batches.
async fn apply_changes(
    fref: &FolderRef<'_>,
    diff: &Diff,
    progress: &FolderState,
    index: &mut FolderIndex,
    committer: &mut Committer<'_>,
) -> Result<(), SyncError> {
    let mailbox_id = progress.mailbox_id;
    for uid in &diff.removed {
        committer
            .announce(events::message_deleted(fref, mailbox_id, *uid))
            .await?;
        index.remove(*uid);
        committer.step(progress, index).await?;
    }
    for update in &diff.updated {
        let new = update.new.names();
        let changes = flag_changes(&update.old, &new);
        let change = FlagChange {
            mailbox_id,
            uid: update.uid,
            generation: committer.generation(),
            flags: &new,
            changes: &changes,
        };
        committer
            .announce(events::message_updated(fref, change))
            .await?;
        index.set(update.uid, &update.new);
        committer.step(progress, index).await?;
    }

    Ok(())
}

/// Index the new messages, announcing those a `messageNew` is owed for (all of them,
/// except on an account's first sync, where only mail received since `notifyFrom` is),
/// fetched in batches and committed as they go.
#[allow(clippy::too_many_arguments)]
async fn announce_new(
    imap: &mut Imap,
    ctx: &SyncCtx<'_>,
    fref: &FolderRef<'_>,
    new: Vec<(u32, MessageFlags)>,
    baseline: bool,
    progress: &FolderState,
    index: &mut FolderIndex,
    committer: &mut Committer<'_>,
) -> Result<(), SyncError> {
    let mailbox_id = progress.mailbox_id;
    // New messages: announced unless this is a first sync, where only mail received after
    // `notifyFrom` is.
    let announce: HashSet<u32> = if !baseline {
        new.iter().map(|(u, _)| *u).collect()
    } else if let Some(from) = ctx.notify_from.filter(|_| !new.is_empty()) {
        // Only mail received since `notifyFrom` is fetched in full and announced.
        recent_uids(imap, &new, from).await?
    } else {
        HashSet::new()
    };
    let mut quiet = Vec::new();
    let mut loud = Vec::new();
    for (uid, flags) in &new {
        if announce.contains(uid) {
            loud.push(*uid);
        } else {
            quiet.push((*uid, flags));
        }
    }
    // Unannounced entries need no intermediate commits: batches exist to bound how many
    // events a crash would repeat, and these have none (an interrupted first sync simply
    // runs again). One commit at the end keeps a first sync at a handful of round trips.
    for (uid, flags) in quiet {
        index.set(uid, flags);
    }
    let fetch_items = FetchItems::of(imap);
    let wants_headers = ctx
        .settings
        .notify_headers
        .as_ref()
        .is_some_and(|h| !h.is_empty());
    let items = if ctx.settings.notify_text == Some(true) {
        fetch_items.list_with_text()
    } else if wants_headers {
        fetch_items.details()
    } else {
        fetch_items.list()
    };
    for batch in loud.chunks(FETCH_BATCH) {
        let fetched = imap
            .fetch_full(&format!("UID FETCH {} {items}", num_set(batch)))
            .await?;
        let mut fetched: Vec<_> = fetched.into_iter().filter(|f| f.uid().is_some()).collect();
        fetched.sort_by_key(|f| f.uid());
        for f in &fetched {
            let Some(uid) = f.uid() else { continue };
            if !batch.contains(&uid) {
                continue;
            }
            let flags = MessageFlags::from_names(&f.flags().unwrap_or_default());
            let wanted = !baseline
                || match (ctx.notify_from, decode::received(f)) {
                    (Some(from), Some(at)) => at >= from,
                    _ => false,
                };
            if wanted && let Some(entry) = decode::event_entry(mailbox_id, f, ctx.settings) {
                committer
                    .announce(events::message_new(fref, uid, entry))
                    .await?;
            }
            index.set(uid, &flags);
            committer.step(progress, index).await?;
        }
    }

    Ok(())
}

/// The uids among `new` (ascending) received at or after `from`. Mail arrives in uid
/// order, so recent mail is a tail of the uids: read the INTERNALDATE of a window of the
/// highest uids, widening it only while its oldest message is still recent. A
/// 100,000-message mailbox registered today costs one small FETCH, where a SEARCH by date
/// makes the server compute the date of every message.
async fn recent_uids(
    imap: &mut Imap,
    new: &[(u32, MessageFlags)],
    from: DateTime<Utc>,
) -> Result<HashSet<u32>, SyncError> {
    const FIRST_WINDOW: usize = 64;
    let Some(&(last, _)) = new.last() else {
        return Ok(HashSet::new());
    };
    let mut window = FIRST_WINDOW;
    loop {
        let start = new.len().saturating_sub(window);
        let lo = new[start].0;
        let found: HashSet<u32> = imap
            .fetch_full(&format!("UID FETCH {lo}:{last} (UID INTERNALDATE)"))
            .await?
            .iter()
            .filter_map(|f| {
                let uid = f.uid()?;
                (decode::received(f)? >= from).then_some(uid)
            })
            .collect();
        if start == 0 || !found.contains(&lo) {
            return Ok(found);
        }
        window = window.saturating_mul(4);
    }
}
