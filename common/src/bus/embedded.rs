//! The in-process `Bus`, used when no broker is configured: the single-binary deployment
//! must not lose accepted events or send jobs when the process restarts, so each queue is
//! kept in a redb file (`<dir>/queue.redb`), while delivery to consumers and
//! request/reply between roles happen in memory.
//!
//! Layout of the file: per queue a table `queue.<name>` (sequence number → message) holding
//! every accepted, not yet acked message, and a table `dead.<name>` holding dead letters in
//! the order they died. Which messages are ready, in flight or waiting for a retry is kept
//! only in memory; on open every stored message is ready again, which is what
//! at-least-once asks for after a crash.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use super::{
    Acker, Bus, BusError, Consumer, Delivery, Message, QueueName, Replier, Request,
    RequestServer, RetryOutcome, RetryPolicy,
};

/// Requests waiting for one node; bounded so a stuck server pushes back on requesters
/// (who give up at their deadline) instead of growing memory.
const REQUEST_BACKLOG: usize = 256;

const QUEUES: [QueueName; 2] = [QueueName::Events, QueueName::Submit];

fn queue_table(q: QueueName) -> TableDefinition<'static, u64, &'static [u8]> {
    match q {
        QueueName::Events => TableDefinition::new("queue.events"),
        QueueName::Submit => TableDefinition::new("queue.submit"),
    }
}

fn dead_table(q: QueueName) -> TableDefinition<'static, u64, &'static [u8]> {
    match q {
        QueueName::Events => TableDefinition::new("dead.events"),
        QueueName::Submit => TableDefinition::new("dead.submit"),
    }
}

fn index(q: QueueName) -> usize {
    match q {
        QueueName::Events => 0,
        QueueName::Submit => 1,
    }
}

fn backend(e: impl std::fmt::Display) -> BusError {
    BusError::Backend(e.to_string())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short critical sections leaves the data
    // consistent (single inserts/removes), so poisoning is not worth propagating.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stored form: id (16) | attempt (u32 LE) | key length (u32 LE) | key | body.
fn encode(m: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + m.key.len() + m.body.len());
    out.extend_from_slice(m.id.as_bytes());
    out.extend_from_slice(&m.attempt.to_le_bytes());
    out.extend_from_slice(&(m.key.len() as u32).to_le_bytes());
    out.extend_from_slice(m.key.as_bytes());
    out.extend_from_slice(&m.body);
    out
}

fn decode(b: &[u8]) -> Result<Message, BusError> {
    let bad = || BusError::Backend("corrupt message record in queue.redb".into());
    if b.len() < 24 {
        return Err(bad());
    }
    let id = Uuid::from_slice(&b[..16]).map_err(|_| bad())?;
    let attempt = u32::from_le_bytes(b[16..20].try_into().map_err(|_| bad())?);
    let klen = u32::from_le_bytes(b[20..24].try_into().map_err(|_| bad())?) as usize;
    let key = b.get(24..24 + klen).ok_or_else(bad)?;
    let key = String::from_utf8(key.to_vec()).map_err(|_| bad())?;
    Ok(Message {
        id,
        key,
        attempt,
        body: b[24 + klen..].to_vec(),
    })
}

/// Runs a blocking redb operation off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BusError> + Send + 'static,
) -> Result<T, BusError> {
    tokio::task::spawn_blocking(f).await.map_err(backend)?
}

struct QueueState {
    /// Sequence numbers of stored messages that may be delivered now, lowest first, so
    /// a single consumer sees publish order.
    ready: Mutex<BTreeSet<u64>>,
    /// Woken whenever a message becomes ready or a delivery is settled (which may free
    /// prefetch room).
    notify: Notify,
}

type Incoming = (Vec<u8>, oneshot::Sender<Vec<u8>>);

struct Inner {
    db: Arc<Database>,
    retry: RetryPolicy,
    next_seq: AtomicU64,
    queues: [QueueState; 2],
    nodes: Mutex<HashMap<String, mpsc::Sender<Incoming>>>,
}

