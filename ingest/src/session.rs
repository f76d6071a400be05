//! One account's life on this node: connect, sync, IDLE, reconnect with backoff. Runs as
//! one task per owned account; the supervisor starts and stops it. Its connection only
//! watches: API commands run on the account's command pool, which logs in with what this
//! session publishes once its own login succeeded. The connection events come from here:
//! `authenticationSuccess` with the login user, the error events with the server's answer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use imapapi_common::Services;
use imapapi_common::model::{
    AccountConfig, AccountErrorEntry, AccountState, AccountStatus, EventKind, FolderState,
};
use imapapi_common::oauth2::{CredentialSource, Proto};
use imapapi_common::protocol_log::ProtocolLog;
use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::command_pool::Login;
use crate::connect_throttle::ConnectThrottle;
use crate::connection::{self, ConnectError};
use crate::control::{Control, ControlRequest};
use crate::events;
use crate::folder_view::FolderPublisher;
use crate::folder_watch::{self, FolderWakes};
use crate::idle::{self, Wake};
use crate::imap::notices::Notice;
use crate::imap::{Imap, ImapError};
use crate::notified;
use crate::sync::{self, FolderInfo, SyncCtx, SyncError};

/// Poll interval of folders other than the IDLEd one, unless the account sets `resyncDelay`.
const DEFAULT_RESYNC_DELAY: u64 = 900;
/// Retry delay after the server refused the credentials.
const AUTH_RETRY: Duration = Duration::from_secs(60);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Shutdown or stop requested by the supervisor.
    Stopped,
    /// A `Close` request: give the lease up.
    Closed,
    /// A fenced write was refused: another node owns the account.
    LeaseLost,
    /// The account record no longer exists.
    AccountGone,
}

/// Exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 60 s, ±20 %.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1u32 << attempt.min(6));
    let base = base.min(BACKOFF_MAX);
    let jitter = rand::rng().random_range(0.8..1.2);
    base.mul_f64(jitter)
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `notifyFrom` as a time; accepts RFC 3339 or a plain date.
pub fn parse_notify_from(s: Option<&str>) -> Option<DateTime<Utc>> {
    let s = s?.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        // INTERNALDATE has whole seconds: round down, so mail received in the same second
        // as the registration is announced rather than lost (at least once, never less).
        let d = d.with_timezone(&Utc);
        return Some(d - chrono::Duration::nanoseconds(i64::from(d.timestamp_subsec_nanos())));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// Decrypt the stored secrets of an account (sealed with `service.secret`), on the
/// blocking pool: a key derivation is CPU work.
async fn open_account(
    cfg: AccountConfig,
    secret: Option<&imapapi_common::model::Secret>,
) -> Result<AccountConfig, String> {
    imapapi_common::crypto::open_account_off_runtime(cfg, secret.cloned())
        .await
        .map_err(|e| format!("Cannot decrypt stored credentials: {e}"))
}

enum Exit {
    Stopped,
    Closed,
    Reconnect,
}

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Imap(#[from] ImapError),
}

impl RunError {
    fn lease_lost(&self) -> bool {
        matches!(self, RunError::Sync(SyncError::LeaseLost))
    }
}

/// A running account session.
pub struct Session {
    services: Services,
    node: String,
    account: String,
    cancel: CancellationToken,
    rx: mpsc::Receiver<ControlRequest>,
    /// What the command pool logs in with; set while this session is logged in.
    login: watch::Sender<Option<Arc<Login>>>,
    /// Where the folder states go after each sync, for the command connections.
    folders: FolderPublisher,
    /// Bounds the connection set-ups of this process.
    throttle: ConnectThrottle,
    /// The last connection error event sent, so retries do not repeat it.
    last_error: Option<(EventKind, AccountErrorEntry)>,
}

/// A session's ties to the rest of its process: the control requests it obeys, what it
/// shares with the account's command pool, and the throttle of connection set-ups.
pub struct SessionLinks {
    pub control: mpsc::Receiver<ControlRequest>,
    pub login: watch::Sender<Option<Arc<Login>>>,
    pub folders: FolderPublisher,
    pub throttle: ConnectThrottle,
}

impl Session {
    pub fn new(
        services: Services,
        node: String,
        account: String,
        cancel: CancellationToken,
        links: SessionLinks,
    ) -> Self {
        Session {
            services,
            node,
            account,
            cancel,
            rx: links.control,
            login: links.login,
            folders: links.folders,
            throttle: links.throttle,
            last_error: None,
        }
    }

    /// Write the account status; false when the lease is gone.
    async fn status(&self, state: AccountState, last_error: Option<AccountErrorEntry>) -> bool {
        let status = AccountStatus {
            state,
            // Set once the initial sync is done (see `connected`), not at login.
            sync_time: None,
            last_error,
        };
        match self
            .services
            .store
            .set_status(&self.account, &self.node, &status)
            .await
        {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(account = %self.account, error = %e, "cannot write status");
                true
            }
        }
    }

    async fn publish(&self, event: imapapi_common::model::Event) {
        if let Err(e) = events::publish(&self.services, event).await {
            tracing::warn!(account = %self.account, error = %e, "cannot publish event");
        }
    }

    /// A connection error: status, and an event unless it repeats the last one.
    async fn failed(
        &mut self,
        kind: EventKind,
        state: AccountState,
        error: &AccountErrorEntry,
    ) -> bool {
        tracing::info!(account = %self.account, state = ?state, error = %error.response,
            code = ?error.server_response_code, "connection failed");
        let key = (kind, error.clone());
        if self.last_error.as_ref() != Some(&key) {
            self.publish(events::connection_error(&self.account, kind, error))
                .await;
            self.last_error = Some(key);
        }
        self.status(state, Some(error.clone())).await
    }

    /// Wait out a retry delay; a reconnect or close request ends it early.
    async fn pause(&mut self, delay: Duration) -> Option<SessionEnd> {
        self.login.send_replace(None);
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return None,
                _ = self.cancel.cancelled() => return Some(SessionEnd::Stopped),
                req = self.rx.recv() => {
                    let Some(r) = req else { return Some(SessionEnd::Stopped) };
                    let _ = r.done.send(());
                    match r.control {
                        Control::Reconnect => return None,
                        Control::Close => return Some(SessionEnd::Closed),
                        // Nothing to sync while disconnected: the next connect syncs all.
                        Control::Resync => {}
                    }
                }
            }
        }
    }

    /// Run until stopped.
    pub async fn run(mut self) -> SessionEnd {
        let mut attempt = 0u32;
        loop {
            if self.cancel.is_cancelled() {
                return SessionEnd::Stopped;
            }
            let cfg = match self.services.store.get_account(&self.account).await {
                Ok(Some(c)) => c,
                Ok(None) => return SessionEnd::AccountGone,
                Err(e) => {
                    tracing::warn!(account = %self.account, error = %e, "cannot read account");
                    if let Some(end) = self.pause(backoff(attempt)).await {
                        return end;
                    }
                    attempt += 1;
                    continue;
                }
            };
            let cfg = match open_account(cfg, self.services.config.service.secret.as_ref()).await {
                Ok(c) => c,
                Err(e) => {
                    let error = AccountErrorEntry {
                        response: e,
                        server_response_code: None,
                    };
                    self.failed(EventKind::ConnectError, AccountState::ConnectError, &error)
                        .await;
                    if let Some(end) = self.pause(AUTH_RETRY).await {
                        return end;
                    }
                    continue;
                }
            };
            let Some(imap_cfg) = cfg.imap.clone() else {
                if !self.status(AccountState::Unset, None).await {
                    return SessionEnd::LeaseLost;
                }
                if let Some(end) = self.pause(Duration::from_secs(3600)).await {
                    return end;
                }
                continue;
            };
            if !self.status(AccountState::Connecting, None).await {
                return SessionEnd::LeaseLost;
            }
            let settings = self.services.store.get_settings().await.unwrap_or_default();
            let settings = imapapi_common::crypto::open_settings_off_runtime(
                settings,
                self.services.config.service.secret.clone(),
            )
            .await;
            let source =
                CredentialSource::new(&cfg, Proto::Imap, &settings, &self.services.config.gmail);
            let log =
                ProtocolLog::for_account(self.services.store.clone(), &settings, &self.account);
            let connected = async {
                // Held until logged in: the sync that follows is not throttled.
                let _slot = self.throttle.enter().await;
                let creds = source.credentials().await?;
                let session = connection::connect_logged(
                    &imap_cfg,
                    &creds,
                    &self.services.config.service.local_addresses,
                    log.clone(),
                )
                .await;
                if matches!(session, Err(ConnectError::Auth(_))) {
                    source.refused().await;
                }
                let session = session?;
                let imap = Imap::new(session)
                    .await
                    .map_err(|e| ConnectError::connect(e.to_string()))?;
                Ok::<_, ConnectError>((imap, creds))
            };
            let connected = tokio::select! {
                c = connected => c,
                _ = self.cancel.cancelled() => return SessionEnd::Stopped,
            };
            let delay = match connected {
                Ok((mut imap, credentials)) => {
                    attempt = 0;
                    self.last_error = None;
                    tracing::info!(account = %self.account, "connected");
                    let success = events::authentication_success(&self.account, credentials.user());
                    self.login.send_replace(Some(Arc::new(Login {
                        imap: imap_cfg.clone(),
                        source: source.clone(),
                        local: self.services.config.service.local_addresses.clone(),
                        log: log.clone(),
                    })));
                    self.publish(success).await;
                    if !self.status(AccountState::Connected, None).await {
                        imap.logout().await;
                        return SessionEnd::LeaseLost;
                    }
                    let resync = Duration::from_secs(
                        imap_cfg.resync_delay.unwrap_or(DEFAULT_RESYNC_DELAY).max(1),
                    );
                    let exit = self.connected(&mut imap, &cfg, &settings, resync).await;
                    self.login.send_replace(None);
                    match exit {
                        Ok(Exit::Stopped) => {
                            imap.logout().await;
                            self.status(AccountState::Disconnected, None).await;
                            return SessionEnd::Stopped;
                        }
                        Ok(Exit::Closed) => {
                            imap.logout().await;
                            return SessionEnd::Closed;
                        }
                        Ok(Exit::Reconnect) => {
                            imap.logout().await;
                            continue;
                        }
                        Err(e) if e.lease_lost() => return SessionEnd::LeaseLost,
                        Err(e) => {
                            tracing::warn!(account = %self.account, error = %e, "session failed");
                            let error = AccountErrorEntry {
                                response: e.to_string(),
                                server_response_code: None,
                            };
                            if !self.status(AccountState::Disconnected, Some(error)).await {
                                return SessionEnd::LeaseLost;
                            }
                            attempt += 1;
                            backoff(attempt - 1)
                        }
                    }
                }
                Err(ConnectError::Auth(error)) => {
                    if !self
                        .failed(
                            EventKind::AuthenticationError,
                            AccountState::AuthenticationError,
                            &error,
                        )
                        .await
                    {
                        return SessionEnd::LeaseLost;
                    }
                    AUTH_RETRY
                }
                Err(ConnectError::Connect(error)) => {
                    if !self
                        .failed(EventKind::ConnectError, AccountState::ConnectError, &error)
                        .await
                    {
                        return SessionEnd::LeaseLost;
                    }
                    attempt += 1;
                    backoff(attempt - 1)
                }
            };
            if let Some(end) = self.pause(delay).await {
                return end;
            }
        }
    }

    /// The connected phase: full sync, then IDLE on the watched folder and a STATUS poll of
    /// the other folders, until a control request, shutdown or a lost connection.
    async fn connected(
        &mut self,
        imap: &mut Imap,
        cfg: &AccountConfig,
        settings: &imapapi_common::model::Settings,
        resync: Duration,
    ) -> Result<Exit, RunError> {
        let Session {
            services,
            node,
            account,
            cancel,
            rx,
            folders: published,
            login,
            ..
        } = self;
        let notify_from = parse_notify_from(cfg.notify_from.as_deref());
        let mut settings = settings.clone();
        let ctx = SyncCtx {
            services,
            node,
            account,
            settings: &settings,
            notify_from,
        };
        let only = cfg.path.as_deref().filter(|p| *p != "*");
        let mut states: BTreeMap<String, FolderState> = BTreeMap::new();
        let mut folders = sync::sync_account(imap, &ctx, only, &mut states, true, None).await?;
        published.publish(&states);
        // syncTime tells users (and the benchmark) that the initial sync is complete.
        let synced = AccountStatus {
            state: AccountState::Connected,
            sync_time: Some(now()),
            last_error: None,
        };
        if let Err(e) = services.store.set_status(account, node, &synced).await {
            tracing::warn!(account = %account, error = %e, "cannot write status");
        }
        // Changes in every folder as they happen, where the server can tell (NOTIFY);
        // elsewhere the watched folder's IDLE and the periodic resync of the rest. Not for
        // an account limited to one folder. Set after the sync: with NOTIFY set, Dovecot
        // makes every opening of a folder cost a pass over all its messages (~0.1 s at
        // 100,000), which doubled a first sync. What moved in between is found from the
        // STATUS NOTIFY sends as it begins, and synced below like any notice.
        let notify = services.config.ingest.notify
            && only.is_none()
            && match imap.enable_notify().await {
                Some(statuses) => {
                    notified::note_moved_since_sync(imap, &states, statuses);
                    true
                }
                None => false,
            };
        tracing::debug!(account = %account, notify, "watching");
        let watched = watched_folder(&folders, only);
        let wakes = Arc::new(FolderWakes::default());
        let watchers = cancel.child_token();
        let _stop_watchers = watchers.clone().drop_guard();
        if !notify && only.is_none() {
            let current = login.borrow().clone();
            let watched_path = watched.as_ref().map(|w| w.path.as_str());
            let global = &services.config.ingest.idle_folders;
            let wanted = folder_watch::wanted(cfg.imap.as_ref(), global);
            start_folder_watchers(
                account,
                current,
                wanted,
                &folders,
                watched_path,
                &wakes,
                watchers,
            );
        }
        // The initial sync leaves the watched folder selected and current unless the server
        // reported changes after it was read; only then does it need another pass.
        let mut need_sync = watched
            .as_ref()
            .is_none_or(|w| imap.selected.as_deref() != Some(w.path.as_str()) || imap.changed);
        let mut next_poll = Instant::now() + resync;
        // Callers waiting for the next poll of the other folders (`Control::Resync`).
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            if cancel.is_cancelled() {
                return Ok(Exit::Stopped);
            }
            if let Ok(req) = rx.try_recv()
                && let Some(exit) = obey(req, &mut waiters, &mut next_poll)
            {
                return Ok(exit);
            }
            if Instant::now() >= next_poll {
                let ctx = fresh_ctx(services, node, account, &mut settings, notify_from).await;
                folders = sync::sync_account(
                    imap,
                    &ctx,
                    only,
                    &mut states,
                    false,
                    watched.as_ref().map(|w| w.path.as_str()),
                )
                .await?;
                // What NOTIFY reported meanwhile is covered by this pass.
                imap.notices.take();
                // Before the waiters hear of it: they look for a folder this pass found.
                published.publish(&states);
                next_poll = Instant::now() + resync;
                need_sync = true;
                for w in waiters.drain(..) {
                    let _ = w.send(());
                }
            }
            for path in wakes.take() {
                imap.notices.add(Some(Notice::Folder(path)));
            }
            if imap.notices.pending() {
                let ctx = fresh_ctx(services, node, account, &mut settings, notify_from).await;
                let watched_path = watched.as_ref().map(|w| w.path.as_str());
                let wanted =
                    notified::sync(imap, &ctx, &mut folders, &mut states, watched_path).await?;
                need_sync |= wanted;
                published.publish(&states);
            }
            let Some(w) = &watched else {
                // Nothing to IDLE on: just wait for commands and the poll.
                match idle::wait_plain(rx, cancel, next_poll).await {
                    Wake::Control(req) => {
                        if let Some(exit) = obey(req, &mut waiters, &mut next_poll) {
                            return Ok(exit);
                        }
                    }
                    Wake::Stop => return Ok(Exit::Stopped),
                    _ => {}
                }
                continue;
            };
            if need_sync || imap.selected.as_deref() != Some(w.path.as_str()) {
                let prev = states.get(&w.path).cloned();
                let ctx = fresh_ctx(services, node, account, &mut settings, notify_from).await;
                let state = sync::sync_folder(imap, &ctx, w, prev, false).await?;
                states.insert(w.path.clone(), state);
                published.publish(&states);
                need_sync = false;
            }
            let max = next_poll.saturating_duration_since(Instant::now());
            match idle::wait(imap, rx, cancel, max, Some(&wakes.notify)).await? {
                Wake::Changed => need_sync = true,
                // Taken at the top of the loop.
                Wake::Folders => {}
                Wake::Control(req) => {
                    if let Some(exit) = obey(req, &mut waiters, &mut next_poll) {
                        return Ok(exit);
                    }
                }
                Wake::Timeout => {}
                Wake::Stop => return Ok(Exit::Stopped),
            }
        }
    }
}

