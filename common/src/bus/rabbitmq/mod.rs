//! The RabbitMQ `Bus` (lapin), for running the roles as separate processes on several
//! machines. The exchange and queue layout below is a public interface: users bind their
//! own queues to the events exchange, and operators look at the dead-letter queues.
//!
//! # Topology (all names start with the configured prefix `<p>`, default `imapapi`)
//!
//! | name | kind | purpose |
//! | --- | --- | --- |
//! | `<p>.events` | durable **topic exchange** | every event, routing key `<account>.<event>`; bind your own queue here (e.g. `someaccount.*`, `*.messageNew`, `#`) |
//! | `<p>.events` | durable queue, bound to the exchange with `#` | our own consumer of events (dispatch) |
//! | `<p>.submit` | durable queue (default exchange) | send jobs |
//! | `<p>.<q>.delay.<ms>` | durable queue, `x-message-ttl` = `<ms>`, dead-letters to `<p>.<q>` | one step of the delay ladder (`ladder.rs`): `<ms>` = 100 × 2^k for k in 0..22; retries and scheduled messages wait here |
//! | `<p>.<q>.dlq` | durable queue | messages whose attempts ran out |
//! | `<p>.node.<node>` | exclusive, auto-delete queue | requests for one ingest node; gone when that node goes |
//! | `<p>.accounts` | durable **fanout exchange** | notices to every ingest process ("the accounts changed"); each listener binds an exclusive, auto-delete queue of its own, named by the broker |
//!
//! Messages are persistent (delivery mode 2) and every publish waits for the broker's
//! confirm; a batch is sent whole before its confirms are awaited together. Properties:
//! `message_id` = the message's UUID (kept across retries, so consumers can drop
//! duplicates); headers `key` (the routing key, which delay queues lose), `attempt` (failed
//! deliveries so far, 0 on first delivery) and, on a message that must wait, `not-before`
//! (unix ms).
//!
//! One file per job: `wire.rs` (a message as AMQP properties), `names.rs`, `link.rs` (the
//! connection, where retries go), `publish.rs` (confirmed publishing, one message or a
//! batch), `topology.rs` (declaring it), `ladder.rs` (delays), `consume.rs` (consumers,
//! settling, dead letters), `dead_letters.rs` (redriving and dropping dead letters),
//! `depth.rs` (queue depth), `request.rs` (request/reply), `notices.rs` (notices to every
//! listener).
//!
//! Requests go to the default exchange with routing key `<p>.node.<node>`, `mandatory`
//! (an unroutable request comes back as basic.return: `NoRoute`), `reply_to` =
//! `amq.rabbitmq.reply-to` (direct reply-to: no reply queue per request) and a
//! `correlation_id`; the expiration is the requester's deadline, so a request nobody
//! waits for any more is not executed late.
//!
//! Connection loss: every later call reconnects (and declares the topology again).
//! Deliveries that were unsettled on the lost connection are requeued by the broker and
//! delivered again; acking them afterwards fails, which is harmless (at-least-once).
//! Requests in flight on the lost connection end in `Timeout`.

mod consume;
mod dead_letters;
mod depth;
mod ladder;
mod link;
mod names;
mod notices;
mod publish;
mod request;
mod topology;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use uuid::Uuid;

use self::consume::RabbitConsumer;
use self::dead_letters::Action;
use self::link::Inner;
use self::names::Names;
use self::request::RabbitServer;
use self::wire::{backend, short};
use super::{
    AccountNotices, BusError, Consumer, Message, NodeRequests, NoticeListener, QueueDepth,
    QueueName, RequestServer, RetryPolicies, WorkQueues,
};

const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";
const QUEUES: [QueueName; 2] = [QueueName::Events, QueueName::Submit];
/// Requests the broker may push to a node before it takes them; bounds lapin's buffer.
const SERVER_PREFETCH: u16 = 64;
/// Pause before re-subscribing after a lost subscription, so a broker that keeps refusing
/// does not turn `next` into a busy loop.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(200);

/// The RabbitMQ bus. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct RabbitBus {
    inner: Arc<Inner>,
}

impl RabbitBus {
    /// Connects to `url` and declares the topology under `prefix`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        policies: impl Into<RetryPolicies>,
    ) -> Result<RabbitBus, BusError> {
        let bus = RabbitBus {
            inner: Arc::new(Inner {
                url: url.to_string(),
                names: Names {
                    prefix: prefix.to_string(),
                },
                policies: policies.into(),
                link: tokio::sync::Mutex::new(None),
                pending: Arc::default(),
            }),
        };
        bus.inner.link().await?;
        Ok(bus)
    }

    /// Deletes every exchange and queue of this prefix, messages included (tests, and
    /// operators retiring a prefix).
    pub async fn delete_topology(&self) -> Result<(), BusError> {
        let link = self.inner.link().await?;
        let ch = link.conn.create_channel().await.map_err(backend)?;
        for name in topology::queue_names(&self.inner) {
            ch.queue_delete(short(name)?, QueueDeleteOptions::default())
                .await
                .map_err(backend)?;
        }
        for exchange in [self.inner.names.exchange(), self.inner.names.notices()] {
            ch.exchange_delete(short(exchange)?, ExchangeDeleteOptions::default())
                .await
                .map_err(backend)?;
        }
        let _ = ch.close(200, "OK".into()).await;
        Ok(())
    }
}

#[async_trait]
impl WorkQueues for RabbitBus {
    async fn publish(&self, queue: QueueName, message: Message) -> Result<(), BusError> {
        self.inner
            .publish_all(vec![self.inner.outgoing(queue, &message)])
            .await
    }

    async fn publish_batch(
        &self,
        queue: QueueName,
        messages: Vec<Message>,
    ) -> Result<(), BusError> {
        let batch = messages
            .iter()
            .map(|m| self.inner.outgoing(queue, m))
            .collect();
        self.inner.publish_all(batch).await
    }

    async fn consume(
        &self,
        queue: QueueName,
        prefetch: u16,
    ) -> Result<Box<dyn Consumer>, BusError> {
        let mut consumer = RabbitConsumer {
            inner: self.inner.clone(),
            queue,
            prefetch: prefetch.max(1),
            sub: None,
        };
        // Subscribe now, so messages published after `consume` returns are ours to share.
        consumer.subscribe().await?;
        Ok(Box::new(consumer))
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

    /// A live connection (made again, with the topology, when it was lost).
    async fn reachable(&self) -> Result<(), BusError> {
        self.inner.link().await.map(|_| ())
    }
}

#[async_trait]
impl NodeRequests for RabbitBus {
    async fn request(
        &self,
        node: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        request::request(&self.inner, node, body, timeout).await
    }

    async fn serve(&self, node: &str) -> Result<Box<dyn RequestServer>, BusError> {
        let mut server = RabbitServer {
            inner: self.inner.clone(),
            queue: self.inner.names.node(node),
            sub: None,
        };
        server.subscribe().await?;
        Ok(Box::new(server))
    }
}

#[async_trait]
impl AccountNotices for RabbitBus {
    async fn announce_accounts_changed(&self) -> Result<(), BusError> {
        notices::announce(&self.inner).await
    }

    async fn listen_accounts_changed(&self) -> Result<Box<dyn NoticeListener>, BusError> {
        let mut listener = notices::RabbitListener {
            inner: self.inner.clone(),
            sub: None,
        };
        // Bound before returning, so notices announced after this reach the listener.
        listener.subscribe().await?;
        Ok(Box::new(listener))
    }
}
