//! Extra IDLE connections, for servers without NOTIFY (Gmail, Outlook): IDLE watches only the
//! selected folder, so each folder named in the account's `imap.idleFolders`, or else in
//! `ingest.idleFolders` (Sent, say), gets a connection of its own that EXAMINEs it and IDLEs. When one hears of a change it records
//! the folder and wakes the account's session, which syncs the folder on its own
//! connection as it does for a NOTIFY notice. The rest of the folders are found by the
//! periodic resync. Each watcher reconnects with a growing pause when its connection fails
//! and stops with the session.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use imapapi_common::model::ImapConfig;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::command_pool::Login;
use crate::connection;
use crate::idle::{self, Wake};
use crate::imap::Imap;
use crate::sync::FolderInfo;

/// Folders the watchers heard of, and the wake-up of the session waiting for them.
#[derive(Debug, Default)]
pub struct FolderWakes {
    changed: Mutex<BTreeSet<String>>,
    /// Woken when a folder is recorded.
    pub notify: Notify,
}

impl FolderWakes {
    fn record(&self, path: &str) {
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string());
        self.notify.notify_one();
    }

    /// The folders recorded since the last call.
    pub fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The list that applies to an account: its own `imap.idleFolders` when it has one (even
/// empty: none), else the global `ingest.idleFolders`.
pub fn wanted<'a>(imap: Option<&'a ImapConfig>, global: &'a [String]) -> &'a [String] {
    imap.and_then(|i| i.idle_folders.as_deref())
        .unwrap_or(global)
}

/// The folders `wanted` names among `folders` (`\Sent`-style entries by special use,
/// others by path), except `skip` (the folder the session IDLEs on itself).
pub fn resolve(wanted: &[String], folders: &[FolderInfo], skip: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in wanted {
        let found = folders.iter().find(|f| {
            if w.starts_with('\\') {
                f.special_use
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(w))
            } else {
                f.path == *w
            }
        });
        if let Some(f) = found
            && Some(f.path.as_str()) != skip
            && !out.contains(&f.path)
        {
            out.push(f.path.clone());
        }
    }
    out
}

/// Start one watcher per path; they stop when `cancel` is cancelled.
pub fn spawn(
    account: &str,
    login: Arc<Login>,
    paths: Vec<String>,
    wakes: Arc<FolderWakes>,
    cancel: CancellationToken,
) {
    for path in paths {
        let watcher = Watcher {
            account: account.to_string(),
            login: login.clone(),
            path,
            wakes: wakes.clone(),
            cancel: cancel.clone(),
        };
        tokio::spawn(watcher.run());
    }
}

struct Watcher {
    account: String,
    login: Arc<Login>,
    path: String,
    wakes: Arc<FolderWakes>,
    cancel: CancellationToken,
}

impl Watcher {
    async fn run(self) {
        let mut attempt = 0u32;
        while !self.cancel.is_cancelled() {
            match self.watch().await {
                Ok(()) => return,
                Err(e) => {
                    attempt += 1;
                    let pause = crate::session::backoff(attempt);
                    tracing::warn!(account = %self.account, path = %self.path, error = %e,
                        retry_in_ms = pause.as_millis() as u64, "folder watcher failed");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = self.cancel.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Connect, EXAMINE, and IDLE until cancelled (Ok) or the connection fails (Err). A
    /// change made while it was not idling is found by the session's own passes.
    async fn watch(&self) -> Result<(), String> {
        let mut imap = self.open().await?;
        imap.examine(&self.path, None)
            .await
            .map_err(|e| e.to_string())?;
        tracing::debug!(account = %self.account, path = %self.path, "folder watcher idling");
        // No control requests reach a watcher: a channel that stays empty.
        let (_keep, mut none) = mpsc::channel(1);
        loop {
            match idle::wait(&mut imap, &mut none, &self.cancel, idle::IDLE_RENEW, None)
                .await
                .map_err(|e| e.to_string())?
            {
                Wake::Changed => {
                    self.wakes.record(&self.path);
                    // The next IDLE reports only what comes after; see what came first.
                    imap.examine(&self.path, None)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Wake::Stop => {
                    imap.logout().await;
                    return Ok(());
                }
                Wake::Timeout | Wake::Folders | Wake::Control(_) => {}
            }
        }
    }

    async fn open(&self) -> Result<Imap, String> {
        let credentials = self
            .login
            .source
            .credentials()
            .await
            .map_err(|e| e.to_string())?;
        let session = connection::connect_logged(
            &self.login.imap,
            &credentials,
            &self.login.local,
            self.login.log.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        Imap::new_plain(session).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(path: &str, special_use: Option<&str>) -> FolderInfo {
        FolderInfo {
            path: path.into(),
            delimiter: Some("/".into()),
            special_use: special_use.map(str::to_string),
        }
    }

    #[test]
    fn names_folders_by_special_use_or_path() {
        let folders = [
            folder("INBOX", None),
            folder("Sent Items", Some("\\Sent")),
            folder("Archive", Some("\\Archive")),
            folder("Projects/Alpha", None),
        ];
        let wanted = ["\\Sent", "Projects/Alpha", "\\Junk", "INBOX", "\\sent"].map(String::from);
        assert_eq!(
            resolve(&wanted, &folders, Some("INBOX")),
            vec!["Sent Items".to_string(), "Projects/Alpha".to_string()]
        );
    }

    #[test]
    fn an_accounts_own_list_replaces_the_global_one() {
        let global = ["\\Sent".to_string()];
        let mut imap: ImapConfig = serde_json::from_value(serde_json::json!({
            "host": "h", "port": 143, "auth": {"user": "u", "pass": "p"}
        }))
        .unwrap();
        assert_eq!(wanted(None, &global), global);
        assert_eq!(wanted(Some(&imap), &global), global);
        imap.idle_folders = Some(vec!["Archive".into()]);
        assert_eq!(wanted(Some(&imap), &global), ["Archive"]);
        imap.idle_folders = Some(Vec::new());
        assert!(wanted(Some(&imap), &global).is_empty());
    }

    #[test]
    fn wakes_gather_folders() {
        let wakes = FolderWakes::default();
        wakes.record("Sent");
        wakes.record("Sent");
        wakes.record("Archive");
        assert_eq!(wakes.take().len(), 2);
        assert!(wakes.take().is_empty());
    }
}
