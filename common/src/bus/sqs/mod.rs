//! The Amazon SQS `Bus` (aws-sdk-sqs), chosen by `--queue.url=sqs://<prefix>`: work queues
//! on SQS, and request/reply to ingest nodes and notices to every ingest process over the
//! deployment's Redis (`bus::pubsub`), since SQS has no reply path and no broadcast. Region, credentials and endpoint come from the standard
//! AWS environment (`AWS_REGION`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or a role,
//! `AWS_ENDPOINT_URL_SQS` for a local server).
//!
//! # Queues (standard queues; `<p>` is the prefix; created when missing)
//!
//! | name | purpose |
//! | --- | --- |
//! | `<p>-events` | every event, consumed by dispatch (webhooks); see the README for consuming events yourself |
//! | `<p>-submit` | send jobs |
//! | `<p>-events-dlq`, `<p>-submit-dlq` | dead letters: attempts ran out, a permanent failure, or 10 receives never settled (redrive policy) |
//!
//! Work queues keep messages 14 days, hide a received message for 30 s and renew that
//! while a handler works on it (`visibility.rs`). A message carries its id, routing key,
//! attempt count and not-before time as message attributes (`wire.rs`). Sends and deletes
//! go out in batch calls (`batch.rs` gathers single calls, `publish.rs` cuts a caller's
//! batch); receives take up to 10 at a time by long polling.
//! Delays: SQS delays at most 15 minutes, in whole seconds; a delay is rounded up (never
//! early) and a longer one takes several hops (`consume.rs`). Bodies over 200 KiB are kept
//! in Redis (`overflow.rs`). Standard queues deliver at least once and in no strict order.
//!
//! One file per job: `names.rs`, `topology.rs` (finding and creating queues), `wire.rs`,
//! `batch.rs`, `publish.rs`, `link.rs` (what the parts share, sending and deleting),
//! `consume.rs`, `visibility.rs`, `dead_letters.rs` (listing, redriving, dropping),
//! `depth.rs` (queue depth), `overflow.rs`.

mod batch;
mod consume;
mod dead_letters;
mod depth;
mod link;
mod names;
mod overflow;
mod publish;
mod topology;
mod visibility;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use uuid::Uuid;

use self::dead_letters::Action;
use self::link::Inner;
use self::names::Names;
use self::overflow::Overflow;
use super::pubsub::{RedisNodeRequests, RedisNotices};
use super::{
    AccountNotices, BusError, Consumer, Message, NodeRequests, NoticeListener, QueueDepth,
    QueueName, RequestServer, RetryPolicies, WorkQueues,
};

/// Longer than a long poll (20 s), so that a receive is never cut short.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the SQS bus uses its queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqsTuning {
    /// How long a received message stays hidden from other consumers (whole seconds,
    /// 1 to 43,200); renewed every third of it while a handler works on the message.
    pub visibility: Duration,
}

impl Default for SqsTuning {
    fn default() -> Self {
        SqsTuning {
            visibility: Duration::from_secs(topology::VISIBILITY_SECS as u64),
        }
    }
}

/// The SQS bus. Cheap to clone; clones share the client and batchers.
#[derive(Clone)]
pub struct SqsBus {
    inner: Arc<Inner>,
    requests: Arc<RedisNodeRequests>,
    notices: Arc<RedisNotices>,
}

/// A client for an SQS-compatible server at `endpoint` on this machine (moto's, for tests,
/// benchmarks and local development), with a fixed region and dummy credentials.
pub fn local_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "local",
        ))
        .endpoint_url(endpoint)
        .timeout_config(
            aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// The prefix of an `sqs://<prefix>` queue URL (empty when there is none).
pub fn prefix_of(url: &str) -> Option<&str> {
    url.strip_prefix("sqs://").map(|p| p.trim_end_matches('/'))
}

/// The queue name prefix an `sqs://` URL stands for: its own, or `fallback`
/// (`queue.prefix`) for a bare `sqs://`. `None` for another scheme.
pub fn queue_prefix<'a>(url: &'a str, fallback: &'a str) -> Option<&'a str> {
    prefix_of(url).map(|p| if p.is_empty() { fallback } else { p })
}

/// Checks a queue name prefix; `Err` says what a valid one looks like.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    Names::new(prefix).map(|_| ())
}

