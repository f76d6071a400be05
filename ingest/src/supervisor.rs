//! Which accounts this node runs: leases in the store decide ownership, so several ingest
//! processes share the accounts and take over a dead one's once its leases expire. Bus
//! requests for the running accounts are served by `router`. Accounts are scanned every
//! `ingest.scanInterval`, and at once when the api announces a change (`pickup`).

use crate::message_cache::MessageCache;
use crate::owned_accounts_metric::OwnedAccountsMetric;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use imapapi_common::Services;
use rand::seq::SliceRandom;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::command_pool::{CommandPool, PoolLimits};
use crate::connect_throttle::ConnectThrottle;
use crate::control::CONTROL_QUEUE;
use crate::flag_reads::FlagReads;
use crate::folder_view::folder_view;
use crate::heartbeat::Heartbeat;
use crate::lease_claims::{self, Claim, Scope, Unowned};
use crate::pickup::{PICKUP_GAP, Pickup};
use crate::router::{AccountHandle, Routes, route_requests};
use crate::session::{Session, SessionEnd, SessionLinks};

/// Accounts are listed at least every this many scans even when the generation did not
/// change, to pick up leases that expired on a dead node.
const LIST_EVERY: u32 = 5;
/// Accounts a node hands over per scan when it holds more than its share: the move of a
/// thousand accounts to a new node is spread over a few seconds.
const MAX_SHED_PER_SCAN: usize = 50;
/// Lease calls (takes, renewals) a scan has in flight at once: a node holding thousands of
/// accounts renews a third of them every third of a lease ttl.
const LEASE_CALLS_AT_ONCE: usize = 32;
/// How long shutdown waits for sessions to log out.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct Running {
    cancel: CancellationToken,
    last_renewed: Instant,
}

/// The supervisor loop.
pub struct Supervisor {
    services: Services,
    node: String,
    routes: Routes,
    pool_limits: Arc<PoolLimits>,
    running: HashMap<String, Running>,
    tasks: JoinSet<(String, SessionEnd)>,
    generation: Option<u64>,
    /// Accounts seen without an owner while this node held its share.
    unowned: Unowned,
    /// The live nodes of the last scan: a change (one joined, one died) makes the next scan
    /// look at every account at once.
    last_nodes: Vec<String>,
    /// This node's fair share at the last full scan: while it holds clearly fewer accounts,
    /// every scan looks for more (another node may have just handed some over).
    last_share: usize,
    /// Shared by the sessions of this process.
    throttle: ConnectThrottle,
    /// The accounts held, for an autoscaler (`ingest.emfNamespace`).
    owned_metric: Option<OwnedAccountsMetric>,
    /// Decoded messages, shared by every account's commands (`ingest.messageCache`).
    message_cache: Arc<MessageCache>,
}

/// How long a node counts as alive after its last heartbeat: a few scans, so a node that
/// died (kill -9, machine gone) loses its accounts within seconds rather than a lease ttl,
/// while a node that is merely busy for a moment keeps them.
fn node_ttl(scan_interval: Duration, lease_ttl: Duration) -> Duration {
    (scan_interval * 5)
        .max(Duration::from_secs(3))
        .min(lease_ttl)
}

impl Supervisor {
    pub fn new(services: Services) -> Self {
        let node = services.config.ingest.node_id.clone();
        let ingest = &services.config.ingest;
        let pool_limits = PoolLimits::new(
            ingest.command_connections,
            ingest.command_connections_max,
            ingest.command_idle,
        );
        let owned_metric = ingest.emf.clone().map(OwnedAccountsMetric::new);
        let message_cache = MessageCache::new(ingest.message_cache);
        Supervisor {
            services,
            node,
            routes: Arc::new(Mutex::new(HashMap::new())),
            pool_limits,
            running: HashMap::new(),
            tasks: JoinSet::new(),
            generation: None,
            unowned: Unowned::default(),
            last_nodes: Vec::new(),
            last_share: 0,
            throttle: ConnectThrottle::default(),
            owned_metric,
            message_cache,
        }
    }

