//! Command connections: API commands run on IMAP connections of their own, beside the one
//! that watches for changes, so a call never waits for a resync or an IDLE round trip, and
//! a big download on one account never delays a call on another.
//!
//! Each account has a small pool, opened on demand with the credentials its session logged
//! in with, kept while used and closed after `ingest.commandIdle` unused. Two limits bound
//! it: `ingest.commandConnections` per account (further callers wait their turn) and
//! `ingest.commandConnectionsMax` over the whole node.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use imapapi_common::config::LocalAddress;
use imapapi_common::error::ApiError;
use imapapi_common::model::ImapConfig;
use imapapi_common::protocol_log::ProtocolLog;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use crate::connection;
use crate::imap::Imap;
use imapapi_common::oauth2::CredentialSource;

/// What a command connection logs in with: published by the account's session once its
/// own login succeeded, withdrawn when it disconnects or is told to reconnect. The
/// credentials are got from their source at each login, so a connection opened an hour
/// later uses a fresh OAuth2 token rather than the session's expired one.
pub struct Login {
    pub imap: ImapConfig,
    pub source: CredentialSource,
    pub local: Vec<LocalAddress>,
    /// The account's protocol log when it is logged: command connections record into the
    /// session's.
    pub log: Option<ProtocolLog>,
}

/// Node-wide limits shared by every account's pool.
pub struct PoolLimits {
    pub per_account: usize,
    pub idle_timeout: Duration,
    /// One permit per open command connection on this node.
    pub open: Arc<Semaphore>,
}

impl PoolLimits {
    pub fn new(per_account: usize, max_open: usize, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(PoolLimits {
            per_account: per_account.max(1),
            idle_timeout,
            open: Arc::new(Semaphore::new(max_open.max(1))),
        })
    }
}

struct Idle {
    imap: Imap,
    open: OwnedSemaphorePermit,
    login: Arc<Login>,
    since: Instant,
}

/// One account's command connections.
pub struct CommandPool {
    account: String,
    login: watch::Receiver<Option<Arc<Login>>>,
    idle: Mutex<Vec<Idle>>,
    /// One permit per command in progress on this account.
    busy: Arc<Semaphore>,
    limits: Arc<PoolLimits>,
}

/// A command connection lent out. It goes back to the pool only through
/// [`PooledImap::release`]; dropped otherwise (an error, a timeout mid-command), it is closed.
pub struct PooledImap {
    pub imap: Imap,
    open: OwnedSemaphorePermit,
    login: Arc<Login>,
    _busy: OwnedSemaphorePermit,
    pool: Arc<CommandPool>,
}

impl PooledImap {
    /// Give the connection back for the next command.
    pub fn release(self) {
        let PooledImap {
            imap,
            open,
            login,
            pool,
            ..
        } = self;
        pool.lock_idle().push(Idle {
            imap,
            open,
            login,
            since: Instant::now(),
        });
    }
}

impl CommandPool {
    /// A pool for `account`, with a background task that closes idle connections; the task
    /// ends by itself once the pool is dropped.
    pub fn start(
        account: String,
        login: watch::Receiver<Option<Arc<Login>>>,
        limits: Arc<PoolLimits>,
    ) -> Arc<Self> {
        let pool = Arc::new(CommandPool {
            account,
            login,
            idle: Mutex::new(Vec::new()),
            busy: Arc::new(Semaphore::new(limits.per_account)),
            limits,
        });
        tokio::spawn(reap_idle(Arc::downgrade(&pool)));
        pool
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection for one command: an idle one, or a new one. Waits while the account's
    /// limit is in use; callers bound the wait with the command timeout.
    pub async fn acquire(self: &Arc<Self>) -> Result<PooledImap, ApiError> {
        let busy = self
            .busy
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::no_connection(&self.account))?;
        let current = self
            .login
            .borrow()
            .clone()
            .ok_or_else(|| ApiError::no_connection(&self.account))?;
        // Newest first: the most recently used connection is the least likely to have been
        // dropped by the server. Connections opened with older credentials are discarded.
        while let Some(idle) = self.lock_idle().pop() {
            if Arc::ptr_eq(&idle.login, &current) {
                return Ok(PooledImap {
                    imap: idle.imap,
                    open: idle.open,
                    login: idle.login,
                    _busy: busy,
                    pool: self.clone(),
                });
            }
        }
        let open = self
            .limits
            .open
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::no_connection(&self.account))?;
        let imap = self.open_connection(&current).await?;
        Ok(PooledImap {
            imap,
            open,
            login: current,
            _busy: busy,
            pool: self.clone(),
        })
    }

    async fn open_connection(&self, login: &Login) -> Result<Imap, ApiError> {
        let unavailable = |e: String| {
            tracing::warn!(account = %self.account, error = %e, "cannot open a command connection");
            ApiError::new(
                503,
                "NoActiveConnection",
                format!("Could not open an IMAP connection: {e}"),
            )
        };
        let credentials = login
            .source
            .credentials()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let session =
            connection::connect_logged(&login.imap, &credentials, &login.local, login.log.clone())
                .await;
        if matches!(session, Err(connection::ConnectError::Auth(_))) {
            login.source.refused().await;
        }
        let session = session.map_err(|e| unavailable(e.to_string()))?;
        let imap = Imap::new_plain(session)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        tracing::debug!(account = %self.account, "command connection opened");
        Ok(imap)
    }

    /// Close connections unused for longer than the idle timeout, and all of them when the
    /// session has withdrawn its login.
    fn take_stale(&self) -> Vec<Idle> {
        let withdrawn = self.login.borrow().is_none();
        let timeout = self.limits.idle_timeout;
        let mut idle = self.lock_idle();
        let (stale, keep): (Vec<Idle>, Vec<Idle>) = idle
            .drain(..)
            .partition(|i| withdrawn || i.since.elapsed() >= timeout);
        *idle = keep;
        stale
    }

    /// Connections currently idle (for tests and stats).
    pub fn idle_count(&self) -> usize {
        self.lock_idle().len()
    }
}

async fn reap_idle(pool: Weak<CommandPool>) {
    loop {
        let period = match pool.upgrade() {
            Some(p) => (p.limits.idle_timeout / 4)
                .clamp(Duration::from_millis(250), Duration::from_secs(30)),
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(p) = pool.upgrade() else { return };
        let stale = p.take_stale();
        drop(p);
        for mut s in stale {
            s.imap.logout().await;
            drop(s.open);
        }
    }
}
