//! Live ingest nodes, kept in memory rather than in the file (see `EmbeddedStore::nodes`).

use std::time::Duration;

use async_trait::async_trait;

use super::EmbeddedStore;
use crate::store::{NodeStore, StoreError};

#[async_trait]
impl NodeStore for EmbeddedStore {
    async fn heartbeat_node(&self, node: &str, ttl: Duration) -> Result<Vec<String>, StoreError> {
        let now = std::time::Instant::now();
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes.insert(node.to_string(), now + ttl);
        nodes.retain(|_, expiry| *expiry >= now);
        let mut live: Vec<String> = nodes.keys().cloned().collect();
        live.sort();
        Ok(live)
    }

    async fn remove_node(&self, node: &str) -> Result<(), StoreError> {
        self.nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(node);
        Ok(())
    }

    async fn live_nodes(&self) -> Result<Vec<String>, StoreError> {
        let now = std::time::Instant::now();
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let mut live: Vec<String> = nodes
            .iter()
            .filter(|(_, expiry)| **expiry >= now)
            .map(|(n, _)| n.clone())
            .collect();
        live.sort();
        Ok(live)
    }
}
