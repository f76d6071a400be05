//! Folder sync: compare what the server has with the stored state and index, publish the
//! differences as events, then commit the new state in batches.
//!
//! With QRESYNC the server reports only what changed since the stored HIGHESTMODSEQ
//! (VANISHED and changed FETCH FLAGS); otherwise `UID FETCH 1:* (UID FLAGS)` is diffed
//! against the stored index. Events are published before the commit that records them, in
//! one batch per commit (or per [`EVENT_BATCH`]), so a crash in between repeats events
//! rather than losing them. A folder's first sync (new folder, the account's first sync,
//! or after `mailboxReset`) ends with `mailboxNew`, after that folder's `messageNew`
//! events, as the original did.

use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use imapapi_common::Services;
use imapapi_common::bus::BusError;
use imapapi_common::model::{Event, EventKind, FolderState, Settings};
use imapapi_common::store::{SharedStore, StoreError};

use crate::decode::{self, FetchItems};
use crate::events::{self, FlagChange, FolderRef};
use crate::imap::{FolderStatus, Imap, ImapError, Listed, num_set};
use crate::index::{FolderIndex, flag_changes};

/// Index changes committed per store write: a constant number of round trips per batch.
pub const COMMIT_BATCH: usize = 5_000;
/// Events held for one publish at most: those of a commit batch go out together before its
/// commit, in several publishes when there are more (bounding what waits in memory).
const EVENT_BATCH: usize = 1_000;
/// Messages per FETCH of listing data for new messages.
const FETCH_BATCH: usize = 100;

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

/// The changes found in one folder.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    pub removed: Vec<u32>,
    /// uid, old flags, new flags.
    pub updated: Vec<(u32, Vec<String>, Vec<String>)>,
    /// uid, flags; ascending by uid.
    pub new: Vec<(u32, Vec<String>)>,
}

fn same_flags(a: &[String], b: &[String]) -> bool {
    let c = flag_changes(a, b);
    c.added.is_empty() && c.deleted.is_empty()
}

/// Sort one server entry into the diff: new, changed, or unchanged. Takes the flags by
/// value so a 100,000-message listing is moved into the diff, not copied.
fn classify(d: &mut Diff, index: &FolderIndex, uid: u32, flags: Vec<String>) {
    match index.flags(uid) {
        Some(old) if !same_flags(&old, &flags) => d.updated.push((uid, old, flags)),
        Some(_) => {}
        None => d.new.push((uid, flags)),
    }
}

/// Diff a full `uid → flags` listing from the server against the index.
pub fn diff_full(index: &FolderIndex, server: Vec<(u32, Vec<String>)>) -> Diff {
    let mut d = Diff::default();
    if !index.is_empty() {
        let on_server: HashSet<u32> = server.iter().map(|(u, _)| *u).collect();
        d.removed = index.uids().filter(|u| !on_server.contains(u)).collect();
    }
    for (uid, flags) in server {
        classify(&mut d, index, uid, flags);
    }
    d.new.sort_by_key(|(u, _)| *u);
    d
}

/// Diff QRESYNC output (vanished ranges and changed messages) against the index.
pub fn diff_changes(
    index: &FolderIndex,
    vanished: &[RangeInclusive<u32>],
    changed: Vec<(u32, Vec<String>)>,
) -> Diff {
    let mut d = Diff::default();
    let span: u64 = vanished
        .iter()
        .map(|r| u64::from(*r.end()) - u64::from(*r.start()) + 1)
        .sum();
    if span > index.len() as u64 {
        d.removed = index
            .uids()
            .filter(|u| vanished.iter().any(|r| r.contains(u)))
            .collect();
    } else {
        for r in vanished {
            d.removed.extend(r.clone().filter(|u| index.contains(*u)));
        }
    }
    let removed: HashSet<u32> = d.removed.iter().copied().collect();
    let mut seen = HashSet::new();
    for (uid, flags) in changed {
        if seen.insert(uid) && !removed.contains(&uid) {
            classify(&mut d, index, uid, flags);
        }
    }
    d.new.sort_by_key(|(u, _)| *u);
    d
}

/// Writes a folder's state and index in batches, fenced by the lease, each commit after
/// the events of its changes are published (as one batch: one store and one bus round trip
/// rather than one each per event).
struct Committer<'a> {
    ctx: &'a SyncCtx<'a>,
    /// Reset pending: the first commit drops the old chunks.
    reset: bool,
    pending: usize,
    /// The generation of the state last committed (or loaded): what changes found now are
    /// found from, and so part of their event ids.
    generation: u64,
    /// Events of the changes applied since the last commit and not published yet.
    events: Vec<Event>,
}