impl Inner {
    fn queue(&self, q: QueueName) -> &QueueState {
        &self.queues[index(q)]
    }

    fn make_ready(&self, q: QueueName, seq: u64) {
        let state = self.queue(q);
        lock(&state.ready).insert(seq);
        state.notify.notify_waiters();
    }
}

/// The in-process bus. Cheap to clone; all clones share the same queues.
#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

impl EmbeddedBus {
    /// Opens (or creates) the queues stored in `dir/queue.redb`. Messages left in flight
    /// or waiting for a retry by a previous run are ready for delivery at once.
    pub async fn open(dir: &Path, retry: RetryPolicy) -> Result<EmbeddedBus, BusError> {
        let path: PathBuf = dir.join("queue.redb");
        let dir = dir.to_path_buf();
        let (db, ready, max_seq) = blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| backend(format!("{}: {e}", dir.display())))?;
            let db = Database::create(&path).map_err(|e| backend(format!("{}: {e}", path.display())))?;
            let txn = db.begin_write().map_err(backend)?;
            let mut ready: [BTreeSet<u64>; 2] = Default::default();
            let mut max_seq = 0u64;
            for q in QUEUES {
                let table = txn.open_table(queue_table(q)).map_err(backend)?;
                for entry in table.iter().map_err(backend)? {
                    let (k, _) = entry.map_err(backend)?;
                    ready[index(q)].insert(k.value());
                    max_seq = max_seq.max(k.value());
                }
                let dead = txn.open_table(dead_table(q)).map_err(backend)?;
                if let Some((k, _)) = dead.last().map_err(backend)? {
                    max_seq = max_seq.max(k.value());
                }
            }
            txn.commit().map_err(backend)?;
            Ok((db, ready, max_seq))
        })
        .await?;
        let [events, submit] = ready;
        let state = |ready| QueueState {
            ready: Mutex::new(ready),
            notify: Notify::new(),
        };
        Ok(EmbeddedBus {
            inner: Arc::new(Inner {
                db: Arc::new(db),
                retry,
                next_seq: AtomicU64::new(max_seq + 1),
                queues: [state(events), state(submit)],
                nodes: Mutex::new(HashMap::new()),
            }),
        })
    }
}

#[async_trait]
impl Bus for EmbeddedBus {
    async fn publish(&self, queue: QueueName, message: Message) -> Result<(), BusError> {
        let seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
        let record = encode(&message);
        let db = self.inner.db.clone();
        blocking(move || {
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut table = txn.open_table(queue_table(queue)).map_err(backend)?;
                table.insert(seq, record.as_slice()).map_err(backend)?;
            }
            txn.commit().map_err(backend)
        })
        .await?;
        self.inner.make_ready(queue, seq);
        Ok(())
    }

    async fn consume(
        &self,
        queue: QueueName,
        prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(EmbeddedConsumer {
            inner: self.inner.clone(),
            queue,
            prefetch: usize::from(prefetch.max(1)),
            unsettled: Arc::new(AtomicUsize::new(0)),
        }))
    }

    async fn dead_letters(&self, queue: QueueName, limit: usize) -> Result<Vec<Message>, BusError> {
        let db = self.inner.db.clone();
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

    async fn request(
        &self,
        node: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let sender = lock(&self.inner.nodes)
            .get(node)
            .filter(|s| !s.is_closed())
            .cloned()
            .ok_or_else(|| BusError::NoRoute(node.to_string()))?;
        let (tx, rx) = oneshot::channel();
        let exchange = async {
            sender
                .send((body, tx))
                .await
                .map_err(|_| BusError::NoRoute(node.to_string()))?;
            // The server dropping the request unanswered is, to the caller, the same as
            // no answer in time.
            rx.await.map_err(|_| BusError::Timeout)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| BusError::Timeout)?
    }

    async fn serve(&self, node: &str) -> Result<Box<dyn RequestServer>, BusError> {
        let mut nodes = lock(&self.inner.nodes);
        if nodes.get(node).is_some_and(|s| !s.is_closed()) {
            return Err(BusError::Backend(format!("node {node} is already served")));
        }
        let (tx, rx) = mpsc::channel(REQUEST_BACKLOG);
        nodes.insert(node.to_string(), tx.clone());
        Ok(Box::new(EmbeddedServer {
            inner: Arc::downgrade(&self.inner),
            node: node.to_string(),
            own: tx,
            rx,
        }))
    }
}