    fn start(&mut self, account: &str) {
        let (tx, rx) = mpsc::channel(CONTROL_QUEUE);
        let (login_tx, login_rx) = watch::channel(None);
        let (folder_publisher, folders) = folder_view();
        let cancel = CancellationToken::new();
        let session = Session::new(
            self.services.clone(),
            self.node.clone(),
            account.to_string(),
            cancel.clone(),
            SessionLinks {
                control: rx,
                login: login_tx,
                folders: folder_publisher,
                throttle: self.throttle.clone(),
            },
        );
        let pool = CommandPool::start(account.to_string(), login_rx, self.pool_limits.clone());
        let flag_reads = FlagReads::new(pool.clone(), self.services.config.service.command_timeout);
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                account.to_string(),
                AccountHandle {
                    control: tx,
                    pool,
                    flag_reads,
                    folders,
                    cache: self.message_cache.clone(),
                },
            );
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
    async fn scan(&mut self, scans: u32, nodes: &[String]) -> anyhow::Result<()> {
        // Until the store has this node among the live ones, peers would take whatever it
        // took as a dead node's.
        if !nodes.contains(&self.node) {
            return Ok(());
        }
        let store = self.services.store.clone();
        let nodes_changed = nodes != self.last_nodes;
        self.last_nodes = nodes.to_vec();
        let generation = store.accounts_generation().await?;
        // One under the share is even (shares round up): only a real shortfall rescans.
        let under_share = self.running.len() + 1 < self.last_share;
        if self.generation == Some(generation)
            && !nodes_changed
            && !under_share
            && !scans.is_multiple_of(LIST_EVERY)
        {
            return Ok(());
        }
        self.generation = Some(generation);
        let accounts: HashSet<String> = store.list_accounts().await?.into_iter().collect();
        self.forget_gone(&accounts).await;
        let share = fair_share(accounts.len(), nodes.len());
        self.last_share = share;
        self.shed_excess(share).await;
        let mut candidates: Vec<String> = accounts
            .into_iter()
            .filter(|a| !self.running.contains_key(a))
            .collect();
        // Each process tries them in its own order, so peers starting together do not all
        // race for the same accounts first.
        candidates.shuffle(&mut rand::rng());
        let owners = store.lease_owners(&candidates).await?;
        let scope = Scope {
            node: &self.node,
            nodes,
            room: share.saturating_sub(self.running.len()),
            ttl: self.services.config.ingest.lease_ttl,
        };
        let claims = lease_claims::plan(
            candidates.into_iter().zip(owners).collect(),
            &scope,
            &mut self.unowned,
        );
        self.take(claims).await;
        Ok(())
    }

    /// Try the claims side by side (each one atomic step in the store) and start a session
    /// for every one won.
    async fn take(&mut self, claims: Vec<Claim>) {
        let store = self.services.store.clone();
        let (node, ttl) = (self.node.clone(), self.services.config.ingest.lease_ttl);
        let results = side_by_side(claims, |claim| {
            let (store, node) = (store.clone(), node.clone());
            async move {
                let won = match &claim.from {
                    None => store.acquire_lease(&claim.account, &node, ttl).await,
                    Some(dead) => {
                        store
                            .take_over_lease(&claim.account, &node, dead, ttl)
                            .await
                    }
                };
                let won = won.unwrap_or_else(|e| {
                    tracing::warn!(account = %claim.account, error = %e, "cannot acquire lease");
                    false
                });
                (claim, won)
            }
        })
        .await;
        for (claim, won) in results {
            if !won {
                continue;
            }
            if let Some(dead) = &claim.from {
                tracing::info!(account = %claim.account, node = %self.node, dead = %dead,
                    "took the account over from a node that stopped heartbeating");
            }
            self.unowned.forget(&claim.account);
            self.start(&claim.account);
        }
    }

    /// Stop the sessions of accounts no longer registered, and forget them.
    async fn forget_gone(&mut self, accounts: &HashSet<String>) {
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
        self.unowned.retain(|a| accounts.contains(a));
    }

    /// Hand accounts over to the other nodes while this one holds more than its share (a
    /// node joined): a few per scan, each stopped and its lease released at once, so a
    /// node under its share takes it on its next scan and resyncs it from the stored state.
    /// The stopping session can no longer write (its lease is gone), so nothing is
    /// written twice; an event it had in flight may be repeated, never lost.
    async fn shed_excess(&mut self, share: usize) {
        let excess = self.running.len().saturating_sub(share);
        if excess == 0 {
            return;
        }
        let mut mine: Vec<String> = self.running.keys().cloned().collect();
        mine.sort();
        for a in mine.into_iter().rev().take(excess.min(MAX_SHED_PER_SCAN)) {
            tracing::info!(account = %a, node = %self.node, share, "handing the account over");
            self.stop(&a);
            self.release(&a).await;
        }
    }

