//! A thin raw-command layer over async-imap. Every response is read by our own loop and
//! handed to the caller, so nothing lands in async-imap's unsolicited-response channel
//! (bounded at 100, silently dropping) and QRESYNC/CONDSTORE responses are seen in full.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use imap_proto::{AttributeValue, Capability, MailboxDatum, Response, ResponseCode, Status};

use crate::connection::ImapSession;
use crate::message_flags::{MessageFlags, is_recent};

pub mod notices;
mod open_connections;
mod position;
pub mod wire;
pub mod write;

pub use wire::{Arg, num_set, quote};

/// What a successful command's tagged OK reported (UIDPLUS response codes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// `[APPENDUID validity uid]`.
    pub append_uid: Option<(u32, u32)>,
    /// `[COPYUID validity source-uids destination-uids]`, the uid sets expanded.
    pub copy_uid: Option<(u32, Vec<u32>, Vec<u32>)>,
}

impl Completion {
    fn from_code(code: Option<&ResponseCode<'_>>) -> Self {
        let mut c = Completion::default();
        match code {
            Some(ResponseCode::AppendUid(validity, uids)) => {
                c.append_uid = wire::expand_uid_set(uids).first().map(|u| (*validity, *u));
            }
            Some(ResponseCode::CopyUid(validity, from, to)) => {
                c.copy_uid = Some((
                    *validity,
                    wire::expand_uid_set(from),
                    wire::expand_uid_set(to),
                ));
            }
            _ => {}
        }
        c
    }
    /// Read a COPYUID from an untagged `* OK [COPYUID …]` (MOVE sends it that way).
    pub fn note_untagged(&mut self, r: &Response<'_>) {
        if let Response::Data {
            status: Status::Ok,
            outcome,
        } = r
            && let Some(code @ ResponseCode::CopyUid(..)) = &outcome.code
        {
            self.copy_uid = Completion::from_code(Some(code)).copy_uid;
        }
    }
}

/// A server that stays silent this long in the middle of a command is considered gone.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an IMAP command failed.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The connection is unusable (closed, BYE, I/O error, silent server).
    #[error("connection lost: {0}")]
    Lost(String),
    /// The server answered NO or BAD.
    #[error("{0}")]
    Refused(String),
    /// Invalid input that cannot be sent (e.g. a line break in a mailbox name).
    #[error("{0}")]
    Invalid(String),
}

type FetchAttrs<'a> = Vec<AttributeValue<'a>>;

self_cell::self_cell!(
    /// A FETCH response's bytes with its attribute list, parsed once and borrowing them.
    struct KeptFetch {
        owner: bytes::Bytes,
        #[covariant]
        dependent: FetchAttrs,
    }
);

impl std::fmt::Debug for KeptFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeptFetch({} bytes)", self.borrow_owner().len())
    }
}

/// One FETCH response. The small attributes are extracted; with `full` the response is
/// kept with its parsed attribute list, so BODYSTRUCTURE and body sections are decoded on
/// demand without copying every attribute into owned form, nor parsing again.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub seq: u32,
    uid: Option<u32>,
    flags: Option<Vec<String>>,
    modseq: Option<u64>,
    full: Option<Arc<KeptFetch>>,
}

