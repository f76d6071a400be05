//! Delivery is where the in-memory state, the file and the prefetch limit meet: a
//! delivery takes a ready message and prefetch room, and its acker must give both back
//! exactly once (settled through the writer, or handed back when dropped unsettled).
//! Also peeking at the dead letters.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};

use super::Inner;
use super::record::{backend, blocking, dead_table, decode, queue_table};
use super::writer::Op;
use crate::bus::lock;
use crate::bus::{Acker, BusError, Consumer, Delivery, Message, QueueName, RetryOutcome};

/// Up to `limit` dead letters of `queue`, oldest first.
pub(super) async fn dead_letters(
    inner: &Inner,
    queue: QueueName,
    limit: usize,
) -> Result<Vec<Message>, BusError> {
    let db = inner.db.clone();
    blocking(move || {
        let txn = db.begin_read().map_err(backend)?;
        let table = txn.open_table(dead_table(queue)).map_err(backend)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(backend)?.take(limit) {
            let (_, v) = entry.map_err(backend)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    })
    .await
}

pub(super) struct EmbeddedConsumer {
    inner: Arc<Inner>,
    queue: QueueName,
    prefetch: usize,
    /// Shared with this consumer's ackers, which give the room back when they settle.
    unsettled: Arc<AtomicUsize>,
}

impl EmbeddedConsumer {
    pub(super) fn new(inner: Arc<Inner>, queue: QueueName, prefetch: u16) -> EmbeddedConsumer {
        EmbeddedConsumer {
            inner,
            queue,
            prefetch: usize::from(prefetch.max(1)),
            unsettled: Arc::new(AtomicUsize::new(0)),
        }
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            let state = self.inner.queue(self.queue);
            // Registered before looking, so a wake-up between the look and the wait is
            // not lost.
            let notified = state.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let seq = if self.unsettled.load(Ordering::Acquire) < self.prefetch {
                lock(&state.ready).pop_first()
            } else {
                None
            };
            if let Some(seq) = seq {
                self.unsettled.fetch_add(1, Ordering::AcqRel);
                // Built before the read so that an error or a cancelled `next` hands the
                // message back through the acker's drop.
                let mut acker = EmbeddedAcker {
                    inner: self.inner.clone(),
                    queue: self.queue,
                    seq,
                    unsettled: self.unsettled.clone(),
                    settled: false,
                };
                let db = self.inner.db.clone();
                let queue = self.queue;
                let record = blocking(move || {
                    let txn = db.begin_read().map_err(backend)?;
                    let table = txn.open_table(queue_table(queue)).map_err(backend)?;
                    let value = table.get(seq).map_err(backend)?;
                    value.map(|v| decode(v.value())).transpose()
                })
                .await?;
                match record {
                    Some(message) => {
                        return Ok(Delivery {
                            message,
                            acker: Box::new(acker),
                        });
                    }
                    // Already acked by a delivery whose ack raced with its own drop;
                    // nothing to deliver.
                    None => {
                        acker.settle();
                        continue;
                    }
                }
            }
            notified.await;
        }
    }
}

struct EmbeddedAcker {
    inner: Arc<Inner>,
    queue: QueueName,
    seq: u64,
    unsettled: Arc<AtomicUsize>,
    settled: bool,
}

impl EmbeddedAcker {
    fn settle(&mut self) {
        self.settled = true;
        self.unsettled.fetch_sub(1, Ordering::AcqRel);
        self.inner.queue(self.queue).notify.notify_waiters();
    }
}

impl Drop for EmbeddedAcker {
    fn drop(&mut self) {
        if !self.settled {
            self.unsettled.fetch_sub(1, Ordering::AcqRel);
            self.inner.make_ready(self.queue, self.seq);
        }
    }
}

#[async_trait]
impl Acker for EmbeddedAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        let (queue, seq) = (self.queue, self.seq);
        self.inner.write(Op::Ack { queue, seq }).await?;
        self.settle();
        Ok(())
    }

    async fn retry(self: Box<Self>) -> Result<RetryOutcome, BusError> {
        self.settle_failed(false).await
    }

    async fn dead_letter(self: Box<Self>) -> Result<(), BusError> {
        self.settle_failed(true).await.map(|_| ())
    }
}

impl EmbeddedAcker {
    /// Count a failed delivery: schedule the next attempt, or (attempts exhausted, or
    /// `bury`) move the message to the dead letters.
    async fn settle_failed(mut self: Box<Self>, bury: bool) -> Result<RetryOutcome, BusError> {
        let (queue, seq) = (self.queue, self.seq);
        let policy = self.inner.policies.of(queue);
        let dead_seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
        let (outcome, due) = self
            .inner
            .write(Op::Retry {
                queue,
                seq,
                dead_seq,
                policy,
                bury,
            })
            .await?
            .ok_or_else(|| BusError::Backend("retry without an outcome".into()))?;
        // Settled without handing the message back: it waits for its time, or it is dead.
        self.settle();
        if let RetryOutcome::Scheduled(_) = outcome {
            self.inner.make_waiting(queue, seq, due);
        }
        Ok(outcome)
    }
}