struct EmbeddedConsumer {
    inner: Arc<Inner>,
    queue: QueueName,
    prefetch: usize,
    /// Shared with this consumer's ackers, which give the room back when they settle.
    unsettled: Arc<AtomicUsize>,
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
        let db = self.inner.db.clone();
        let (queue, seq) = (self.queue, self.seq);
        blocking(move || {
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(queue_table(queue))
                .map_err(backend)?
                .remove(seq)
                .map_err(backend)?;
            txn.commit().map_err(backend)
        })
        .await?;
        self.settle();
        Ok(())
    }

    async fn retry(mut self: Box<Self>) -> Result<RetryOutcome, BusError> {
        let db = self.inner.db.clone();
        let (queue, seq, policy) = (self.queue, self.seq, self.inner.retry);
        let dead_seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
        let outcome = blocking(move || {
            let txn = db.begin_write().map_err(backend)?;
            let outcome = {
                let mut table = txn.open_table(queue_table(queue)).map_err(backend)?;
                let Some(mut message) = table
                    .get(seq)
                    .map_err(backend)?
                    .map(|v| decode(v.value()))
                    .transpose()?
                else {
                    return Err(BusError::Backend("message vanished from its queue".into()));
                };
                let failed = message.attempt;
                message.attempt = failed.saturating_add(1);
                let record = encode(&message);
                if message.attempt >= policy.max_attempts {
                    table.remove(seq).map_err(backend)?;
                    txn.open_table(dead_table(queue))
                        .map_err(backend)?
                        .insert(dead_seq, record.as_slice())
                        .map_err(backend)?;
                    RetryOutcome::DeadLettered
                } else {
                    table.insert(seq, record.as_slice()).map_err(backend)?;
                    RetryOutcome::Scheduled(policy.delay(failed))
                }
            };
            txn.commit().map_err(backend)?;
            Ok(outcome)
        })
        .await?;
        self.settle();
        if let RetryOutcome::Scheduled(delay) = outcome {
            // Weak, so a pending retry does not keep a closed bus (and its file) open; the
            // stored attempt makes it ready again on the next open.
            let inner = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Some(inner) = inner.upgrade() {
                    inner.make_ready(queue, seq);
                }
            });
        }
        Ok(outcome)
    }
}

struct EmbeddedServer {
    inner: Weak<Inner>,
    node: String,
    /// Our own sender, to tell our registration from a later server's for the same node.
    own: mpsc::Sender<Incoming>,
    rx: mpsc::Receiver<Incoming>,
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            let mut nodes = lock(&inner.nodes);
            if nodes.get(&self.node).is_some_and(|s| s.same_channel(&self.own)) {
                nodes.remove(&self.node);
            }
        }
    }
}

#[async_trait]
impl RequestServer for EmbeddedServer {
    async fn next(&mut self) -> Result<Request, BusError> {
        // Our own sender keeps the channel open, so `None` cannot happen while we exist.
        let (body, reply) = self.rx.recv().await.ok_or(BusError::Closed)?;
        Ok(Request {
            body,
            replier: Box::new(EmbeddedReplier(reply)),
        })
    }
}

struct EmbeddedReplier(oneshot::Sender<Vec<u8>>);

#[async_trait]
impl Replier for EmbeddedReplier {
    async fn reply(self: Box<Self>, body: Vec<u8>) -> Result<(), BusError> {
        // A requester that already gave up is not the server's failure.
        let _ = self.0.send(body);
        Ok(())
    }
}
