//! The in-process `Bus`, used when no broker is configured: the single-binary deployment
//! must not lose accepted events or send jobs when the process restarts, so each queue is
//! kept in a redb file (`<dir>/queue.redb`), while delivery to consumers and
//! request/reply between roles happen in memory.
//!
//! Layout of the file: per queue a table `queue.<name>` (sequence number → message) holding
//! every accepted, not yet acked message, a table `delay.<name>` (sequence number → unix
//! ms) for those that must not be delivered before a time (a scheduled send, a retry's
//! backoff), and a table `dead.<name>` holding dead letters in the order they died. Which
//! messages are ready or in flight is kept only in memory; on open every stored message is
//! ready again (or waits for its time), which is what at-least-once asks for after a crash.
//! One scheduler task per queue moves waiting messages to ready when they are due.
//!
//! Writes (publish, ack, retry) go through one writer that commits whatever is waiting in
//! a single transaction (group commit): each call still returns only after its change is
//! durable, but concurrent publishers and ackers share the cost of the sync.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use super::{
    Acker, Bus, BusError, Consumer, Delivery, Message, QueueName, Replier, Request, RequestServer,
    RetryOutcome, RetryPolicies, RetryPolicy,
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

fn delay_table(q: QueueName) -> TableDefinition<'static, u64, u64> {
    match q {
        QueueName::Events => TableDefinition::new("delay.events"),
        QueueName::Submit => TableDefinition::new("delay.submit"),
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
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
        // Kept in `delay.<name>`, and due by the time the message is delivered.
        not_before: None,
    })
}

/// Runs a blocking redb operation off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BusError> + Send + 'static,
) -> Result<T, BusError> {
    tokio::task::spawn_blocking(f).await.map_err(backend)?
}

/// Write transactions the writer may fold into one commit. Each commit syncs the file, so
/// under concurrent publishers and ackers this, not the disk, sets the throughput.
const WRITE_BATCH: usize = 256;
/// Writes waiting for the writer; when full, publishers wait (backpressure).
const WRITE_BACKLOG: usize = 1024;