/// Without NOTIFY, the `wanted` folders (the account's `imap.idleFolders`, else
/// `ingest.idleFolders`) get IDLE connections of their own (see `folder_watch.rs`); they
/// stop with `stop`, when the watching connection ends.
fn start_folder_watchers(
    account: &str,
    login: Option<Arc<Login>>,
    wanted: &[String],
    folders: &[FolderInfo],
    watched: Option<&str>,
    wakes: &Arc<FolderWakes>,
    stop: CancellationToken,
) {
    let Some(login) = login.filter(|_| !wanted.is_empty()) else {
        return;
    };
    let paths = folder_watch::resolve(wanted, folders, watched);
    tracing::debug!(account = %account, ?paths, "extra IDLE connections");
    folder_watch::spawn(account, login, paths, wakes.clone(), stop);
}

/// A sync context with the settings as stored now (see [`refresh_settings`]).
async fn fresh_ctx<'a>(
    services: &'a Services,
    node: &'a str,
    account: &'a str,
    settings: &'a mut imapapi_common::model::Settings,
    notify_from: Option<DateTime<Utc>>,
) -> SyncCtx<'a> {
    refresh_settings(services, settings).await;
    SyncCtx {
        services,
        node,
        account,
        settings,
        notify_from,
    }
}

/// The settings as stored now, for a sync pass: a change through the api (`notifyText`,
/// `notifyHeaders`, …) applies from the next pass, not only from the next connection.
/// When the store cannot be read, the pass goes on with the settings it had.
async fn refresh_settings(services: &Services, settings: &mut imapapi_common::model::Settings) {
    match services.store.get_settings().await {
        Ok(fresh) => *settings = fresh,
        Err(error) => tracing::debug!(%error, "settings not refreshed; using the last read"),
    }
}

