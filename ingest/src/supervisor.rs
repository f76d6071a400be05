//! Which accounts this node runs: leases in the store decide ownership, so several ingest
//! processes share the accounts and take over a dead one's once its leases expire. Also
//! routes bus requests (commands) to the owning session.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imapapi_common::Services;
use imapapi_common::command::{Command, CommandReply};
use imapapi_common::error::ApiError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::session::{COMMAND_QUEUE, Session, SessionEnd, SessionRequest};

/// Accounts are listed at least every this many scans even when the generation did not
/// change, to pick up leases that expired on a dead node.
const LIST_EVERY: u32 = 5;
/// How long shutdown waits for sessions to log out.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Command senders of the running sessions, shared with the request router.
type Routes = Arc<Mutex<HashMap<String, mpsc::Sender<SessionRequest>>>>;

struct Running {
    cancel: CancellationToken,
    last_renewed: Instant,
}

/// The supervisor loop.
pub struct Supervisor {
    services: Services,
    node: String,
    routes: Routes,
    running: HashMap<String, Running>,
    tasks: JoinSet<(String, SessionEnd)>,
    /// Accounts closed by command, with the generation at that time: not taken again
    /// until the accounts change.
    closed: HashMap<String, u64>,
    generation: Option<u64>,
}

impl Supervisor {
    pub fn new(services: Services) -> Self {
        let node = services.config.ingest.node_id.clone();
        Supervisor {
            services,
            node,
            routes: Arc::new(Mutex::new(HashMap::new())),
            running: HashMap::new(),
            tasks: JoinSet::new(),
            closed: HashMap::new(),
            generation: None,
        }
    }

    fn start(&mut self, account: &str) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let cancel = CancellationToken::new();
        let session = Session::new(
            self.services.clone(),
            self.node.clone(),
            account.to_string(),
            cancel.clone(),
            rx,
        );
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.to_string(), tx);
        let id = account.to_string();
        self.tasks.spawn(async move { (id, session.run().await) });
        self.running.insert(
            account.to_string(),
            Running {
                cancel,
                last_renewed: Instant::now(),
            },
        );
        tracing::info!(account, node = %self.node, "account session started");
    }

    fn stop(&mut self, account: &str) {
        if let Some(r) = self.running.remove(account) {
            r.cancel.cancel();
        }
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account);
    }

    async fn release(&self, account: &str) {
        if let Err(e) = self.services.store.release_lease(account, &self.node).await {
            tracing::warn!(account, error = %e, "cannot release lease");
        }
    }

    /// Look for accounts to take and accounts that are gone.
    async fn scan(&mut self, scans: u32) -> anyhow::Result<()> {
        let store = &self.services.store;
        let generation = store.accounts_generation().await?;
        if self.generation == Some(generation) && !scans.is_multiple_of(LIST_EVERY) {
            return Ok(());
        }
        if self.generation != Some(generation) {
            self.closed.retain(|_, g| *g == generation);
        }
        self.generation = Some(generation);
        let accounts: HashSet<String> = store.list_accounts().await?.into_iter().collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|a| !accounts.contains(*a))
            .cloned()
            .collect();
        for a in gone {
            self.stop(&a);
            self.release(&a).await;
        }
        let ttl = self.services.config.ingest.lease_ttl;
        for a in &accounts {
            if self.running.contains_key(a) || self.closed.contains_key(a) {
                continue;
            }
            match self.services.store.acquire_lease(a, &self.node, ttl).await {
                Ok(true) => self.start(a),
                Ok(false) => {}
                Err(e) => tracing::warn!(account = %a, error = %e, "cannot acquire lease"),
            }
        }
        Ok(())
    }

    /// Renew the leases of running accounts; stop those that cannot be renewed.
    async fn renew(&mut self) {
        let ttl = self.services.config.ingest.lease_ttl;
        let due: Vec<String> = self
            .running
            .iter()
            .filter(|(_, r)| r.last_renewed.elapsed() >= ttl / 3)
            .map(|(a, _)| a.clone())
            .collect();
        for a in due {
            match self.services.store.acquire_lease(&a, &self.node, ttl).await {
                Ok(true) => {
                    if let Some(r) = self.running.get_mut(&a) {
                        r.last_renewed = Instant::now();
                    }
                }
                Ok(false) => {
                    tracing::warn!(account = %a, "lease taken by another node; stopping");
                    self.stop(&a);
                }
                Err(e) => {
                    let expired = self
                        .running
                        .get(&a)
                        .is_some_and(|r| r.last_renewed.elapsed() >= ttl);
                    tracing::warn!(account = %a, error = %e, "cannot renew lease");
                    if expired {
                        self.stop(&a);
                    }
                }
            }
        }
    }

    /// A session task ended on its own.
    async fn ended(&mut self, account: String, end: SessionEnd) {
        let still_ours = self.running.contains_key(&account);
        self.stop(&account);
        tracing::info!(account, ?end, "account session ended");
        match end {
            SessionEnd::Closed => {
                if let Some(g) = self.generation {
                    self.closed.insert(account.clone(), g);
                }
                self.release(&account).await;
            }
            SessionEnd::AccountGone => self.release(&account).await,
            SessionEnd::LeaseLost => {}
            SessionEnd::Stopped => {
                if still_ours {
                    self.release(&account).await;
                }
            }
        }
    }

    /// Run until `shutdown`; then stop every session and release the leases.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let server = self.services.bus.serve(&self.node).await?;
        let router = tokio::spawn(route_requests(
            server,
            self.routes.clone(),
            self.services.clone(),
            shutdown.clone(),
        ));
        let scan_every = self
            .services
            .config
            .ingest
            .scan_interval
            .max(Duration::from_millis(50));
        let mut tick = tokio::time::interval(scan_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut scans = 0u32;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Err(e) = self.scan(scans).await {
                        tracing::warn!(error = %e, "account scan failed");
                    }
                    scans = scans.wrapping_add(1);
                    self.renew().await;
                }
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    match done {
                        Ok((account, end)) => self.ended(account, end).await,
                        Err(e) => tracing::error!(error = %e, "account session task failed"),
                    }
                }
            }
        }
        let accounts: Vec<String> = self.running.keys().cloned().collect();
        for a in &accounts {
            self.stop(a);
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
        for a in &accounts {
            self.release(a).await;
        }
        router.abort();
        Ok(())
    }
}