impl Committer<'_> {
    /// Hold `event` for the publish before the next commit.
    async fn announce(&mut self, event: Event) -> Result<(), SyncError> {
        self.events.push(event);
        if self.events.len() >= EVENT_BATCH {
            self.publish().await?;
        }
        Ok(())
    }

    /// Publish the events held. Dropped on failure: the sync fails before the commit, and
    /// the next one finds the same changes and announces them again under the same ids.
    async fn publish(&mut self) -> Result<(), SyncError> {
        if !self.events.is_empty() {
            events::publish_all(self.ctx.services, std::mem::take(&mut self.events)).await?;
        }
        Ok(())
    }

    async fn commit(
        &mut self,
        state: &FolderState,
        index: &mut FolderIndex,
    ) -> Result<(), SyncError> {
        // Published before the commit that records their changes (at-least-once).
        self.publish().await?;
        let chunks = index.take_dirty();
        let generation = self.generation + 1;
        let state = FolderState {
            generation,
            ..state.clone()
        };
        let ok = self
            .ctx
            .store()
            .commit_folder(self.ctx.account, self.ctx.node, &state, self.reset, &chunks)
            .await?;
        if !ok {
            return Err(SyncError::LeaseLost);
        }
        self.reset = false;
        self.pending = 0;
        self.generation = generation;
        Ok(())
    }

    /// Count one applied change; commit when a batch is full.
    async fn step(
        &mut self,
        state: &FolderState,
        index: &mut FolderIndex,
    ) -> Result<(), SyncError> {
        self.pending += 1;
        if self.pending >= COMMIT_BATCH {
            let mut s = state.clone();
            s.messages = index.len() as u32;
            self.commit(&s, index).await?;
        }
        Ok(())
    }
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

