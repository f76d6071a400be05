//! Live ingest nodes (`P:nodes`): a sorted set scored by heartbeat expiry.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, backend};
use crate::store::{NodeStore, StoreError};

/// KEYS: nodes. ARGV: node, now ms, expiry ms. Server-side so one round trip both
/// refreshes this node and prunes the dead ones.
pub(super) const HEARTBEAT: &str = r"
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
return redis.call('ZRANGE', KEYS[1], 0, -1)
";

#[async_trait]
impl NodeStore for RedisStore {
    async fn heartbeat_node(&self, node: &str, ttl: Duration) -> Result<Vec<String>, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let expiry = now.saturating_add(ttl.as_millis() as u64);
        let mut nodes: Vec<String> = self
            .heartbeat
            .key(self.global("nodes"))
            .arg(node)
            .arg(now)
            .arg(expiry)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        nodes.sort();
        Ok(nodes)
    }

    async fn remove_node(&self, node: &str) -> Result<(), StoreError> {
        self.con
            .clone()
            .zrem(self.global("nodes"), node)
            .await
            .map_err(backend)
    }

    async fn live_nodes(&self) -> Result<Vec<String>, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut nodes: Vec<String> = self
            .con
            .clone()
            .zrangebyscore(self.global("nodes"), now, "+inf")
            .await
            .map_err(backend)?;
        nodes.sort();
        Ok(nodes)
    }
}