/// Serve bus requests: parse the command, hand it to the account's session, reply.
async fn route_requests(
    mut server: Box<dyn imapapi_common::bus::RequestServer>,
    routes: Routes,
    services: Services,
    shutdown: CancellationToken,
) {
    loop {
        let req = tokio::select! {
            r = server.next() => r,
            _ = shutdown.cancelled() => return,
        };
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "command server stopped");
                return;
            }
        };
        let routes = routes.clone();
        let services = services.clone();
        tokio::spawn(async move {
            let reply = handle(&req.body, &routes, &services).await;
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            if let Err(e) = req.replier.reply(body).await {
                tracing::debug!(error = %e, "cannot send command reply");
            }
        });
    }
}

async fn handle(body: &[u8], routes: &Routes, services: &Services) -> CommandReply {
    let command: Command = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => {
            return CommandReply::Error(ApiError::new(400, "InvalidCommand", e.to_string()));
        }
    };
    let tx = routes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&command.account)
        .cloned();
    let Some(tx) = tx else {
        return match services.store.get_account(&command.account).await {
            Ok(None) => CommandReply::Error(ApiError::not_found("Account not found")),
            _ => CommandReply::Error(ApiError::no_connection(&command.account)),
        };
    };
    let (reply_tx, reply_rx) = oneshot::channel();
    let req = SessionRequest {
        kind: command.kind,
        reply: reply_tx,
    };
    if tx.try_send(req).is_err() {
        return CommandReply::Error(ApiError::no_connection(&command.account));
    }
    // The session bounds the IMAP work by commandTimeout; allow for the queue ahead of it.
    let limit = services.config.service.command_timeout * 2;
    match tokio::time::timeout(limit, reply_rx).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => CommandReply::Error(ApiError::no_connection(&command.account)),
        Err(_) => CommandReply::Error(ApiError::timeout()),
    }
}
