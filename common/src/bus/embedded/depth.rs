//! Queue depth of the in-process bus, for monitoring. The file knows how many messages are
//! stored and dead, memory knows which stored ones are ready or waiting; whatever is stored
//! and in neither has been handed to a consumer and not settled, so in flight needs no
//! bookkeeping of its own.

use redb::{ReadableDatabase, ReadableTableMetadata};

use super::Inner;
use super::record::{backend, blocking, dead_table, queue_table};
use crate::bus::{BusError, QueueDepth, QueueName, lock};

/// How many messages of `queue` are ready (or waiting for their time), in flight and dead.
/// A message being moved (published, retried, redriven) shows as in flight for the moment
/// between its commit and its entry in memory.
pub(super) async fn depth(inner: &Inner, queue: QueueName) -> Result<QueueDepth, BusError> {
    let db = inner.db.clone();
    let (stored, dead) = blocking(move || {
        let txn = db.begin_read().map_err(backend)?;
        let live = txn.open_table(queue_table(queue)).map_err(backend)?;
        let dead = txn.open_table(dead_table(queue)).map_err(backend)?;
        Ok((live.len().map_err(backend)?, dead.len().map_err(backend)?))
    })
    .await?;
    let state = inner.queue(queue);
    let ready = lock(&state.ready).len() as u64 + lock(&state.waiting).len() as u64;
    Ok(QueueDepth {
        ready,
        in_flight: Some(stored.saturating_sub(ready)),
        dead_letters: dead,
    })
}