/// Sync one folder. `stored` is its stored state (None: never synced); `baseline` says the
/// whole account is being synced for the first time (existing mail is not announced).
pub async fn sync_folder(
    imap: &mut Imap,
    ctx: &SyncCtx<'_>,
    folder: &FolderInfo,
    stored: Option<FolderState>,
    baseline: bool,
) -> Result<FolderState, SyncError> {
    let known = stored
        .as_ref()
        .and_then(|s| s.highest_modseq.map(|m| (s.uid_validity, m)));
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

    let first_sync = owes_mailbox_new(stored.as_ref(), uid_validity);
    let Loaded {
        mailbox_id,
        mut index,
        reset,
        baseline,
    } = load(ctx, &fref, folder, stored.as_ref(), baseline).await?;

    let qresync_used = known.is_some() && imap.qresync && !reset;
    let opened = started.elapsed();
    let diff = read_diff(imap, &mut sel, &index, stored.as_ref(), qresync_used).await?;

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
    // State written by intermediate commits: the old sync point, so an interrupted sync
    // is repeated from there (and finds the already-applied changes as no-ops).
    let mut progress = FolderState {
        path: folder.path.clone(),
        mailbox_id,
        uid_validity,
        uid_next: stored
            .as_ref()
            .filter(|_| !reset)
            .map(|s| s.uid_next)
            .unwrap_or(1),
        highest_modseq: stored
            .as_ref()
            .filter(|_| !reset)
            .and_then(|s| s.highest_modseq),
        special_use: folder.special_use.clone(),
        delimiter: folder.delimiter.clone(),
        messages: index.len() as u32,
        first_sync_pending: first_sync,
        generation: stored.as_ref().map_or(0, |s| s.generation),
    };
    if stored.is_none() || reset {
        // Until the first full pass completes, QRESYNC must not be used from this state.
        progress.highest_modseq = None;
    }
    let mut committer = Committer {
        ctx,
        reset,
        pending: 0,
        generation: progress.generation,
        events: Vec::new(),
    };

    apply_changes(&fref, &diff, &progress, &mut index, &mut committer).await?;

    let before_new = started.elapsed();
    announce_new(
        imap,
        ctx,
        &fref,
        diff.new,
        baseline,
        &progress,
        &mut index,
        &mut committer,
    )
    .await?;

    progress.uid_next = sel
        .uid_next
        .unwrap_or_else(|| index.max_uid().map(|u| u + 1).unwrap_or(1));
    progress.highest_modseq = sel.highest_modseq;
    progress.messages = index.len() as u32;
    if first_sync {
        // After the folder's messageNew events, before the commit that ends the debt.
        let event = events::mailbox(
            &fref,
            EventKind::MailboxNew,
            folder.delimiter.as_deref(),
            Some(uid_validity),
            None,
        );
        committer.announce(event).await?;
        progress.first_sync_pending = false;
    }
    let before_commit = started.elapsed();
    committer.commit(&progress, &mut index).await?;
    progress.generation = committer.generation;
    tracing::debug!(
        account = ctx.account,
        path = %folder.path,
        messages = progress.messages,
        total_ms = started.elapsed().as_millis() as u64,
        last_commit_ms = (started.elapsed() - before_commit).as_millis() as u64,
        // Indexing the new messages (and fetching those announced, or the dates that
        // tell which are): the time between the diff and the final commit.
        new_ms = (before_commit - before_new).as_millis() as u64,
        "folder synced"
    );
    Ok(progress)
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

/// What changed in the selected folder since `index`: with QRESYNC, only what the
/// server reported on EXAMINE (plus anything past the stored UIDNEXT); otherwise a full
/// `UID FETCH 1:* (UID FLAGS)` compared entry by entry.
async fn read_diff(
    imap: &mut Imap,
    sel: &mut crate::imap::Selected,
    index: &FolderIndex,
    stored: Option<&FolderState>,
    qresync_used: bool,
) -> Result<Diff, SyncError> {
    Ok(if qresync_used {
        let mut changed: Vec<(u32, Vec<String>)> = std::mem::take(&mut sel.fetched)
            .into_iter()
            .filter_map(|f| Some((f.uid()?, f.into_flags()?)))
            .collect();
        let prev_next = stored.map(|s| s.uid_next).unwrap_or(1).max(1);
        if sel.uid_next.is_some_and(|n| n > prev_next) && sel.exists > 0 {
            let newer = imap.fetch_flags(&format!("{prev_next}:*")).await?;
            changed.extend(newer.into_iter().filter(|(u, _)| *u >= prev_next));
        }
        diff_changes(index, &sel.vanished, changed)
    } else {
        let server: Vec<(u32, Vec<String>)> = if sel.exists > 0 {
            imap.fetch_flags("1:*").await?
        } else {
            Vec::new()
        };
        diff_full(index, server)
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
    for (uid, old, new) in &diff.updated {
        let changes = flag_changes(old, new);
        let change = FlagChange {
            mailbox_id,
            uid: *uid,
            generation: committer.generation,
            flags: new,
            changes: &changes,
        };
        committer
            .announce(events::message_updated(fref, change))
            .await?;
        index.set(*uid, new);
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
    new: Vec<(u32, Vec<String>)>,
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
            let flags = f.flags().unwrap_or_default();
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
    new: &[(u32, Vec<String>)],
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
    let gone: Vec<FolderState> = states
        .values()
        .filter(|s| !folders.iter().any(|f| f.path == s.path))
        .cloned()
        .collect();
    // All announced in one batch, before any of them is forgotten.
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
        {
            if skip == Some(f.path.as_str()) {
                continue;
            }
            let st = match imap.status(&f.path).await {
                Ok(st) => st,
                // Deleted since it was listed (by the api's own connection, say): the next
                // pass no longer lists it and announces it gone.
                Err(ImapError::Refused(e)) => {
                    tracing::debug!(account = ctx.account, path = %f.path, error = %e,
                        "folder gone before its STATUS");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if status_unchanged(&st, p) {
                continue;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use imapapi_common::bus::QueueName;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn index(entries: &[(u32, &[&str])]) -> FolderIndex {
        let mut i = FolderIndex::new();
        for (u, f) in entries {
            i.set(*u, &s(f));
        }
        i
    }

    #[test]
    fn full_diff_finds_removed_updated_and_new() {
        let i = index(&[(1, &[]), (2, &["\\Seen"]), (3, &[])]);
        let server = vec![
            (2, s(&[])),
            (3, s(&[])),
            (5, s(&["\\Flagged"])),
            (4, s(&[])),
        ];
        let d = diff_full(&i, server);
        assert_eq!(d.removed, vec![1]);
        assert_eq!(d.updated, vec![(2, s(&["\\Seen"]), s(&[]))]);
        assert_eq!(d.new, vec![(4, s(&[])), (5, s(&["\\Flagged"]))]);
    }

    #[test]
    fn qresync_diff_uses_ranges_both_ways() {
        let i = index(&[(1, &[]), (2, &[]), (10, &["\\Seen"])]);
        let d = diff_changes(&i, &[1..=1, 5..=7], vec![(10, s(&[])), (11, s(&[]))]);
        assert_eq!(d.removed, vec![1]);
        assert_eq!(d.updated.len(), 1);
        assert_eq!(d.new, vec![(11, s(&[]))]);
        // a huge range is checked against the index instead of enumerated
        let d = diff_changes(&i, &[1..=u32::MAX - 1], vec![]);
        assert_eq!(d.removed, vec![1, 2, 10]);
    }

    fn state(uid_validity: u32, first_sync_pending: bool) -> FolderState {
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

    /// Services on a temporary directory (embedded store and bus), with account `acc` whose
    /// lease `node` holds.
    async fn services(dir: &std::path::Path) -> Services {
        use imapapi_common::config::{Cli, Config};
        let layers = BTreeMap::from([("DATA_DIR".to_string(), dir.display().to_string())]);
        let config = Config::from_layers(&Cli::default(), &layers).unwrap();
        let store = imapapi_common::store::open(&config).await.unwrap();
        let bus = imapapi_common::bus::connect(&config).await.unwrap();
        let account = serde_json::from_value(serde_json::json!({
            "account": "acc", "name": "Acc",
            "imap": {"host": "127.0.0.1", "port": 1, "auth": {"user": "u", "pass": "p"}}
        }))
        .unwrap();
        store.put_account(&account).await.unwrap();
        let ttl = std::time::Duration::from_secs(60);
        assert!(store.acquire_lease("acc", "node", ttl).await.unwrap());
        Services::new(std::sync::Arc::new(config), store, bus)
    }

    /// The numbers of the account's recorded changes, read page by page.
    async fn recorded(services: &Services) -> Vec<u64> {
        let mut numbers: Vec<u64> = Vec::new();
        loop {
            let since = numbers.last().copied().unwrap_or(0);
            let page = services
                .store
                .changes_since("acc", since, 1000)
                .await
                .unwrap();
            numbers.extend(page.changes.iter().map(|c| c.seq));
            if !page.has_more {
                return numbers;
            }
        }
    }

    #[tokio::test]
    async fn a_commit_publishes_its_events_as_one_batch_first() {
        let dir = tempfile::tempdir().unwrap();
        let services = services(dir.path()).await;
        let settings = Settings::default();
        let ctx = SyncCtx {
            services: &services,
            node: "node",
            account: "acc",
            settings: &settings,
            notify_from: None,
        };
        let mut committer = Committer {
            ctx: &ctx,
            reset: true,
            pending: 0,
            generation: 0,
            events: Vec::new(),
        };
        let fref = FolderRef {
            account: "acc",
            path: "INBOX",
            special_use: None,
            uid_validity: 7,
        };
        let mut index = FolderIndex::new();
        for uid in 1..=3 {
            index.set(uid, &[]);
            let event = events::message_deleted(&fref, 1, uid);
            committer.announce(event).await.unwrap();
        }
        assert!(
            recorded(&services).await.is_empty(),
            "held until the commit"
        );
        let mut state = state(7, false);
        committer.commit(&state, &mut index).await.unwrap();
        let numbers = recorded(&services).await;
        assert_eq!(numbers.len(), 3);
        let mut queue = services.bus.consume(QueueName::Events, 10).await.unwrap();
        for (uid, number) in (1..=3).zip(&numbers) {
            let d = tokio::time::timeout(std::time::Duration::from_secs(10), queue.next())
                .await
                .unwrap()
                .unwrap();
            let event: serde_json::Value = serde_json::from_slice(&d.message.body).unwrap();
            assert_eq!(event["data"]["uid"], uid, "in the order announced");
            assert_eq!(event["state"], number.to_string());
            d.ack().await.unwrap();
        }
        let stored = services.store.list_folders("acc").await.unwrap();
        assert_eq!(stored.len(), 1, "committed after");

        // A long run goes out in bounded publishes before its commit.
        for uid in 0..=EVENT_BATCH as u32 {
            let event = events::message_deleted(&fref, 1, 100 + uid);
            committer.announce(event).await.unwrap();
        }
        assert_eq!(recorded(&services).await.len(), 3 + EVENT_BATCH);
        assert_eq!(committer.events.len(), 1);
        state.uid_next = 200;
        committer.commit(&state, &mut index).await.unwrap();
        assert_eq!(recorded(&services).await.len(), 4 + EVENT_BATCH);
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
