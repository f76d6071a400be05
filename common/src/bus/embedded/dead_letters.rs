//! Redriving and dropping the dead letters of the in-process bus. Both are rare operator
//! actions, so they skip the group-commit writer and take a write transaction of their own
//! (redb runs write transactions one at a time, so one simply waits for the writer's batch
//! in progress). That makes a redrive atomic: a message enters its work queue and leaves
//! the dead letters in the same commit, so a crash leaves it in one place or the other.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redb::{ReadableTable, Table};
use uuid::Uuid;

use super::Inner;
use super::record::{backend, blocking, dead_table, decode, encode, queue_table};
use crate::bus::{BusError, Message, QueueName, all_found, dead_letter_batch, selected};

/// Moves the selected dead letters of `queue` (among the `limit` oldest) back to it with
/// their attempts reset; returns how many.
pub(super) async fn redrive(
    inner: &Arc<Inner>,
    queue: QueueName,
    ids: Option<&[Uuid]>,
    limit: usize,
) -> Result<usize, BusError> {
    let ids = ids.map(<[Uuid]>::to_vec);
    let limit = dead_letter_batch(limit);
    let shared = inner.clone();
    let seqs = blocking(move || {
        let txn = shared.db.begin_write().map_err(backend)?;
        let mut seqs = Vec::new();
        {
            let mut dead = txn.open_table(dead_table(queue)).map_err(backend)?;
            let mut live = txn.open_table(queue_table(queue)).map_err(backend)?;
            for (dead_seq, mut message) in pick(&dead, ids.as_deref(), limit)? {
                message.attempt = 0;
                message.not_before = None;
                let seq = shared.next_seq.fetch_add(1, Ordering::Relaxed);
                live.insert(seq, encode(&message).as_slice())
                    .map_err(backend)?;
                dead.remove(dead_seq).map_err(backend)?;
                seqs.push(seq);
            }
        }
        txn.commit().map_err(backend)?;
        Ok(seqs)
    })
    .await?;
    // Only now that they are durable may consumers see them.
    for &seq in &seqs {
        inner.make_ready(queue, seq);
    }
    Ok(seqs.len())
}

/// Deletes the selected dead letters of `queue` (among the `limit` oldest); returns how
/// many.
pub(super) async fn delete(
    inner: &Inner,
    queue: QueueName,
    ids: Option<&[Uuid]>,
    limit: usize,
) -> Result<usize, BusError> {
    let ids = ids.map(<[Uuid]>::to_vec);
    let limit = dead_letter_batch(limit);
    let db = inner.db.clone();
    blocking(move || {
        let txn = db.begin_write().map_err(backend)?;
        let dropped = {
            let mut dead = txn.open_table(dead_table(queue)).map_err(backend)?;
            let picked = pick(&dead, ids.as_deref(), limit)?;
            for (dead_seq, _) in &picked {
                dead.remove(*dead_seq).map_err(backend)?;
            }
            picked.len()
        };
        txn.commit().map_err(backend)?;
        Ok(dropped)
    })
    .await
}

/// The selected dead letters among the `limit` oldest, with their keys in the table.
fn pick(
    dead: &Table<u64, &'static [u8]>,
    ids: Option<&[Uuid]>,
    limit: usize,
) -> Result<Vec<(u64, Message)>, BusError> {
    let mut picked = Vec::new();
    if ids.is_some_and(<[Uuid]>::is_empty) {
        return Ok(picked);
    }
    for entry in dead.iter().map_err(backend)?.take(limit) {
        let (k, v) = entry.map_err(backend)?;
        let message = decode(v.value())?;
        if selected(ids, message.id) {
            picked.push((k.value(), message));
            if all_found(ids, picked.len()) {
                break;
            }
        }
    }
    Ok(picked)
}
