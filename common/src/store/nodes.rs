//! Live ingest nodes. Its own trait because node membership concerns processes, not
//! accounts: nothing of it is fenced or kept per account, and the embedded backend keeps it
//! in memory rather than in its file.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;

/// The set of ingest nodes alive now, kept by heartbeats.
#[async_trait]
pub trait NodeStore: Send + Sync + 'static {
    /// Announce that ingest `node` is alive for `ttl`, and return every node alive now
    /// (itself included), sorted. Ingest uses the count to take only its fair share of
    /// the accounts, so several processes actually share them.
    async fn heartbeat_node(&self, node: &str, ttl: Duration) -> Result<Vec<String>, StoreError>;
    /// Forget `node` at once (clean shutdown), instead of waiting for its heartbeat to expire.
    async fn remove_node(&self, node: &str) -> Result<(), StoreError>;
    /// Every ingest node alive now, sorted, without announcing one (api picks a node for
    /// work that belongs to no account, such as checking settings before they are saved).
    async fn live_nodes(&self) -> Result<Vec<String>, StoreError>;
}
