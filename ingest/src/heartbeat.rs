//! Telling the other ingest processes that this one is alive, on a task of its own. Peers
//! take the accounts of a node whose heartbeat stopped at once, without waiting for the
//! leases to expire; with the heartbeat inside the supervisor's scan, a scan slowed down by
//! a busy machine (300 accounts arriving at once, on two loaded cores) looked like a death,
//! and the peers' takeovers then made every process busier still. A process is alive as
//! long as it can send this, however long its scans take.

use std::time::Duration;

use imapapi_common::Services;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The heartbeat task and the live nodes it last heard of.
pub struct Heartbeat {
    nodes: watch::Receiver<Vec<String>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Heartbeat {
    /// Send the first heartbeat (so the first scan already counts this node), then go on
    /// every `every` in a task, each announcing this node alive for `alive_for`.
    pub async fn start(
        services: Services,
        node: String,
        every: Duration,
        alive_for: Duration,
    ) -> Heartbeat {
        let first = beat(&services, &node, alive_for).await.unwrap_or_default();
        let (tx, nodes) = watch::channel(first);
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(services, node, every, alive_for, tx, stop.clone()));
        Heartbeat { nodes, stop, task }
    }

    /// The live nodes (this one included), sorted, as of the last heartbeat that got an
    /// answer.
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.borrow().clone()
    }

    /// A receiver that is told when the live nodes change (one joined, one died).
    pub fn changes(&self) -> watch::Receiver<Vec<String>> {
        self.nodes.clone()
    }

    /// Stop sending, and wait for the task, so that a node removed afterwards is not
    /// announced again by a heartbeat in flight.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn run(
    services: Services,
    node: String,
    every: Duration,
    alive_for: Duration,
    tx: watch::Sender<Vec<String>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Some(nodes) = beat(&services, &node, alive_for).await {
            tx.send_if_modified(|old| {
                let changed = *old != nodes;
                *old = nodes;
                changed
            });
        }
    }
}

async fn beat(services: &Services, node: &str, alive_for: Duration) -> Option<Vec<String>> {
    match services.store.heartbeat_node(node, alive_for).await {
        Ok(nodes) => Some(nodes),
        Err(e) => {
            tracing::warn!(node, error = %e, "cannot send the node heartbeat");
            None
        }
    }
}
