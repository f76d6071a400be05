//! The `Bus`: durable work queues (events, submit jobs) with at-least-once delivery,
//! delayed delivery (`Message::not_before`), retries with exponential backoff per queue, and
//! a dead-letter queue (reached when attempts run out, or at once for a permanent
//! failure); request/reply commands to a named ingest node; and notices broadcast to every
//! ingest process (`notices.rs`). Every role talks to this trait only; the backend
//! (in-process, RabbitMQ, or SQS with Redis) is chosen by config.

pub mod embedded;
mod notices;
pub mod pubsub;
pub mod rabbitmq;
pub mod sqs;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use uuid::Uuid;

use crate::config::Config;

pub use self::notices::{AccountNotices, NoticeListener};

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus backend error: {0}")]
    Backend(String),
    /// No reply within the deadline.
    #[error("request timed out")]
    Timeout,
    /// Nobody serves requests for that node.
    #[error("no route to node {0}")]
    NoRoute(String),
    #[error("bus is closed")]
    Closed,
}

/// A durable work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    /// Change events, consumed by dispatch (webhooks) and by users' own consumers.
    Events,
    /// Send jobs, consumed by submit.
    Submit,
}

impl QueueName {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Events => "events",
            QueueName::Submit => "submit",
        }
    }
}

/// A message on a work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique per message; kept across redeliveries so consumers can drop duplicates.
    pub id: Uuid,
    /// Routing key (events: `<account>.<event>`).
    pub key: String,
    /// Failed deliveries so far (0 on first delivery).
    pub attempt: u32,
    pub body: Vec<u8>,
    /// Not delivered before this time (a scheduled send, or a retry's backoff); `None`
    /// for at once. Backends keep it across restarts, and deliver at most a
    /// [`DELAY_TOLERANCE`] early.
    pub not_before: Option<SystemTime>,
}

/// The most dead letters one redrive or drop looks at: brokers hand dead letters out one
/// by one (or ten by ten) and hold them until the call ends, so a call must stay short.
pub const MAX_DEAD_LETTER_BATCH: usize = 1000;

/// Whether a dead letter is one a redrive or drop asked for: all of them, or one of `ids`.
pub(crate) fn selected(ids: Option<&[Uuid]>, id: Uuid) -> bool {
    ids.is_none_or(|ids| ids.contains(&id))
}

/// Whether every one of `ids` has been found (`hits` of them), so a scan may stop early;
/// never for "all".
pub(crate) fn all_found(ids: Option<&[Uuid]>, hits: usize) -> bool {
    ids.is_some_and(|ids| hits >= ids.len())
}

/// How many dead letters a call may look at: `limit`, at most [`MAX_DEAD_LETTER_BATCH`].
pub(crate) fn dead_letter_batch(limit: usize) -> usize {
    limit.min(MAX_DEAD_LETTER_BATCH)
}

/// How early a delayed message may be delivered: backends schedule in steps, and a wait
/// shorter than this is not worth one more step.
pub const DELAY_TOLERANCE: Duration = Duration::from_millis(100);

impl Message {
    pub fn new(key: impl Into<String>, body: Vec<u8>) -> Self {
        Message {
            id: Uuid::now_v7(),
            key: key.into(),
            attempt: 0,
            body,
            not_before: None,
        }
    }

    /// The same message, not delivered before `at`.
    pub fn not_before(mut self, at: SystemTime) -> Self {
        self.not_before = Some(at);
        self
    }

    /// How long until it may be delivered (zero when it may be now).
    pub fn wait(&self, now: SystemTime) -> Duration {
        self.not_before
            .and_then(|at| at.duration_since(now).ok())
            .unwrap_or_default()
    }
}

/// How failed deliveries are retried: delivery `n` (0-based) that fails is retried after
/// `base_delay * 2^n`, at most `max_delay`; after `max_attempts` failed deliveries the
/// message is dead-lettered.
/// With `jitter`, each delay is drawn from its upper half instead (`d/2 ..= d`), so that
/// jobs that failed together (a mail server down for a minute) do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// The longest single delay: past it the schedule goes on at this pace.
    pub max_delay: Duration,
    pub jitter: bool,
}