impl SqsBus {
    /// Connects with the AWS settings of the environment, and to Redis at `redis_url`.
    pub async fn connect(
        prefix: &str,
        policies: impl Into<RetryPolicies>,
        redis_url: &str,
        tuning: SqsTuning,
    ) -> Result<SqsBus, BusError> {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .load()
            .await;
        if sdk.region().is_none() {
            return Err(BusError::Backend(
                "SQS needs a region: set AWS_REGION (or a profile with one)".into(),
            ));
        }
        let ca = crate::net::redis::extra_ca(redis_url)
            .await
            .map_err(BusError::Backend)?;
        let redis = crate::net::redis::client(redis_url, ca).map_err(redis_error)?;
        let client = aws_sdk_sqs::Client::new(&sdk);
        Self::with_client(client, prefix, policies, redis, tuning).await
    }

    /// Uses `client` for SQS and `redis` for node requests and large bodies; finds or
    /// creates the queues of `prefix`.
    pub async fn with_client(
        client: aws_sdk_sqs::Client,
        prefix: &str,
        policies: impl Into<RetryPolicies>,
        redis: redis::Client,
        tuning: SqsTuning,
    ) -> Result<SqsBus, BusError> {
        let visibility_secs = i32::try_from(tuning.visibility.as_secs().clamp(1, 43_200))
            .expect("clamped to SQS's range");
        let names = Names::new(prefix).map_err(BusError::Backend)?;
        let con = crate::net::redis::manager(redis.clone())
            .await
            .map_err(redis_error)?;
        let urls = topology::ensure(&client, &names).await?;
        let overflow = Overflow {
            con: con.clone(),
            prefix: names.redis(),
        };
        let notices = RedisNotices::new(redis.clone(), con.clone(), &names.redis());
        let requests = RedisNodeRequests::new(redis, con, &names.redis());
        Ok(SqsBus {
            inner: Arc::new(Inner::new(
                client,
                names,
                urls,
                policies.into(),
                overflow,
                visibility_secs,
            )),
            requests: Arc::new(requests),
            notices: Arc::new(notices),
        })
    }

    /// Deletes the queues of this prefix, messages included (tests, and operators retiring
    /// a prefix).
    pub async fn delete_topology(&self) -> Result<(), BusError> {
        topology::delete(&self.inner.client, &self.inner.urls).await
    }

    /// The name of the queue that receives every event.
    pub fn events_queue(&self) -> String {
        self.inner.names.queue(QueueName::Events)
    }
}

fn redis_error(e: redis::RedisError) -> BusError {
    BusError::Backend(format!("redis (node requests): {e}"))
}

#[async_trait]
impl WorkQueues for SqsBus {
    async fn publish(&self, queue: QueueName, message: Message) -> Result<(), BusError> {
        self.inner
            .send(self.inner.urls.work(queue), &message, None)
            .await
    }

    async fn publish_batch(
        &self,
        queue: QueueName,
        messages: Vec<Message>,
    ) -> Result<(), BusError> {
        publish::publish_batch(&self.inner, self.inner.urls.work(queue), &messages).await
    }

    async fn consume(
        &self,
        queue: QueueName,
        prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(consume::consume(
            self.inner.clone(),
            queue,
            prefetch,
        )))
    }

    async fn dead_letters(&self, queue: QueueName, limit: usize) -> Result<Vec<Message>, BusError> {
        dead_letters::peek(&self.inner, queue, limit).await
    }

    async fn redrive_dead_letters(
        &self,
        queue: QueueName,
        ids: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<usize, BusError> {
        dead_letters::sweep(&self.inner, queue, ids, limit, Action::Redrive).await
    }

    async fn drop_dead_letters(
        &self,
        queue: QueueName,
        ids: Option<&[Uuid]>,
        limit: usize,
    ) -> Result<usize, BusError> {
        dead_letters::sweep(&self.inner, queue, ids, limit, Action::Drop).await
    }

    async fn depth(&self, queue: QueueName) -> Result<QueueDepth, BusError> {
        depth::depth(&self.inner, queue).await
    }

    /// SQS answers for the events queue, and Redis (node requests, large bodies) answers.
    async fn reachable(&self) -> Result<(), BusError> {
        self.inner
            .client
            .get_queue_attributes()
            .queue_url(self.inner.urls.work(QueueName::Events))
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| topology::sdk_error("get_queue_attributes", e))?;
        self.inner.overflow.ping().await
    }
}

#[async_trait]
impl NodeRequests for SqsBus {
    async fn request(
        &self,
        node: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        self.requests.request(node, body, timeout).await
    }

    async fn serve(&self, node: &str) -> Result<Box<dyn RequestServer>, BusError> {
        self.requests.serve(node).await
    }
}

#[async_trait]
impl AccountNotices for SqsBus {
    async fn announce_accounts_changed(&self) -> Result<(), BusError> {
        self.notices.announce_accounts_changed().await
    }

    async fn listen_accounts_changed(&self) -> Result<Box<dyn NoticeListener>, BusError> {
        self.notices.listen_accounts_changed().await
    }
}
