//! A thin raw-command layer over async-imap. Every response is read by our own loop and
//! handed to the caller, so nothing lands in async-imap's unsolicited-response channel
//! (bounded at 100, silently dropping) and QRESYNC/CONDSTORE responses are seen in full.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::time::Duration;

use imap_proto::{AttributeValue, Capability, MailboxDatum, Response, ResponseCode, Status};

use crate::connection::ImapSession;

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

/// One FETCH response. The small attributes are extracted; with `raw` the response bytes
/// are kept so the full attribute list (BODYSTRUCTURE, body sections) can be parsed again
/// on demand without copying every attribute into owned form.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub seq: u32,
    uid: Option<u32>,
    flags: Option<Vec<String>>,
    modseq: Option<u64>,
    raw: Option<bytes::Bytes>,
}

impl Fetched {
    fn from_attrs(seq: u32, attrs: &[AttributeValue<'_>], raw: Option<bytes::Bytes>) -> Self {
        let mut f = Fetched {
            seq,
            raw,
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
        let (rest, resp) = Response::parse(raw).ok()?;
        let used = raw.len() - rest.len();
        match resp {
            Response::Fetch(seq, attrs) => Some(Self::from_attrs(
                seq,
                &attrs,
                Some(bytes::Bytes::copy_from_slice(&raw[..used])),
            )),
            _ => None,
        }
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

    /// Run `f` on the full attribute list, when the response bytes were kept.
    pub fn with_attrs<T>(&self, f: impl FnOnce(&[AttributeValue<'_>]) -> T) -> Option<T> {
        let raw = self.raw.as_ref()?;
        match Response::parse(raw) {
            Ok((_, Response::Fetch(_, attrs))) => Some(f(&attrs)),
            _ => None,
        }
    }
}

/// Flags as we keep them: `\Recent` dropped (session-specific, not a message property).
pub fn flags_of(flags: &[Cow<'_, str>]) -> Vec<String> {
    flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
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

/// Quote a string for the IMAP wire.
pub fn quote(s: &str) -> Result<String, ImapError> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(ImapError::Invalid("line break in a string argument".into()));
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// A compact IMAP sequence set (`1:3,7,9:10`) for sorted or unsorted numbers.
pub fn num_set(nums: &[u32]) -> String {
    let mut v: Vec<u32> = nums.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// An open, authenticated IMAP connection driven by raw commands.
pub struct Imap {
    session: ImapSession,
    caps: HashSet<String>,
    /// QRESYNC was enabled on this connection.
    pub qresync: bool,
    /// The mailbox currently selected, if any.
    pub selected: Option<String>,
    /// The server reported new or removed messages in the selected mailbox (EXISTS,
    /// EXPUNGE, VANISHED) during some command since it was selected: whatever state was read
    /// from it may be stale. Reset by every SELECT/EXAMINE.
    pub changed: bool,
}

fn lost(e: impl std::fmt::Display) -> ImapError {
    ImapError::Lost(e.to_string())
}

impl Imap {
    /// Wrap a freshly authenticated session: read capabilities and enable QRESYNC.
    pub async fn new(session: ImapSession) -> Result<Self, ImapError> {
        let mut imap = Imap {
            session,
            caps: HashSet::new(),
            qresync: false,
            selected: None,
            changed: false,
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
        if imap.has("QRESYNC")
            && imap.has("ENABLE")
            && imap.exec("ENABLE QRESYNC", |_| {}).await.is_ok()
        {
            imap.qresync = true;
        }
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
    pub async fn exec<F>(&mut self, command: &str, mut f: F) -> Result<(), ImapError>
    where
        F: FnMut(&Response<'_>),
    {
        self.exec_raw(command, |r, _| f(r)).await
    }

    /// As [`Imap::exec`], also handing over the buffer the response was parsed from (the
    /// response first, possibly followed by unrelated bytes).
    pub async fn exec_raw<F>(&mut self, command: &str, mut f: F) -> Result<(), ImapError>
    where
        F: FnMut(&Response<'_>, &[u8]),
    {
        let id = self.session.run_command(command).await.map_err(lost)?;
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
                } if *tag == id => {
                    break match status {
                        Status::Ok => Ok(()),
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
                    if matches!(
                        other,
                        Response::MailboxData(MailboxDatum::Exists(_))
                            | Response::Expunge(_)
                            | Response::Vanished { earlier: false, .. }
                    ) {
                        self.changed = true;
                    }
                    f(other, resp.borrow_owner())
                }
            }
        };
        self.drain_unsolicited();
        result
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

    /// LSUB every subscribed folder.
    pub async fn lsub(&mut self) -> Result<Vec<Listed>, ImapError> {
        self.list_cmd("LSUB \"\" \"*\"").await
    }

    async fn list_cmd(&mut self, cmd: &str) -> Result<Vec<Listed>, ImapError> {
        let mut out = Vec::new();
        self.exec(cmd, |r| {
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
        let q = quote(path)?;
        let cmd = match known {
            Some((validity, modseq)) if self.qresync => {
                format!("EXAMINE {q} (QRESYNC ({validity} {modseq}))")
            }
            _ if self.has("CONDSTORE") => format!("EXAMINE {q} (CONDSTORE)"),
            _ => format!("EXAMINE {q}"),
        };
        self.selected = None;
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
            Response::Fetch(seq, attrs) => sel.fetched.push(Fetched::from_attrs(*seq, attrs, None)),
            _ => {}
        })
        .await?;
        self.selected = Some(path.to_string());
        // The EXAMINE response itself is the new baseline, EXISTS included.
        self.changed = false;
        Ok(sel)
    }

    /// Run a FETCH or UID FETCH of small items (UID, FLAGS, MODSEQ) and collect them.
    pub async fn fetch(&mut self, command: &str) -> Result<Vec<Fetched>, ImapError> {
        let mut out = Vec::new();
        self.exec(command, |r| {
            if let Response::Fetch(seq, attrs) = r {
                out.push(Fetched::from_attrs(*seq, attrs, None));
            }
        })
        .await?;
        Ok(out)
    }

    /// Run a FETCH whose responses are decoded later (headers, bodies, BODYSTRUCTURE):
    /// each response's bytes are kept.
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

    /// UID SEARCH; returns matching uids.
    pub async fn uid_search(&mut self, criteria: &str) -> Result<Vec<u32>, ImapError> {
        let mut out = Vec::new();
        self.exec(&format!("UID SEARCH {criteria}"), |r| {
            if let Response::MailboxData(MailboxDatum::Search(ids)) = r {
                out.extend_from_slice(ids);
            }
        })
        .await?;
        Ok(out)
    }

    /// STATUS of one folder: (messages, uidnext, uidvalidity, highestmodseq).
    pub async fn status(&mut self, path: &str) -> Result<FolderStatus, ImapError> {
        let items = if self.has("CONDSTORE") {
            "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
        } else {
            "(MESSAGES UIDNEXT UIDVALIDITY)"
        };
        let mut st = FolderStatus::default();
        self.exec(&format!("STATUS {} {items}", quote(path)?), |r| {
            if let Response::MailboxData(MailboxDatum::Status { status, .. }) = r {
                for a in status {
                    match a {
                        imap_proto::StatusAttribute::Messages(n) => st.messages = Some(*n),
                        imap_proto::StatusAttribute::UidNext(n) => st.uid_next = Some(*n),
                        imap_proto::StatusAttribute::UidValidity(n) => st.uid_validity = Some(*n),
                        imap_proto::StatusAttribute::HighestModSeq(n) => {
                            st.highest_modseq = Some(*n)
                        }
                        _ => {}
                    }
                }
            }
        })
        .await?;
        Ok(st)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_compact_sets() {
        assert_eq!(num_set(&[5, 1, 2, 3, 9, 10, 7]), "1:3,5,7,9:10");
        assert_eq!(num_set(&[4]), "4");
        assert_eq!(num_set(&[]), "");
    }

    #[test]
    fn quotes_strings() {
        assert_eq!(quote("a\"b\\c").unwrap(), "\"a\\\"b\\\\c\"");
        assert!(quote("a\r\nb").is_err());
    }

    #[test]
    fn drops_recent() {
        let f = vec![Cow::Borrowed("\\Seen"), Cow::Borrowed("\\Recent")];
        assert_eq!(flags_of(&f), vec!["\\Seen".to_string()]);
    }
}
