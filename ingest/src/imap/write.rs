//! Commands that change mail: APPEND, STORE, MOVE (or COPY + EXPUNGE where the server has
//! no MOVE), EXPUNGE of single messages, and folder CREATE/DELETE/RENAME. Only command
//! connections run these; the watcher connection never writes.

use imap_proto::Response;
use imapapi_common::command::message::is_valid_flag;

use super::wire::{self, Arg};
use super::{Imap, ImapError};

/// How STORE changes the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    Add,
    Remove,
    Replace,
}

impl StoreMode {
    fn item(self, labels: bool) -> &'static str {
        match (self, labels) {
            (StoreMode::Add, false) => "+FLAGS.SILENT",
            (StoreMode::Remove, false) => "-FLAGS.SILENT",
            (StoreMode::Replace, false) => "FLAGS.SILENT",
            (StoreMode::Add, true) => "+X-GM-LABELS.SILENT",
            (StoreMode::Remove, true) => "-X-GM-LABELS.SILENT",
            (StoreMode::Replace, true) => "X-GM-LABELS.SILENT",
        }
    }
}

/// A parenthesized flag list; refuses anything that is not a flag atom.
pub fn flag_list(flags: &[String]) -> Result<String, ImapError> {
    if let Some(bad) = flags.iter().find(|f| !is_valid_flag(f)) {
        return Err(ImapError::Invalid(format!("invalid flag {bad:?}")));
    }
    Ok(format!("({})", flags.join(" ")))
}

impl Imap {
    /// APPEND `raw` to `path` with `flags`; the new (UIDVALIDITY, uid) when the server has
    /// UIDPLUS.
    pub async fn append(
        &mut self,
        path: &str,
        flags: &[String],
        raw: Vec<u8>,
    ) -> Result<Option<(u32, u32)>, ImapError> {
        let args = [
            Arg::Text(format!(
                "APPEND {} {} ",
                wire::mailbox(path)?,
                flag_list(flags)?
            )),
            Arg::Bytes(raw),
        ];
        Ok(self.exec_args(&args, |_| {}).await?.append_uid)
    }

    /// Change the flags (or, on Gmail, the labels) of one message in the selected folder.
    pub async fn uid_store(
        &mut self,
        uid: u32,
        mode: StoreMode,
        flags: &[String],
        labels: bool,
    ) -> Result<(), ImapError> {
        if labels {
            // Labels are astrings (may hold spaces and Unicode): send them quoted or literal.
            let mut args = vec![Arg::Text(format!("UID STORE {uid} {} (", mode.item(true)))];
            for (i, l) in flags.iter().enumerate() {
                if l.chars().any(|c| c == '\r' || c == '\n') {
                    return Err(ImapError::Invalid(format!("invalid label {l:?}")));
                }
                if i > 0 {
                    args.push(Arg::Text(" ".into()));
                }
                args.push(Arg::Str(l.clone()));
            }
            args.push(Arg::Text(")".into()));
            return self.exec_args(&args, |_| {}).await.map(|_| ());
        }
        let cmd = format!("UID STORE {uid} {} {}", mode.item(false), flag_list(flags)?);
        self.exec(&cmd, |_| {}).await.map(|_| ())
    }

    /// Move one message of the selected folder to `dest`; its uid there when the server
    /// says (UIDPLUS). Without MOVE: COPY, then mark and expunge only this message.
    pub async fn uid_move(&mut self, uid: u32, dest: &str) -> Result<Option<u32>, ImapError> {
        let target = wire::mailbox(dest)?;
        if self.has("MOVE") {
            let mut seen = super::Completion::default();
            let done = self
                .exec(&format!("UID MOVE {uid} {target}"), |r| {
                    seen.note_untagged(r)
                })
                .await?;
            let copy = done.copy_uid.or(seen.copy_uid);
            return Ok(copy.and_then(|(_, _, to)| to.first().copied()));
        }
        let done = self
            .exec(&format!("UID COPY {uid} {target}"), |_| {})
            .await?;
        self.expunge_uid(uid).await?;
        Ok(done.copy_uid.and_then(|(_, _, to)| to.first().copied()))
    }

    /// Remove one message of the selected folder for good. Needs UIDPLUS's UID EXPUNGE to
    /// be exact; without it, a plain EXPUNGE would also remove other messages already
    /// marked `\Deleted`, so the message is only marked.
    pub async fn expunge_uid(&mut self, uid: u32) -> Result<bool, ImapError> {
        self.exec(
            &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
            |_| {},
        )
        .await?;
        if self.has("UIDPLUS") {
            self.exec(&format!("UID EXPUNGE {uid}"), |_| {}).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// True when a message with `uid` exists in the selected folder.
    pub async fn uid_exists(&mut self, uid: u32) -> Result<bool, ImapError> {
        let mut found = false;
        self.exec(&format!("UID FETCH {uid} (UID)"), |r| {
            if let Response::Fetch(_, attrs) = r
                && attrs
                    .iter()
                    .any(|a| matches!(a, imap_proto::AttributeValue::Uid(u) if *u == uid))
            {
                found = true;
            }
        })
        .await?;
        Ok(found)
    }

    pub async fn create(&mut self, path: &str) -> Result<(), ImapError> {
        let q = wire::mailbox(path)?;
        self.exec(&format!("CREATE {q}"), |_| {}).await?;
        // Subscribing is what mail clients expect of a new folder; a refusal is harmless.
        let _ = self.exec(&format!("SUBSCRIBE {q}"), |_| {}).await;
        Ok(())
    }

    pub async fn delete(&mut self, path: &str) -> Result<(), ImapError> {
        if self.selected.as_deref() == Some(path) {
            // A server may refuse to delete the selected folder: leave it first.
            let _ = self.exec("UNSELECT", |_| {}).await;
            self.selected = None;
        }
        let q = wire::mailbox(path)?;
        self.exec(&format!("DELETE {q}"), |_| {}).await?;
        let _ = self.exec(&format!("UNSUBSCRIBE {q}"), |_| {}).await;
        Ok(())
    }

    pub async fn rename(&mut self, from: &str, to: &str) -> Result<(), ImapError> {
        let (f, t) = (wire::mailbox(from)?, wire::mailbox(to)?);
        if self.selected.as_deref() == Some(from) {
            let _ = self.exec("UNSELECT", |_| {}).await;
            self.selected = None;
        }
        self.exec(&format!("RENAME {f} {t}"), |_| {}).await?;
        let _ = self.exec(&format!("UNSUBSCRIBE {f}"), |_| {}).await;
        let _ = self.exec(&format!("SUBSCRIBE {t}"), |_| {}).await;
        Ok(())
    }
}
