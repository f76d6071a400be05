//! Bodies too large for an SQS message, kept in Redis (which an SQS deployment has for node
//! requests anyway) under `<p>:bus:body:<uuid>`, for as long as SQS keeps messages (14
//! days, renewed on each retry or dead-lettering). The key goes when its message is acked;
//! a copy delivered again after that (SQS delivers at least once) finds no body and is
//! dropped as the duplicate it is.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::bus::BusError;

/// SQS's longest retention, which our queues use.
pub(super) const RETENTION: Duration = Duration::from_secs(14 * 86_400);

fn backend(e: redis::RedisError) -> BusError {
    BusError::Backend(format!("redis (large message bodies): {e}"))
}

/// The Redis side of large bodies.
#[derive(Clone)]
pub(super) struct Overflow {
    pub con: ConnectionManager,
    /// `<p>:bus`.
    pub prefix: String,
}

impl Overflow {
    /// Stores `body`; returns its key.
    pub async fn put(&self, body: &[u8]) -> Result<String, BusError> {
        let key = format!("{}:body:{}", self.prefix, uuid::Uuid::new_v4().simple());
        let _: () = self
            .con
            .clone()
            .set_ex(&key, body, RETENTION.as_secs())
            .await
            .map_err(backend)?;
        Ok(key)
    }

    /// The body under `key`, `None` when it is gone.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BusError> {
        self.con.clone().get(key).await.map_err(backend)
    }

    /// Keeps `key` for another retention period (its message was sent again).
    pub async fn renew(&self, key: &str) -> Result<(), BusError> {
        let _: bool = self
            .con
            .clone()
            .expire(key, RETENTION.as_secs() as i64)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// A round trip to Redis.
    pub async fn ping(&self) -> Result<(), BusError> {
        let _: String = redis::cmd("PING")
            .query_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), BusError> {
        let _: i64 = self.con.clone().del(key).await.map_err(backend)?;
        Ok(())
    }
}