/// A change to the stored queues.
enum Op {
    Publish {
        queue: QueueName,
        seq: u64,
        record: Vec<u8>,
        /// Unix ms before which it is not delivered.
        due: Option<u64>,
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
type OpResult = Result<Option<(RetryOutcome, u64)>, BusError>;
type Job = (Op, oneshot::Sender<OpResult>);

/// Applies one op inside the batch's transaction. `Err` means the transaction is broken
/// and the whole batch fails; `Ok(Err(..))` fails only this op, which changed nothing.
fn apply(txn: &redb::WriteTransaction, op: &Op) -> Result<OpResult, BusError> {
    match *op {
        Op::Publish {
            queue,
            seq,
            ref record,
            due,
        } => {
            let mut table = txn.open_table(queue_table(queue)).map_err(backend)?;
            table.insert(seq, record.as_slice()).map_err(backend)?;
            if let Some(due) = due {
                let mut delays = txn.open_table(delay_table(queue)).map_err(backend)?;
                delays.insert(seq, due).map_err(backend)?;
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
fn writer(db: Weak<Database>, mut rx: mpsc::Receiver<Job>) {
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

/// Sequence numbers deliverable now.
type Ready = BTreeSet<u64>;
/// (due unix ms, sequence number) of messages waiting for their time.
type Waiting = BTreeSet<(u64, u64)>;

struct QueueState {
    /// Sequence numbers of stored messages that may be delivered now, lowest first, so
    /// a single consumer sees publish order.
    ready: Mutex<Ready>,
    /// Woken whenever a message becomes ready or a delivery is settled (which may free
    /// prefetch room).
    notify: Notify,
    /// Stored messages not to be delivered before a time: (due unix ms, sequence number).
    waiting: Mutex<Waiting>,
    /// Woken when a message starts waiting, so the scheduler looks at the earliest again.
    schedule: Notify,
}

type Incoming = (Vec<u8>, oneshot::Sender<Vec<u8>>);

struct Inner {
    /// For reads; writes go through `writes`.
    db: Arc<Database>,
    writes: mpsc::Sender<Job>,
    policies: RetryPolicies,
    next_seq: AtomicU64,
    queues: [Arc<QueueState>; 2],
    nodes: Mutex<HashMap<String, mpsc::Sender<Incoming>>>,
}

impl Inner {
    fn queue(&self, q: QueueName) -> &QueueState {
        &self.queues[index(q)]
    }

    /// Hands `op` to the writer and waits until it is committed.
    async fn write(&self, op: Op) -> OpResult {
        let (done, result) = oneshot::channel();
        self.writes
            .send((op, done))
            .await
            .map_err(|_| BusError::Closed)?;
        result.await.map_err(|_| BusError::Closed)?
    }

    fn make_ready(&self, q: QueueName, seq: u64) {
        let state = self.queue(q);
        lock(&state.ready).insert(seq);
        state.notify.notify_waiters();
    }

    /// Deliver `seq` once `due` (unix ms) has come.
    fn make_waiting(&self, q: QueueName, seq: u64, due: u64) {
        let state = self.queue(q);
        lock(&state.waiting).insert((due, seq));
        state.schedule.notify_one();
    }
}

impl QueueState {
    fn new(ready: Ready, waiting: Waiting) -> QueueState {
        QueueState {
            ready: Mutex::new(ready),
            notify: Notify::new(),
            waiting: Mutex::new(waiting),
            schedule: Notify::new(),
        }
    }

    /// Move every waiting message that is due to ready; the wait until the next one.
    fn release_due(&self) -> Option<Duration> {
        let now = unix_ms(SystemTime::now());
        let mut next = None;
        let mut moved = false;
        {
            let mut waiting = lock(&self.waiting);
            while let Some(&(due, seq)) = waiting.first() {
                if due > now {
                    next = Some(Duration::from_millis(due - now));
                    break;
                }
                waiting.pop_first();
                lock(&self.ready).insert(seq);
                moved = true;
            }
        }
        if moved {
            self.notify.notify_waiters();
        }
        next
    }
}

/// Moves the waiting messages of one queue to ready as they come due. Holds the queue only
/// weakly between rounds, so it ends once the bus is gone (the queue state holds no file).
async fn scheduler(state: Weak<QueueState>) {
    /// Longest sleep without looking: also how soon this task notices the bus is gone.
    const IDLE: Duration = Duration::from_secs(5);
    loop {
        let Some(state) = state.upgrade() else { return };
        // Registered before looking, so a message that starts waiting meanwhile wakes us.
        let woken = state.schedule.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let wait = state.release_due().map_or(IDLE, |w| w.min(IDLE));
        let _ = tokio::time::timeout(wait, woken).await;
    }
}

/// The in-process bus. Cheap to clone; all clones share the same queues.
#[derive(Clone)]
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

impl EmbeddedBus {
    /// Opens (or creates) the queues stored in `dir/queue.redb`. Messages left in flight by
    /// a previous run are ready for delivery at once; those that must wait (a scheduled
    /// send, a retry's backoff) wait for their time.
    pub async fn open(
        dir: &Path,
        policies: impl Into<RetryPolicies>,
    ) -> Result<EmbeddedBus, BusError> {
        let path: PathBuf = dir.join("queue.redb");
        let dir = dir.to_path_buf();
        let (db, stored, max_seq) = blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| backend(format!("{}: {e}", dir.display())))?;
            let db =
                Database::create(&path).map_err(|e| backend(format!("{}: {e}", path.display())))?;
            let txn = db.begin_write().map_err(backend)?;
            let mut stored: [(Ready, Waiting); 2] = Default::default();
            let mut max_seq = 0u64;
            let now = unix_ms(SystemTime::now());
            for q in QUEUES {
                let table = txn.open_table(queue_table(q)).map_err(backend)?;
                let delays = txn.open_table(delay_table(q)).map_err(backend)?;
                let (ready, waiting) = &mut stored[index(q)];
                for entry in table.iter().map_err(backend)? {
                    let (k, _) = entry.map_err(backend)?;
                    let seq = k.value();
                    match delays.get(seq).map_err(backend)?.map(|v| v.value()) {
                        Some(due) if due > now => waiting.insert((due, seq)),
                        _ => ready.insert(seq),
                    };
                    max_seq = max_seq.max(seq);
                }
                let dead = txn.open_table(dead_table(q)).map_err(backend)?;
                if let Some((k, _)) = dead.last().map_err(backend)? {
                    max_seq = max_seq.max(k.value());
                }
            }
            txn.commit().map_err(backend)?;
            Ok((db, stored, max_seq))
        })
        .await?;
        let [events, submit] = stored;
        let queues = [
            Arc::new(QueueState::new(events.0, events.1)),
            Arc::new(QueueState::new(submit.0, submit.1)),
        ];
        for state in &queues {
            tokio::spawn(scheduler(Arc::downgrade(state)));
        }
        let db = Arc::new(db);
        let (writes, jobs) = mpsc::channel(WRITE_BACKLOG);
        let weak = Arc::downgrade(&db);
        tokio::task::spawn_blocking(move || writer(weak, jobs));
        Ok(EmbeddedBus {
            inner: Arc::new(Inner {
                db,
                writes,
                policies: policies.into(),
                next_seq: AtomicU64::new(max_seq + 1),
                queues,
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
        let due = (message.wait(SystemTime::now()) > Duration::ZERO)
            .then(|| message.not_before.map(unix_ms))
            .flatten();
        self.inner
            .write(Op::Publish {
                queue,
                seq,
                record,
                due,
            })
            .await?;
        match due {
            Some(due) => self.inner.make_waiting(queue, seq, due),
            None => self.inner.make_ready(queue, seq),
        }
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
            if nodes
                .get(&self.node)
                .is_some_and(|s| s.same_channel(&self.own))
            {
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
