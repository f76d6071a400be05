//! Every change to the stored queues goes through one writer thread, so that concurrent
//! publishers and ackers share one commit (and one sync of the file) instead of each
//! paying for their own, while every call still returns only once its change is durable.

use std::sync::Weak;
use std::time::SystemTime;

use redb::{Database, ReadableTable};
use tokio::sync::{mpsc, oneshot};

use super::record::{backend, dead_table, decode, delay_table, encode, queue_table};
use crate::bus::unix_ms;
use crate::bus::{BusError, QueueName, RetryOutcome, RetryPolicy};

/// Write transactions the writer may fold into one commit. Each commit syncs the file, so
/// under concurrent publishers and ackers this, not the disk, sets the throughput.
const WRITE_BATCH: usize = 256;
/// Writes waiting for the writer; when full, publishers wait (backpressure).
pub(super) const WRITE_BACKLOG: usize = 1024;

/// One message to store.
pub(super) struct Entry {
    pub seq: u64,
    pub record: Vec<u8>,
    /// Unix ms before which it is not delivered.
    pub due: Option<u64>,
}

/// A change to the stored queues.
pub(super) enum Op {
    /// Store messages (one, or a publisher's whole batch) in the same transaction.
    Publish {
        queue: QueueName,
        entries: Vec<Entry>,
    },
    Ack {
        queue: QueueName,
        seq: u64,
    },
    /// Count a failed delivery: store the next attempt and when it is due, or move to the
    /// dead letters when attempts ran out (or at once with `bury`).
    Retry {
        queue: QueueName,
        seq: u64,
        dead_seq: u64,
        policy: RetryPolicy,
        bury: bool,
    },
}

/// What a retry did: dead-lettered, or scheduled after a delay (due at unix ms).
pub(super) type OpResult = Result<Option<(RetryOutcome, u64)>, BusError>;
pub(super) type Job = (Op, oneshot::Sender<OpResult>);

/// Applies one op inside the batch's transaction. `Err` means the transaction is broken
/// and the whole batch fails; `Ok(Err(..))` fails only this op, which changed nothing.
fn apply(txn: &redb::WriteTransaction, op: &Op) -> Result<OpResult, BusError> {
    match *op {
        Op::Publish { queue, ref entries } => {
            let mut table = txn.open_table(queue_table(queue)).map_err(backend)?;
            let mut delays = txn.open_table(delay_table(queue)).map_err(backend)?;
            for entry in entries {
                table
                    .insert(entry.seq, entry.record.as_slice())
                    .map_err(backend)?;
                if let Some(due) = entry.due {
                    delays.insert(entry.seq, due).map_err(backend)?;
                }
            }
            Ok(Ok(None))
        }
        Op::Ack { queue, seq } => {
            let mut table = txn.open_table(queue_table(queue)).map_err(backend)?;
            table.remove(seq).map_err(backend)?;
            let mut delays = txn.open_table(delay_table(queue)).map_err(backend)?;
            delays.remove(seq).map_err(backend)?;
            Ok(Ok(None))
        }
        Op::Retry {
            queue,
            seq,
            dead_seq,
            policy,
            bury,
        } => {
            let mut table = txn.open_table(queue_table(queue)).map_err(backend)?;
            let stored = table.get(seq).map_err(backend)?.map(|v| decode(v.value()));
            let mut message = match stored {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Ok(Err(e)),
                None => {
                    return Ok(Err(BusError::Backend(
                        "message vanished from its queue".into(),
                    )));
                }
            };
            let failed = message.attempt;
            message.attempt = failed.saturating_add(1);
            let record = encode(&message);
            let mut delays = txn.open_table(delay_table(queue)).map_err(backend)?;
            if bury || message.attempt >= policy.max_attempts {
                table.remove(seq).map_err(backend)?;
                delays.remove(seq).map_err(backend)?;
                txn.open_table(dead_table(queue))
                    .map_err(backend)?
                    .insert(dead_seq, record.as_slice())
                    .map_err(backend)?;
                Ok(Ok(Some((RetryOutcome::DeadLettered, 0))))
            } else {
                let delay = policy.next_delay(failed);
                let due = unix_ms(SystemTime::now() + delay);
                table.insert(seq, record.as_slice()).map_err(backend)?;
                delays.insert(seq, due).map_err(backend)?;
                Ok(Ok(Some((RetryOutcome::Scheduled(delay), due))))
            }
        }
    }
}

/// The single writer (group commit): takes every write waiting, applies them in one
/// transaction and answers each after the commit. Holds the database only weakly between
/// batches, so closing the bus closes the file.
pub(super) fn writer(db: Weak<Database>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let Some(db) = db.upgrade() else { return };
        let outcome = (|| {
            let txn = db.begin_write().map_err(backend)?;
            let results = batch
                .iter()
                .map(|(op, _)| apply(&txn, op))
                .collect::<Result<Vec<_>, _>>()?;
            txn.commit().map_err(backend)?;
            Ok::<_, BusError>(results)
        })();
        drop(db);
        match outcome {
            Ok(results) => {
                for ((_, done), result) in batch.into_iter().zip(results) {
                    let _ = done.send(result);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for (_, done) in batch {
                    let _ = done.send(Err(BusError::Backend(msg.clone())));
                }
            }
        }
    }
}