impl RetryPolicy {
    /// The longest delay before redelivering a message that has failed `attempt + 1`
    /// times (the delay itself without jitter).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max_delay)
    }

    /// The time from the first failure to the last attempt, without jitter (with it,
    /// between half of this and this).
    pub fn span(&self) -> Duration {
        (0..self.max_attempts.saturating_sub(1))
            .map(|a| self.delay(a))
            .fold(Duration::ZERO, Duration::saturating_add)
    }

    /// The delay to wait before redelivering a message that has failed `attempt + 1`
    /// times: [`RetryPolicy::delay`], or with `jitter` a random one of its upper half.
    pub fn next_delay(&self, attempt: u32) -> Duration {
        let full = self.delay(attempt);
        if !self.jitter {
            return full;
        }
        let half = full / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::MAX,
            jitter: false,
        }
    }
}

/// The retry policy of each queue: events and send jobs fail for different reasons and
/// deserve different patience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicies {
    pub events: RetryPolicy,
    pub submit: RetryPolicy,
}

impl RetryPolicies {
    /// The policy of `queue`.
    pub fn of(&self, queue: QueueName) -> RetryPolicy {
        match queue {
            QueueName::Events => self.events,
            QueueName::Submit => self.submit,
        }
    }
}

impl From<RetryPolicy> for RetryPolicies {
    /// The same policy on every queue.
    fn from(policy: RetryPolicy) -> Self {
        RetryPolicies {
            events: policy,
            submit: policy,
        }
    }
}

/// How many messages one work queue holds, by where they are, for monitoring (queue depth
/// in `GET /metrics` and `GET /v1/stats`). Read without touching a message; brokers count
/// asynchronously, so treat it as a gauge, not a ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Waiting for a consumer: deliverable now, or held until their time (a retry's
    /// backoff, a scheduled send). Embedded: exact. RabbitMQ: the work queue's ready
    /// messages plus those on its delay ladder, exact at the broker. SQS: approximate
    /// (visible plus delayed), as SQS itself counts.
    pub ready: u64,
    /// Delivered to a consumer and not settled yet (acked, retried or dead-lettered).
    /// Embedded: exact, but for a message moving (published, retried) at that instant, which
    /// may count here. SQS: approximate (not visible: received and not deleted, including
    /// what a consumer has taken ahead of its `next`). RabbitMQ: `None`, since AMQP
    /// reports only ready messages (the management plugin's HTTP API would tell, at the
    /// cost of another port and credentials).
    pub in_flight: Option<u64>,
    /// In the queue's dead letters. Embedded and RabbitMQ: exact; SQS: approximate,
    /// counting those a listing or redrive holds hidden for a moment too.
    pub dead_letters: u64,
}

/// What became of a message whose delivery failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Will be delivered again after this delay.
    Scheduled(Duration),
    /// Attempts ran out: moved to the dead-letter queue.
    DeadLettered,
}

/// Settles one delivery. Dropping it unsettled returns the message to the queue (as a
/// consumer dying does).
#[async_trait]
pub trait Acker: Send {
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    async fn retry(self: Box<Self>) -> Result<RetryOutcome, BusError>;
    /// Move the message to the dead-letter queue now, whatever attempts are left (a
    /// failure that no retry can fix). Counts as one more failed delivery.
    async fn dead_letter(self: Box<Self>) -> Result<(), BusError>;
}

/// One delivered message, to be acked after the work is done, or retried.
pub struct Delivery {
    pub message: Message,
    pub acker: Box<dyn Acker>,
}

impl Delivery {
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }
    pub async fn retry(self) -> Result<RetryOutcome, BusError> {
        self.acker.retry().await
    }
    pub async fn dead_letter(self) -> Result<(), BusError> {
        self.acker.dead_letter().await
    }
}