/// Act on a control request while connected: the exit it asks for, or none for a resync,
/// which moves the poll of the other folders to now and answers once it ran.
fn obey(
    req: ControlRequest,
    waiters: &mut Vec<oneshot::Sender<()>>,
    next_poll: &mut Instant,
) -> Option<Exit> {
    match req.control {
        Control::Reconnect => {
            let _ = req.done.send(());
            Some(Exit::Reconnect)
        }
        Control::Close => {
            let _ = req.done.send(());
            Some(Exit::Closed)
        }
        Control::Resync => {
            waiters.push(req.done);
            *next_poll = Instant::now();
            None
        }
    }
}

/// The folder to IDLE on: the account's `path`, else INBOX, else the first folder.
fn watched_folder(folders: &[FolderInfo], only: Option<&str>) -> Option<FolderInfo> {
    let by_path = |p: &str| {
        folders
            .iter()
            .find(|f| f.path.eq_ignore_ascii_case(p))
            .cloned()
    };
    only.and_then(by_path)
        .or_else(|| by_path("INBOX"))
        .or_else(|| folders.first().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap() {
        assert!(
            backoff(0) >= Duration::from_millis(800) && backoff(0) <= Duration::from_millis(1200)
        );
        assert!(backoff(3) >= Duration::from_millis(6400));
        assert!(backoff(30) <= Duration::from_secs(72));
    }

    #[test]
    fn notify_from_formats() {
        assert!(parse_notify_from(Some("2024-01-02T03:04:05Z")).is_some());
        assert!(parse_notify_from(Some("2024-01-02")).is_some());
        assert!(parse_notify_from(Some("soon")).is_none());
        assert!(parse_notify_from(None).is_none());
        // Whole seconds, rounded down, to compare with INTERNALDATE.
        assert_eq!(
            parse_notify_from(Some("2024-01-02T03:04:05.999Z")),
            parse_notify_from(Some("2024-01-02T03:04:05Z"))
        );
    }
}
