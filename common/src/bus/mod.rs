//! The `Bus`: durable work queues (events, submit jobs) with at-least-once delivery,
//! retries with exponential backoff and a dead-letter queue; and request/reply commands to
//! a named ingest node. Every role talks to this trait only; the backend (in-process, or
//! RabbitMQ) is chosen by config.

pub mod embedded;
pub mod rabbitmq;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::config::Config;

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
}

impl Message {
    pub fn new(key: impl Into<String>, body: Vec<u8>) -> Self {
        Message {
            id: Uuid::now_v7(),
            key: key.into(),
            attempt: 0,
            body,
        }
    }
}

/// How failed deliveries are retried: delivery `n` (0-based) that fails is retried after
/// `base_delay * 2^n`; after `max_attempts` failed deliveries the message is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
}

impl RetryPolicy {
    /// Delay before redelivering a message that has failed `attempt + 1` times.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.base_delay.saturating_mul(1u32 << attempt.min(20))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(2),
        }
    }
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

/// The message bus shared by all roles.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Durably enqueue a message; returns once the backend has accepted it.
    async fn publish(&self, queue: QueueName, message: Message) -> Result<(), BusError>;
    /// Start consuming a queue with at most `prefetch` unsettled deliveries.
    async fn consume(&self, queue: QueueName, prefetch: u16)
    -> Result<Box<dyn Consumer>, BusError>;
    /// Up to `limit` dead-lettered messages of a queue, oldest first, without removing them.
    async fn dead_letters(&self, queue: QueueName, limit: usize) -> Result<Vec<Message>, BusError>;
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

/// A shared handle to the configured bus.
pub type SharedBus = Arc<dyn Bus>;

/// The bus the configuration asks for: RabbitMQ when `queue.url` is set, otherwise the
/// in-process queues stored under `dbs.path`.
pub async fn connect(config: &Config) -> Result<SharedBus, BusError> {
    let retry = config.queue.retry;
    Ok(match &config.queue.url {
        Some(url) => Arc::new(rabbitmq::RabbitBus::connect(url, &config.queue.prefix, retry).await?),
        None => Arc::new(embedded::EmbeddedBus::open(&config.data_dir, retry).await?),
    })
}