    /// Renew the leases of running accounts, side by side; stop those that cannot be
    /// renewed.
    async fn renew(&mut self) {
        let ttl = self.services.config.ingest.lease_ttl;
        let due: Vec<String> = self
            .running
            .iter()
            .filter(|(_, r)| r.last_renewed.elapsed() >= ttl / 3)
            .map(|(a, _)| a.clone())
            .collect();
        let store = self.services.store.clone();
        let node = self.node.clone();
        let results = side_by_side(due, |a| {
            let (store, node) = (store.clone(), node.clone());
            async move {
                let renewed = store.acquire_lease(&a, &node, ttl).await;
                (a, renewed)
            }
        })
        .await;
        for (a, renewed) in results {
            match renewed {
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
            // The account was deleted (the api closes a session only then, after removing
            // it from the store; or the session found it gone). The same id registered
            // again while this session was closing was passed over by the scan that saw it
            // (the session still ran): the next scan lists the accounts, and takes it if it
            // is there.
            SessionEnd::Closed | SessionEnd::AccountGone => {
                self.release(&account).await;
                self.generation = None;
            }
            SessionEnd::LeaseLost => {}
            SessionEnd::Stopped => {
                if still_ours {
                    self.release(&account).await;
                }
            }
        }
    }

    /// One scan with what goes with it: lease renewal and the accounts-held gauges.
    async fn round(&mut self, scans: u32, nodes: &[String]) {
        if let Err(e) = self.scan(scans, nodes).await {
            tracing::warn!(error = %e, "account scan failed");
        }
        self.renew().await;
        if let Some(metric) = &mut self.owned_metric {
            metric.tick(self.running.len()).await;
        }
        metrics::gauge!("imapapi_ingest_accounts").set(self.running.len() as f64);
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
        let ingest = &self.services.config.ingest;
        let heartbeat = Heartbeat::start(
            self.services.clone(),
            self.node.clone(),
            scan_every,
            node_ttl(ingest.scan_interval, ingest.lease_ttl),
        )
        .await;
        let mut nodes_changed = heartbeat.changes();
        let mut pickup = Pickup::new(PICKUP_GAP.min(scan_every));
        let listener =
            crate::pickup::listen(self.services.bus.clone(), pickup.signal(), shutdown.clone())
                .await;
        let mut scans = 0u32;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    self.round(scans, &heartbeat.nodes()).await;
                    scans = scans.wrapping_add(1);
                    pickup.scanned();
                }
                // An account was created, changed or deleted: look now, not at the tick.
                _ = pickup.due() => {
                    self.round(scans, &heartbeat.nodes()).await;
                    pickup.scanned();
                }
                // A node joined or died: share out now.
                Ok(()) = nodes_changed.changed() => {
                    self.round(scans, &heartbeat.nodes()).await;
                    pickup.scanned();
                }
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    match done {
                        Ok((account, end)) => self.ended(account, end).await,
                        Err(e) => tracing::error!(error = %e, "account session task failed"),
                    }
                }
            }
        }
        listener.abort();
        self.shut_down(heartbeat).await;
        router.abort();
        Ok(())
    }

    /// Stop every session (letting them log out for a grace period), release their leases,
    /// and leave the live nodes, so that peers take the accounts at once.
    async fn shut_down(&mut self, heartbeat: Heartbeat) {
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
        heartbeat.stop().await;
        if let Err(e) = self.services.store.remove_node(&self.node).await {
            tracing::warn!(error = %e, "cannot deregister node");
        }
    }
}

/// `call` on every item, [`LEASE_CALLS_AT_ONCE`] in flight at a time; the results in the
/// order they came.
async fn side_by_side<T, F, Fut>(items: Vec<T>, call: F) -> Vec<Fut::Output>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future,
{
    futures::stream::iter(items)
        .map(call)
        .buffer_unordered(LEASE_CALLS_AT_ONCE)
        .collect()
        .await
}

/// How many accounts one of `nodes` live ingest nodes should run: an even split, rounded up.
fn fair_share(accounts: usize, nodes: usize) -> usize {
    accounts.div_ceil(nodes.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::{fair_share, node_ttl};
    use std::time::Duration;

    #[test]
    fn nodes_count_as_dead_after_a_few_scans() {
        let lease = Duration::from_secs(30);
        assert_eq!(
            node_ttl(Duration::from_secs(1), lease),
            Duration::from_secs(5)
        );
        assert_eq!(
            node_ttl(Duration::from_millis(100), lease),
            Duration::from_secs(3)
        );
        assert_eq!(node_ttl(Duration::from_secs(60), lease), lease);
    }

    #[test]
    fn splits_accounts_evenly_rounding_up() {
        assert_eq!(fair_share(4, 2), 2);
        assert_eq!(fair_share(5, 2), 3);
        assert_eq!(fair_share(1000, 3), 334);
        // A node alone, or before the first heartbeat landed, takes everything.
        assert_eq!(fair_share(7, 1), 7);
        assert_eq!(fair_share(7, 0), 7);
        assert_eq!(fair_share(0, 3), 1);
    }
}