impl Fetched {
    fn from_attrs(seq: u32, attrs: &[AttributeValue<'_>]) -> Self {
        let mut f = Fetched {
            seq,
            ..Default::default()
        };
        for a in attrs {
            match a {
                AttributeValue::Uid(u) => f.uid = Some(*u),
                AttributeValue::Flags(fl) => f.flags = Some(flags_of(fl)),
                AttributeValue::ModSeq(m) => f.modseq = Some(*m),
                _ => {}
            }
        }
        f
    }

    /// Parse one complete `* n FETCH (…)` response (kept whole).
    pub fn from_raw(raw: &[u8]) -> Option<Self> {
        let mut seq = 0;
        let kept =
            KeptFetch::try_new(
                bytes::Bytes::copy_from_slice(raw),
                |raw| match Response::parse(raw) {
                    Ok((_, Response::Fetch(n, attrs))) => {
                        seq = n;
                        Ok(attrs)
                    }
                    _ => Err(()),
                },
            )
            .ok()?;
        let mut f = Self::from_attrs(seq, kept.borrow_dependent());
        f.full = Some(Arc::new(kept));
        Some(f)
    }

    pub fn uid(&self) -> Option<u32> {
        self.uid
    }
    pub fn flags(&self) -> Option<Vec<String>> {
        self.flags.clone()
    }
    /// The flags, moved out rather than copied (sync's hot path).
    pub fn into_flags(self) -> Option<Vec<String>> {
        self.flags
    }
    pub fn modseq(&self) -> Option<u64> {
        self.modseq
    }

    /// Run `f` on the full attribute list, when the response was kept.
    pub fn with_attrs<T>(&self, f: impl FnOnce(&[AttributeValue<'_>]) -> T) -> Option<T> {
        self.full.as_ref().map(|kept| f(kept.borrow_dependent()))
    }
}

/// Flags as we keep them: `\Recent` dropped (session-specific, not a message property).
pub fn flags_of(flags: &[Cow<'_, str>]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| !is_recent(f))
        .map(|f| f.to_string())
        .collect()
}

/// What SELECT/EXAMINE reported.
#[derive(Debug, Clone, Default)]
pub struct Selected {
    pub exists: u32,
    pub uid_validity: Option<u32>,
    pub uid_next: Option<u32>,
    pub highest_modseq: Option<u64>,
    /// `VANISHED (EARLIER)` uids (QRESYNC).
    pub vanished: Vec<RangeInclusive<u32>>,
    /// Changed messages reported by QRESYNC.
    pub fetched: Vec<Fetched>,
}

/// One LIST (or LSUB) entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub path: String,
    pub delimiter: Option<String>,
    pub attributes: Vec<String>,
}

/// The wire form of a LIST name attribute (`\\Sent`, `\\Noselect`, …).
fn attribute_name(a: &imap_proto::NameAttribute<'_>) -> String {
    use imap_proto::NameAttribute as N;
    match a {
        N::NoInferiors => "\\Noinferiors".into(),
        N::NoSelect => "\\Noselect".into(),
        N::Marked => "\\Marked".into(),
        N::Unmarked => "\\Unmarked".into(),
        N::All => "\\All".into(),
        N::Archive => "\\Archive".into(),
        N::Drafts => "\\Drafts".into(),
        N::Flagged => "\\Flagged".into(),
        N::Junk => "\\Junk".into(),
        N::Sent => "\\Sent".into(),
        N::Trash => "\\Trash".into(),
        N::Extension(e) => e.to_string(),
        other => format!("{other:?}"),
    }
}

/// An open, authenticated IMAP connection driven by raw commands.
pub struct Imap {
    session: ImapSession,
    _open: open_connections::OpenConnection,
    caps: HashSet<String>,
    /// QRESYNC was enabled on this connection.
    pub qresync: bool,
    /// The mailbox currently selected, if any.
    pub selected: Option<String>,
    /// The selection is read-write (SELECT), not EXAMINE.
    pub selected_rw: bool,
    /// UIDVALIDITY of the selected mailbox.
    pub selected_validity: Option<u32>,
    /// Messages in the selected mailbox, kept current from EXISTS, EXPUNGE and VANISHED.
    pub exists: u32,
    /// The server reported new or removed messages in the selected mailbox (EXISTS,
    /// EXPUNGE, VANISHED) during some command since it was selected: whatever state was read
    /// from it may be stale. Reset by every SELECT/EXAMINE.
    pub changed: bool,
    /// What NOTIFY reported about other folders, waiting for the session.
    pub notices: notices::FolderNotices,
    /// The LIST, LSUB or STATUS of ours running: its answers are no notices.
    asking: notices::Asking,
}

fn lost(e: impl std::fmt::Display) -> ImapError {
    ImapError::Lost(e.to_string())
}

impl Imap {
    /// Wrap a freshly authenticated session for watching: read capabilities and enable
    /// QRESYNC.
    pub async fn new(session: ImapSession) -> Result<Self, ImapError> {
        let mut imap = Self::new_plain(session).await?;
        if imap.has("QRESYNC")
            && imap.has("ENABLE")
            && imap.exec("ENABLE QRESYNC", |_| {}).await.is_ok()
        {
            imap.qresync = true;
        }
        Ok(imap)
    }

    /// Wrap a freshly authenticated session for commands: capabilities only (commands need
    /// no QRESYNC, and skipping ENABLE saves a round trip per new connection).
    pub async fn new_plain(session: ImapSession) -> Result<Self, ImapError> {
        let mut imap = Imap {
            session,
            _open: open_connections::OpenConnection::new(),
            caps: HashSet::new(),
            qresync: false,
            selected: None,
            selected_rw: false,
            selected_validity: None,
            exists: 0,
            changed: false,
            notices: notices::FolderNotices::default(),
            asking: notices::Asking::Nothing,
        };
        let mut caps = HashSet::new();
        imap.exec("CAPABILITY", |r| {
            if let Response::Capabilities(list) = r {
                for c in list {
                    match c {
                        Capability::Imap4rev1 => caps.insert("IMAP4REV1".to_string()),
                        Capability::Auth(a) => caps.insert(format!("AUTH={}", a.to_uppercase())),
                        Capability::Atom(a) => caps.insert(a.to_uppercase()),
                    };
                }
            }
        })
        .await?;
        imap.caps = caps;
        Ok(imap)
    }

    pub fn has(&self, cap: &str) -> bool {
        self.caps.contains(cap)
    }

    /// Drain async-imap's own unsolicited channel. Our loop never feeds it, but emptying it
    /// keeps it from filling if a library call ever does.
    fn drain_unsolicited(&mut self) {
        while self.session.unsolicited_responses.try_recv().is_ok() {}
    }

    /// Send a command and hand every response before its completion to `f`.
    pub async fn exec<F>(&mut self, command: &str, mut f: F) -> Result<Completion, ImapError>
    where
        F: FnMut(&Response<'_>),
    {
        self.exec_raw(command, |r, _| f(r)).await
    }

    /// As [`Imap::exec`], also handing over the buffer the response was parsed from (the
    /// response first, possibly followed by unrelated bytes).
    pub async fn exec_raw<F>(&mut self, command: &str, f: F) -> Result<Completion, ImapError>
    where
        F: FnMut(&Response<'_>, &[u8]),
    {
        let id = self.session.run_command(command).await.map_err(lost)?;
        self.complete(id, f).await
    }

    /// [`Imap::exec`] for a command whose answers look like NOTIFY notices.
    async fn exec_asking<F>(
        &mut self,
        asking: notices::Asking,
        command: &str,
        f: F,
    ) -> Result<Completion, ImapError>
    where
        F: FnMut(&Response<'_>),
    {
        self.asking = asking;
        let done = self.exec(command, f).await;
        self.asking = notices::Asking::Nothing;
        done
    }

    /// Set NOTIFY (RFC 5465) for every personal folder, so that changes anywhere (mail and
    /// folders) are reported on this connection, without what the server refuses of flag
    /// changes in other folders and folder names. `None` when it took none of them;
    /// otherwise the STATUS it sent of every folder but the selected one as NOTIFY began
    /// (the STATUS indicator), to find what changed since the folders were read. A change in
    /// the selected folder reported meanwhile (EXISTS, EXPUNGE, a FETCH of new flags) marks
    /// it [`Imap::changed`].
    pub async fn enable_notify(&mut self) -> Option<Vec<(String, FolderStatus)>> {
        if !self.has("NOTIFY") {
            return None;
        }
        for events in notices::NOTIFY_EVENTS {
            let command = format!("NOTIFY SET STATUS {events}");
            let mut statuses = Vec::new();
            let mut flags_moved = false;
            let done = self
                .exec(&command, |r| match r {
                    Response::MailboxData(MailboxDatum::Status { mailbox, status }) => {
                        statuses.push((mailbox.to_string(), FolderStatus::from_attributes(status)));
                    }
                    Response::Fetch(..) => flags_moved = true,
                    _ => {}
                })
                .await;
            match done {
                Ok(_) => {
                    self.notices.enabled = true;
                    self.changed |= flags_moved;
                    return Some(statuses);
                }
                Err(e) => tracing::debug!(error = %e, command, "NOTIFY refused"),
            }
        }
        None
    }

    /// Keep a NOTIFY notice about another folder read outside a command (during IDLE).
    pub fn note_notice(&mut self, notice: Option<notices::Notice>) -> bool {
        self.notices.enabled && self.notices.add(notice)
    }

    /// Send a command made of text and literals (APPEND bodies, non-ASCII search strings),
    /// then read it to completion like [`Imap::exec`]. Literals go non-synchronizing when
    /// the server has LITERAL+, otherwise each waits for the server's continuation.
    pub async fn exec_args<F>(&mut self, args: &[Arg], mut f: F) -> Result<Completion, ImapError>
    where
        F: FnMut(&Response<'_>),
    {
        let plus = self.has("LITERAL+");
        let segments = wire::segments(args, plus);
        let mut iter = segments.into_iter();
        let Some(first) = iter.next() else {
            return Err(ImapError::Invalid("empty command".into()));
        };
        let id = self.session.run_command(&first.line).await.map_err(lost)?;
        let mut pending = first.literal;
        for seg in iter {
            let literal = pending.take().unwrap_or_default();
            if !plus && let Some(refused) = self.await_continuation(&id).await? {
                return Err(ImapError::Refused(refused));
            }
            self.write_raw(&literal, seg.line.as_bytes()).await?;
            pending = seg.literal;
        }
        self.complete(id, |r, _| f(r)).await
    }

    /// Write literal bytes followed by the rest of a command line and its CRLF.
    async fn write_raw(&mut self, literal: &[u8], rest: &[u8]) -> Result<(), ImapError> {
        use tokio::io::AsyncWriteExt;
        let w = self.session.get_mut();
        w.write_all(literal).await.map_err(lost)?;
        w.write_all(rest).await.map_err(lost)?;
        w.write_all(b"\r\n").await.map_err(lost)?;
        w.flush().await.map_err(lost)
    }

    /// Wait for `+` before sending a synchronizing literal. `Some(reason)` when the server
    /// answered the command instead (NO/BAD): the literal must then not be sent.
    async fn await_continuation(
        &mut self,
        id: &imap_proto::RequestId,
    ) -> Result<Option<String>, ImapError> {
        loop {
            let next = tokio::time::timeout(READ_TIMEOUT, self.session.read_response())
                .await
                .map_err(|_| ImapError::Lost("server did not answer".into()))?
                .map_err(lost)?;
            let Some(resp) = next else {
                return Err(ImapError::Lost("connection closed".into()));
            };
            match resp.parsed() {
                Response::Continue { .. } => return Ok(None),
                Response::Done {
                    tag,
                    status,
                    outcome,
                    ..
                } if tag == id => {
                    return Ok(Some(match status {
                        Status::Ok => "unexpected completion before the literal".to_string(),
                        _ => outcome
                            .information
                            .as_deref()
                            .unwrap_or("command failed")
                            .to_string(),
                    }));
                }
                other => self.track(other),
            }
        }
    }

    /// Read the responses of command `id` up to its completion.
    async fn complete<F>(
        &mut self,
        id: imap_proto::RequestId,
        mut f: F,
    ) -> Result<Completion, ImapError>
    where
        F: FnMut(&Response<'_>, &[u8]),
    {
        let result = loop {
            let next = tokio::time::timeout(READ_TIMEOUT, self.session.read_response())
                .await
                .map_err(|_| ImapError::Lost("server did not answer".into()))?
                .map_err(lost)?;
            let Some(resp) = next else {
                break Err(ImapError::Lost("connection closed".into()));
            };
            match resp.parsed() {
                Response::Done {
                    tag,
                    status,
                    outcome,
                    ..
                } if *tag == id => {
                    break match status {
                        Status::Ok => Ok(Completion::from_code(outcome.code.as_ref())),
                        _ => Err(ImapError::Refused(
                            outcome
                                .information
                                .as_deref()
                                .unwrap_or("command failed")
                                .to_string(),
                        )),
                    };
                }
                Response::Data {
                    status: Status::Bye,
                    outcome,
                } => {
                    break Err(ImapError::Lost(format!(
                        "server closed the connection: {}",
                        outcome.information.as_deref().unwrap_or("BYE")
                    )));
                }
                other => {
                    self.track(other);
                    f(other, resp.borrow_owner())
                }
            }
        };
        self.drain_unsolicited();
        result
    }

    /// Keep the selected mailbox's message count current and note that it changed; keep
    /// what NOTIFY says of other folders.
    fn track(&mut self, r: &Response<'_>) {
        if self.notices.enabled {
            let ours = self.asking.answered_by(r);
            self.notices.add(notices::classify(r, ours));
        }
        match r {
            Response::MailboxData(MailboxDatum::Exists(n)) => {
                self.exists = *n;
                self.changed = true;
            }
            Response::Expunge(_) => {
                self.exists = self.exists.saturating_sub(1);
                self.changed = true;
            }
            Response::Vanished {
                earlier: false,
                uids,
            } => {
                let n: u64 = uids
                    .iter()
                    .map(|r| u64::from(r.end().saturating_sub(*r.start())) + 1)
                    .sum();
                self.exists = self
                    .exists
                    .saturating_sub(n.min(u64::from(u32::MAX)) as u32);
                self.changed = true;
            }
            _ => {}
        }
    }

    /// Send a tagged command without waiting (IDLE).
    pub async fn start(&mut self, command: &str) -> Result<imap_proto::RequestId, ImapError> {
        self.session.run_command(command).await.map_err(lost)
    }

    /// Send an untagged line (IDLE's DONE).
    pub async fn send_line(&mut self, line: &str) -> Result<(), ImapError> {
        self.session.run_command_untagged(line).await.map_err(lost)
    }

    /// Read the next response and look at it with `f`; cancel-safe (bytes read so far
    /// stay buffered in the stream).
    pub async fn read<T>(&mut self, f: impl FnOnce(&Response<'_>) -> T) -> Result<T, ImapError> {
        match self.session.read_response().await {
            Ok(Some(r)) => Ok(f(r.parsed())),
            Ok(None) => Err(ImapError::Lost("connection closed".into())),
            Err(e) => Err(lost(e)),
        }
    }

    /// LIST every folder (with special-use attributes when the server supports them).
    pub async fn list(&mut self) -> Result<Vec<Listed>, ImapError> {
        let cmd = if self.has("SPECIAL-USE") {
            "LIST \"\" \"*\" RETURN (SPECIAL-USE)"
        } else {
            "LIST \"\" \"*\""
        };
        self.list_cmd(cmd).await
    }

    /// LIST one exact folder (empty when it does not exist).
    pub async fn list_one(&mut self, path: &str) -> Result<Vec<Listed>, ImapError> {
        let wire_path = crate::utf7::to_wire(path);
        let listed = self
            .list_cmd(&format!("LIST \"\" {}", wire::mailbox(path)?))
            .await?;
        // A name with `*` or `%` is a pattern to LIST: keep the exact match only.
        Ok(listed.into_iter().filter(|l| l.path == wire_path).collect())
    }

    /// The hierarchy delimiter (`LIST "" ""`); None for a flat namespace.
    pub async fn delimiter(&mut self) -> Result<Option<String>, ImapError> {
        Ok(self
            .list_cmd("LIST \"\" \"\"")
            .await?
            .into_iter()
            .find_map(|l| l.delimiter))
    }

    /// LSUB every subscribed folder.
    pub async fn lsub(&mut self) -> Result<Vec<Listed>, ImapError> {
        self.list_cmd("LSUB \"\" \"*\"").await
    }

    async fn list_cmd(&mut self, cmd: &str) -> Result<Vec<Listed>, ImapError> {
        let mut out = Vec::new();
        self.exec_asking(notices::Asking::List, cmd, |r| {
            if let Response::MailboxData(MailboxDatum::List(l)) = r {
                out.push(Listed {
                    path: l.name.to_string(),
                    delimiter: l.delimiter.as_ref().map(|d| d.to_string()),
                    attributes: l.name_attributes.iter().map(attribute_name).collect(),
                });
            }
        })
        .await?;
        Ok(out)
    }

    /// EXAMINE a folder (read-only: we never change mail while syncing), with QRESYNC
    /// parameters when known so the server reports only what changed since.
    pub async fn examine(
        &mut self,
        path: &str,
        known: Option<(u32, u64)>,
    ) -> Result<Selected, ImapError> {
        self.open_mailbox("EXAMINE", path, known).await
    }

    /// SELECT a folder read-write (commands that change mail).
    pub async fn select(&mut self, path: &str) -> Result<Selected, ImapError> {
        self.open_mailbox("SELECT", path, None).await
    }

    /// Make `path` the selected folder, read-write when `write`, reusing the current
    /// selection when it will do. Returns its UIDVALIDITY. A reused selection is brought up
    /// to date with NOOP so `exists` counts mail that arrived since.
    ///
    /// `expected` is the UIDVALIDITY the account's watcher last saw for the folder: a
    /// selection made under another one is not reused. A folder deleted and made again
    /// under the same name by another client does not always end a selection of the old
    /// one (Dovecot goes on answering from it), so only a fresh SELECT sees the new folder.
    pub async fn ensure_selected(
        &mut self,
        path: &str,
        write: bool,
        expected: Option<u32>,
    ) -> Result<u32, ImapError> {
        self.open_for(path, write, expected, true).await
    }

    /// Like [`Imap::ensure_selected`] without the NOOP, for commands that name messages by
    /// UID and never read `exists`: the one round trip a reused selection costs them is
    /// their own command, which reports the changes since along with its answer.
    pub async fn ensure_open(
        &mut self,
        path: &str,
        write: bool,
        expected: Option<u32>,
    ) -> Result<u32, ImapError> {
        self.open_for(path, write, expected, false).await
    }

    async fn open_for(
        &mut self,
        path: &str,
        write: bool,
        expected: Option<u32>,
        count: bool,
    ) -> Result<u32, ImapError> {
        let reusable = self.selected.as_deref() == Some(path)
            && (self.selected_rw || !write)
            && expected.is_none_or(|e| self.selected_validity == Some(e));
        if let (true, Some(validity)) = (reusable, self.selected_validity) {
            if count {
                self.exec("NOOP", |_| {}).await?;
            }
            return Ok(validity);
        }
        let sel = if write {
            self.select(path).await?
        } else {
            self.examine(path, None).await?
        };
        sel.uid_validity
            .ok_or_else(|| ImapError::Refused("server reported no UIDVALIDITY".into()))
    }

    async fn open_mailbox(
        &mut self,
        verb: &str,
        path: &str,
        known: Option<(u32, u64)>,
    ) -> Result<Selected, ImapError> {
        let q = wire::mailbox(path)?;
        let cmd = match known {
            Some((validity, modseq)) if self.qresync => {
                format!("{verb} {q} (QRESYNC ({validity} {modseq}))")
            }
            _ if self.has("CONDSTORE") => format!("{verb} {q} (CONDSTORE)"),
            _ => format!("{verb} {q}"),
        };
        self.selected = None;
        self.selected_validity = None;
        let mut sel = Selected::default();
        self.exec(&cmd, |r| match r {
            Response::MailboxData(MailboxDatum::Exists(n)) => sel.exists = *n,
            Response::Data { outcome, .. } => match &outcome.code {
                Some(ResponseCode::UidValidity(v)) => sel.uid_validity = Some(*v),
                Some(ResponseCode::UidNext(v)) => sel.uid_next = Some(*v),
                Some(ResponseCode::HighestModSeq(v)) => sel.highest_modseq = Some(*v),
                _ => {}
            },
            Response::Vanished { uids, .. } => sel.vanished.extend(uids.iter().cloned()),
            Response::Fetch(seq, attrs) => sel.fetched.push(Fetched::from_attrs(*seq, attrs)),
            _ => {}
        })
        .await?;
        self.selected = Some(path.to_string());
        self.selected_rw = verb == "SELECT";
        self.selected_validity = sel.uid_validity;
        self.exists = sel.exists;
        // The response itself is the new baseline, EXISTS included.
        self.changed = false;
        Ok(sel)
    }

    /// `UID FETCH <uids> (UID FLAGS)`: each message's uid and flags (without `\Recent`), in
    /// no particular order. The plain answers are caught as they are read, without the
    /// response parser (`connection/fetch_capture.rs`), which is most of what a sync of a
    /// big folder costs; the rest are read as any response.
    pub async fn fetch_flags(&mut self, uids: &str) -> Result<Vec<(u32, MessageFlags)>, ImapError> {
        let id = self
            .session
            .run_command(&format!("UID FETCH {uids} (UID FLAGS)"))
            .await
            .map_err(lost)?;
        self.session.get_mut().capture_fetches();
        let mut parsed = Vec::new();
        let done = self
            .complete(id, |r, _| {
                if let Response::Fetch(_, attrs) = r {
                    let mut uid = None;
                    let mut flags = MessageFlags::new();
                    for a in attrs.iter() {
                        match a {
                            AttributeValue::Uid(u) => uid = Some(*u),
                            AttributeValue::Flags(fl) => flags = MessageFlags::from_names(fl),
                            _ => {}
                        }
                    }
                    parsed.extend(uid.map(|u| (u, flags)));
                }
            })
            .await;
        let mut found = self.session.get_mut().take_captured();
        done?;
        found.append(&mut parsed);
        Ok(found)
    }

    /// Run a FETCH and decode each response as it is read, from the reader's own parse:
    /// the cheapest way for a caller that needs nothing but the decoded values (a listing
    /// page). `decode` gets each response's attributes; `None` skips the response.
    pub async fn fetch_decoded<T>(
        &mut self,
        command: &str,
        mut decode: impl FnMut(&[AttributeValue<'_>]) -> Option<T>,
    ) -> Result<Vec<T>, ImapError> {
        let mut out = Vec::new();
        self.exec(command, |r| {
            if let Response::Fetch(_, attrs) = r {
                out.extend(decode(attrs));
            }
        })
        .await?;
        Ok(out)
    }

    /// Run a FETCH whose responses are decoded later (headers, bodies, BODYSTRUCTURE):
    /// each response is kept with its parsed attributes.
    pub async fn fetch_full(&mut self, command: &str) -> Result<Vec<Fetched>, ImapError> {
        let mut out = Vec::new();
        self.exec_raw(command, |r, raw| {
            if matches!(r, Response::Fetch(..))
                && let Some(f) = Fetched::from_raw(raw)
            {
                out.push(f);
            }
        })
        .await?;
        Ok(out)
    }

    /// UID SEARCH with criteria built by the caller; returns matching uids.
    pub async fn uid_search(
        &mut self,
        criteria: Vec<Arg>,
        utf8: bool,
    ) -> Result<Vec<u32>, ImapError> {
        let head = if utf8 {
            "UID SEARCH CHARSET UTF-8 "
        } else {
            "UID SEARCH "
        };
        let mut args = vec![Arg::Text(head.into())];
        args.extend(criteria);
        let mut out = Vec::new();
        self.exec_args(&args, |r| {
            if let Response::MailboxData(MailboxDatum::Search(ids)) = r {
                out.extend_from_slice(ids);
            }
        })
        .await?;
        Ok(out)
    }

    /// STATUS of one folder: (messages, uidnext, uidvalidity, highestmodseq). The answer is
    /// the STATUS naming it; a NOTIFY notice about another folder sent meanwhile is kept as
    /// a notice (should a server name the folder otherwise, its one STATUS is the answer).
    pub async fn status(&mut self, path: &str) -> Result<FolderStatus, ImapError> {
        let items = if self.has("CONDSTORE") {
            "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
        } else {
            "(MESSAGES UIDNEXT UIDVALIDITY)"
        };
        let wire_path = crate::utf7::to_wire(path);
        let command = format!("STATUS {} {items}", wire::mailbox(path)?);
        let (mut named, mut other) = (None, None);
        let asking = notices::Asking::Status(wire_path.clone());
        self.exec_asking(asking, &command, |r| {
            if let Response::MailboxData(MailboxDatum::Status { mailbox, status }) = r {
                let st = Some(FolderStatus::from_attributes(status));
                if *mailbox == wire_path {
                    named = st;
                } else {
                    other = st;
                }
            }
        })
        .await?;
        Ok(named.or(other).unwrap_or_default())
    }

    /// LOGOUT, best effort.
    pub async fn logout(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.exec("LOGOUT", |_| {})).await;
    }
}

/// STATUS values of a folder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FolderStatus {
    pub messages: Option<u32>,
    pub uid_next: Option<u32>,
    pub uid_validity: Option<u32>,
    pub highest_modseq: Option<u64>,
}

impl FolderStatus {
    fn from_attributes(attributes: &[imap_proto::StatusAttribute]) -> Self {
        let mut st = FolderStatus::default();
        for a in attributes {
            match a {
                imap_proto::StatusAttribute::Messages(n) => st.messages = Some(*n),
                imap_proto::StatusAttribute::UidNext(n) => st.uid_next = Some(*n),
                imap_proto::StatusAttribute::UidValidity(n) => st.uid_validity = Some(*n),
                imap_proto::StatusAttribute::HighestModSeq(n) => st.highest_modseq = Some(*n),
                _ => {}
            }
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_recent() {
        let f = vec![Cow::Borrowed("\\Seen"), Cow::Borrowed("\\Recent")];
        assert_eq!(flags_of(&f), vec!["\\Seen".to_string()]);
    }
}