/// A consumer of one work queue. Holds at most its prefetch count of unsettled deliveries.
#[async_trait]
pub trait Consumer: Send {
    /// The next delivery; waits until one is there.
    async fn next(&mut self) -> Result<Delivery, BusError>;
}

/// Sends the reply to one request.
#[async_trait]
pub trait Replier: Send {
    async fn reply(self: Box<Self>, body: Vec<u8>) -> Result<(), BusError>;
}

/// One incoming request for a node.
pub struct Request {
    pub body: Vec<u8>,
    pub replier: Box<dyn Replier>,
}

/// The stream of requests addressed to one node.
#[async_trait]
pub trait RequestServer: Send {
    async fn next(&mut self) -> Result<Request, BusError>;
}

/// Durable work queues: events and send jobs, delivered at least once, retried, delayed,
/// dead-lettered.
#[async_trait]
pub trait WorkQueues: Send + Sync + 'static {
    /// Durably enqueue a message; returns once the backend has accepted it. A message with
    /// `not_before` in the future is held until then.
    async fn publish(&self, queue: QueueName, message: Message) -> Result<(), BusError>;
    /// Durably enqueue `messages` at the cost of far fewer round trips than one
    /// [`WorkQueues::publish`] each (embedded: one transaction; RabbitMQ: every publish
    /// sent, then the broker's confirms awaited together; SQS: `SendMessageBatch`, ten per
    /// call). Returns once the backend has accepted every one; an error means some may have
    /// been accepted and others not, so the caller publishes the batch again (consumers
    /// drop the duplicates by id). A single consumer sees them in this order where the
    /// backend keeps order (embedded, RabbitMQ; not SQS standard queues).
    async fn publish_batch(&self, queue: QueueName, messages: Vec<Message>)
    -> Result<(), BusError>;
    /// Start consuming a queue with at most `prefetch` unsettled deliveries.
    async fn consume(&self, queue: QueueName, prefetch: u16)
    -> Result<Box<dyn Consumer>, BusError>;
    /// Up to `limit` dead-lettered messages of a queue, oldest first, without removing them.
    async fn dead_letters(&self, queue: QueueName, limit: usize) -> Result<Vec<Message>, BusError>;
    /// Moves dead letters of `queue` back onto `queue` to be delivered again: every one
    /// (`ids` = `None`) or those whose id is in `ids`; returns how many were moved. For when
    /// what made them fail is fixed (a webhook receiver back up), so an operator need not
    /// publish them again by hand. Each moved message keeps its id, key and body, and starts
    /// its retry schedule again (`attempt` 0, no `not_before`).
    ///
    /// One call looks at no more than `limit` (at most [`MAX_DEAD_LETTER_BATCH`]) dead
    /// letters, the oldest first (SQS: in no order), so its work is bounded; call again
    /// while it moves some. Per message it publishes to the live queue first, and only once
    /// that is confirmed removes the dead letter: a crash in between leaves the message in
    /// both places (delivered again, and still listed), never in neither, which is the
    /// at-least-once the queues promise anyway. The embedded bus does both steps in one
    /// transaction, so there the move is atomic.
    async fn redrive_dead_letters(
        &self,
        queue: QueueName,
        ids: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<usize, BusError>;
    /// Deletes dead letters of `queue` for good: every one (`ids` = `None`) or those whose
    /// id is in `ids`; returns how many were deleted. For events nobody will want again,
    /// so the listing shows what still needs a decision. Looks at no more than `limit`
    /// (at most [`MAX_DEAD_LETTER_BATCH`]) dead letters per call, as
    /// [`WorkQueues::redrive_dead_letters`] does. Each deletion is atomic on its own
    /// (embedded: all of one call in one transaction); a failure part way leaves the rest
    /// in place.
    async fn drop_dead_letters(
        &self,
        queue: QueueName,
        ids: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<usize, BusError>;
    /// How many messages `queue` holds: ready, in flight, dead (see [`QueueDepth`] for what
    /// each backend can tell). Cheap enough to call on every metrics scrape: one or two
    /// broker round trips, no message read or moved.
    async fn depth(&self, queue: QueueName) -> Result<QueueDepth, BusError>;
    /// Whether the backend answers now (for readiness checks): a cheap round trip to the
    /// broker where there is one.
    async fn reachable(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// Request/reply to one named ingest node: api's commands to the process that owns an
/// account. A concern apart from the work queues because its needs differ (no durability,
/// a deadline, a reply path), and a broker without reply queues (SQS) serves the work
/// queues while another transport serves this.
#[async_trait]
pub trait NodeRequests: Send + Sync + 'static {
    /// Send a request to `node` and wait for its reply, at most `timeout`.
    async fn request(
        &self,
        node: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError>;
    /// Serve the requests addressed to `node`.
    async fn serve(&self, node: &str) -> Result<Box<dyn RequestServer>, BusError>;
}

/// The message bus shared by all roles: every concern at once, implemented for every type
/// that implements each.
pub trait Bus: WorkQueues + NodeRequests + AccountNotices {}

impl<T> Bus for T where T: WorkQueues + NodeRequests + AccountNotices {}

/// Locks a mutex whose data stays valid even if a holder panicked (every critical section
/// of the bus leaves it consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the Unix epoch (0 before it), as backends put times on the wire.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A shared handle to the configured bus.
pub type SharedBus = Arc<dyn Bus>;

/// The bus the configuration asks for: SQS for an `sqs://` `queue.url` (with node
/// requests through `dbs.redis`), RabbitMQ for an `amqp://` one, otherwise the in-process
/// queues stored under `dbs.path`.
pub async fn connect(config: &Config) -> Result<SharedBus, BusError> {
    let retry = config.queue.retry_policies();
    let Some(url) = &config.queue.url else {
        return Ok(Arc::new(
            embedded::EmbeddedBus::open(&config.data_dir, retry).await?,
        ));
    };
    if let Some(prefix) = sqs::queue_prefix(url, &config.queue.prefix) {
        let redis = config.redis.as_deref().ok_or_else(|| {
            BusError::Backend(
                "an sqs:// queue needs dbs.redis (node requests go through Redis)".into(),
            )
        })?;
        let tuning = sqs::SqsTuning {
            visibility: config.queue.visibility,
        };
        return Ok(Arc::new(
            sqs::SqsBus::connect(prefix, retry, redis, tuning).await?,
        ));
    }
    Ok(Arc::new(
        rabbitmq::RabbitBus::connect(url, &config.queue.prefix, retry).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_delays_stay_in_the_upper_half() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::MAX,
            jitter: true,
        };
        let full = policy.delay(3);
        assert_eq!(full, Duration::from_secs(8));
        let drawn: Vec<Duration> = (0..100).map(|_| policy.next_delay(3)).collect();
        assert!(drawn.iter().all(|d| *d >= full / 2 && *d <= full));
        assert!(drawn.iter().any(|d| *d != drawn[0]), "no jitter at all");
        let plain = RetryPolicy {
            jitter: false,
            ..policy
        };
        assert_eq!(plain.next_delay(3), full);
    }

    #[test]
    fn delays_double_up_to_their_cap() {
        let policy = RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
            jitter: false,
        };
        let delays: Vec<u64> = (0..6).map(|a| policy.delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5, 5]);
        assert_eq!(policy.span(), Duration::from_secs(1 + 2 + 4 + 5 + 5));
    }

    #[test]
    fn waits_count_down_to_not_before() {
        let now = SystemTime::now();
        let m = Message::new("k", Vec::new());
        assert_eq!(m.wait(now), Duration::ZERO);
        let m = m.not_before(now + Duration::from_secs(2));
        assert_eq!(m.wait(now), Duration::from_secs(2));
        assert_eq!(m.wait(now + Duration::from_secs(3)), Duration::ZERO);
    }
}
