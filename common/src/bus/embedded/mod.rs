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
//! durable, but concurrent publishers and ackers share the cost of the sync. A published
//! batch is one job, so it is always stored whole, in one transaction.
//!
//! One file per job: `record.rs` (table names, the stored form of a message, small
//! helpers), `writer.rs` (the group-commit writer and the changes it applies),
//! `queue_state.rs` (ready and waiting messages in memory, the delay scheduler),
//! `consume.rs` (consumers, settling, dead letters), `dead_letters.rs` (redriving and
//! dropping dead letters), `depth.rs` (queue depth), `request.rs` (request/reply),
//! `notices.rs` (notices to every listener).

mod consume;
mod dead_letters;
mod depth;
mod notices;
mod queue_state;
mod record;
mod request;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redb::{Database, ReadableTable};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

use self::consume::EmbeddedConsumer;
use self::queue_state::{QueueState, Ready, Waiting, scheduler};
use self::record::{backend, blocking, dead_table, delay_table, encode, index, queue_table};
use self::request::Incoming;
use self::writer::{Entry, Job, Op, OpResult, WRITE_BACKLOG, writer};
use super::{
    AccountNotices, BusError, Consumer, Message, NodeRequests, NoticeListener, QueueDepth,
    QueueName, RequestServer, RetryPolicies, WorkQueues,
};
use super::{lock, unix_ms};

const QUEUES: [QueueName; 2] = [QueueName::Events, QueueName::Submit];

struct Inner {
    /// For reads; writes go through `writes`.
    db: Arc<Database>,
    writes: mpsc::Sender<Job>,
    policies: RetryPolicies,
    next_seq: AtomicU64,
    queues: [Arc<QueueState>; 2],
    nodes: Mutex<HashMap<String, mpsc::Sender<Incoming>>>,
    notices: broadcast::Sender<()>,
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

    /// Hand just-stored messages, (sequence number, due unix ms), to consumers: ready at
    /// once, or waiting for their time. One lock of each set for the whole batch (never both
    /// at once: the scheduler takes them the other way round).
    fn release(&self, q: QueueName, stored: &[(u64, Option<u64>)]) {
        let state = self.queue(q);
        let mut ready = false;
        {
            let mut set = lock(&state.ready);
            for (seq, _) in stored.iter().filter(|(_, due)| due.is_none()) {
                ready |= set.insert(*seq);
            }
        }
        if ready {
            state.notify.notify_waiters();
        }
        let mut waiting = false;
        {
            let mut set = lock(&state.waiting);
            for (seq, due) in stored {
                if let Some(due) = due {
                    waiting |= set.insert((*due, *seq));
                }
            }
        }
        if waiting {
            state.schedule.notify_one();
        }
    }

    fn make_ready(&self, q: QueueName, seq: u64) {
        self.release(q, &[(seq, None)]);
    }

    /// Deliver `seq` once `due` (unix ms) has come.
    fn make_waiting(&self, q: QueueName, seq: u64, due: u64) {
        self.release(q, &[(seq, Some(due))]);
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
                notices: notices::channel(),
            }),
        })
    }
}

#[async_trait]
impl WorkQueues for EmbeddedBus {
    async fn publish(&self, queue: QueueName, message: Message) -> Result<(), BusError> {
        self.publish_batch(queue, vec![message]).await
    }

    /// One writer job, so the whole batch lands in one transaction (and one commit).
    async fn publish_batch(
        &self,
        queue: QueueName,
        messages: Vec<Message>,
    ) -> Result<(), BusError> {
        if messages.is_empty() {
            return Ok(());
        }
        let first = self
            .inner
            .next_seq
            .fetch_add(messages.len() as u64, Ordering::Relaxed);
        let now = SystemTime::now();
        let entries: Vec<Entry> = messages
            .iter()
            .zip(first..)
            .map(|(message, seq)| Entry {
                seq,
                record: encode(message),
                due: (message.wait(now) > Duration::ZERO)
                    .then(|| message.not_before.map(unix_ms))
                    .flatten(),
            })
            .collect();
        let stored: Vec<(u64, Option<u64>)> = entries.iter().map(|e| (e.seq, e.due)).collect();
        self.inner.write(Op::Publish { queue, entries }).await?;
        self.inner.release(queue, &stored);
        Ok(())
    }

    async fn consume(
        &self,
        queue: QueueName,
        prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(EmbeddedConsumer::new(
            self.inner.clone(),
            queue,
            prefetch,
        )))
    }

    async fn dead_letters(&self, queue: QueueName, limit: usize) -> Result<Vec<Message>, BusError> {
        consume::dead_letters(&self.inner, queue, limit).await
    }

    async fn redrive_dead_letters(
        &self,
        queue: QueueName,
        ids: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<usize, BusError> {
        dead_letters::redrive(&self.inner, queue, ids, limit).await
    }

    async fn drop_dead_letters(
        &self,
        queue: QueueName,
        ids: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<usize, BusError> {
        dead_letters::delete(&self.inner, queue, ids, limit).await
    }

    async fn depth(&self, queue: QueueName) -> Result<QueueDepth, BusError> {
        depth::depth(&self.inner, queue).await
    }
}

#[async_trait]
impl NodeRequests for EmbeddedBus {
    async fn request(
        &self,
        node: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        request::request(&self.inner, node, body, timeout).await
    }

    async fn serve(&self, node: &str) -> Result<Box<dyn RequestServer>, BusError> {
        Ok(Box::new(request::serve(&self.inner, node)?))
    }
}

#[async_trait]
impl AccountNotices for EmbeddedBus {
    async fn announce_accounts_changed(&self) -> Result<(), BusError> {
        notices::announce(&self.inner.notices);
        Ok(())
    }

    async fn listen_accounts_changed(&self) -> Result<Box<dyn NoticeListener>, BusError> {
        Ok(Box::new(notices::EmbeddedListener(
            self.inner.notices.subscribe(),
        )))
    }
}
