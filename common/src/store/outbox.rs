//! The outbox: queued sends and their MIME, between the api that accepts them and the
//! submit worker that sends them. Its own trait because only those two use it; the queue
//! message carries just the job's id, so a message far larger than a queue message fits,
//! and the state kept here is what makes a send happen once: the worker moves an entry
//! from `queued` to `sending` to `sent` with compare-and-set updates, and never sends an
//! entry that is already `sent`.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use crate::model::{OutboxEntry, OutboxState};

/// Queued sends and their MIME.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Store a new entry with its MIME message.
    async fn put_outbox(&self, entry: &OutboxEntry, mime: &[u8]) -> Result<(), StoreError>;
    async fn get_outbox(&self, queue_id: &str) -> Result<Option<OutboxEntry>, StoreError>;
    /// The MIME message of an entry.
    async fn outbox_mime(&self, queue_id: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every entry, oldest first.
    async fn list_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Replace the entry if its current state is one of `expected`, in one atomic step.
    /// False when it is in another state, or gone.
    async fn update_outbox(
        &self,
        entry: &OutboxEntry,
        expected: &[OutboxState],
    ) -> Result<bool, StoreError>;
    /// Remove the entry and its MIME (nothing when it is gone).
    async fn delete_outbox(&self, queue_id: &str) -> Result<(), StoreError>;
    /// Remember `value` under the idempotency `key` for `ttl`, unless a live value is
    /// already there: then that value, and nothing changes. One atomic step, so of two
    /// requests with one key exactly one gets `None`.
    async fn claim_idempotency(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError>;
    /// Forget an idempotency key (its request failed after claiming it).
    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError>;
}
