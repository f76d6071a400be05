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
//! | `<p>.<q>.retry.<ms>` | durable queue, `x-message-ttl` = `<ms>`, dead-letters to `<p>.<q>` | messages waiting `<ms>` before their next attempt; one queue per delay so a short wait never sits behind a long one |
//! | `<p>.<q>.dlq` | durable queue | messages whose attempts ran out |
//! | `<p>.node.<node>` | exclusive, auto-delete queue | requests for one ingest node; gone when that node goes |
//!
//! Messages are persistent (delivery mode 2) and every publish waits for the broker's
//! confirm. Properties: `message_id` = the message's UUID (kept across retries, so
//! consumers can drop duplicates); headers `key` (the routing key, which retry queues
//! lose) and `attempt` (failed deliveries so far, 0 on first delivery).
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{
    Acker, Bus, BusError, Consumer, Delivery, Message, QueueName, Replier, Request, RequestServer,
    RetryOutcome, RetryPolicy,
};

const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";
const QUEUES: [QueueName; 2] = [QueueName::Events, QueueName::Submit];
/// Requests the broker may push to a node before it takes them; bounds lapin's buffer.
const SERVER_PREFETCH: u16 = 64;
/// Pause before re-subscribing after a lost subscription, so a broker that keeps refusing
/// does not turn `next` into a busy loop.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(200);

fn backend(e: impl std::fmt::Display) -> BusError {
    BusError::Backend(e.to_string())
}

fn short(s: impl Into<String>) -> Result<ShortString, BusError> {
    let s = s.into();
    ShortString::try_new(s.clone())
        .map_err(|_| BusError::Backend(format!("name too long for AMQP: {s}")))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn persistent(id: Uuid, key: &str, attempt: u32) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("key".into(), AMQPValue::LongString(LongString::from(key)));
    headers.insert("attempt".into(), AMQPValue::LongUInt(attempt));
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(id.to_string().into())
        .with_headers(headers)
}

fn header<'a>(props: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    props.headers().as_ref()?.inner().get(name)
}

fn to_message(d: lapin::message::Delivery) -> Message {
    let props = &d.properties;
    let id = props
        .message_id()
        .as_ref()
        .and_then(|s| Uuid::parse_str(s.as_str()).ok())
        // Published by someone else without an id: give it one, at least per delivery.
        .unwrap_or_else(Uuid::now_v7);
    let attempt = match header(props, "attempt") {
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
        Some(AMQPValue::LongInt(n)) => u32::try_from(*n).unwrap_or(0),
        _ => 0,
    };
    let key = match header(props, "key") {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        _ => d.routing_key.to_string(),
    };
    Message {
        id,
        key,
        attempt,
        body: d.data,
    }
}

/// The names derived from the prefix.
#[derive(Clone)]
struct Names {
    prefix: String,
}

impl Names {
    fn exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }
    fn queue(&self, q: QueueName) -> String {
        format!("{}.{}", self.prefix, q.as_str())
    }
    fn retry(&self, q: QueueName, delay: Duration) -> String {
        format!("{}.{}.retry.{}", self.prefix, q.as_str(), delay.as_millis())
    }
    fn dlq(&self, q: QueueName) -> String {
        format!("{}.{}.dlq", self.prefix, q.as_str())
    }
    fn node(&self, node: &str) -> String {
        format!("{}.node.{}", self.prefix, node)
    }
}

/// One live connection with the channels the bus itself uses.
#[derive(Clone)]
struct Link {
    conn: Arc<Connection>,
    /// Confirm mode; work-queue publishes, retries and dead-lettering.
    publish: Channel,
    /// Confirm mode, consuming direct reply-to: requests must be published on the channel
    /// that consumes their replies.
    requests: Channel,
}

impl Link {
    fn alive(&self) -> bool {
        self.conn.status().connected()
            && self.publish.status().connected()
            && self.requests.status().connected()
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

struct Inner {
    url: String,
    names: Names,
    retry: RetryPolicy,
    link: tokio::sync::Mutex<Option<Link>>,
    /// Requests waiting for their reply, by correlation id.
    pending: Pending,
}

impl Inner {
    /// The current connection, reconnecting (and declaring the topology) if it was lost.
    async fn link(&self) -> Result<Link, BusError> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref().filter(|l| l.alive()) {
            return Ok(link.clone());
        }
        *guard = None;
        // Named, so operators can tell our connections apart in the management UI.
        let props = ConnectionProperties::default()
            .with_connection_name(format!("imapapi {}", self.names.prefix).into());
        let conn = Connection::connect(&self.url, props)
            .await
            .map_err(|e| BusError::Backend(format!("connecting to RabbitMQ: {e}")))?;
        let setup = conn.create_channel().await.map_err(backend)?;
        self.declare(&setup).await?;
        let _ = setup.close(200, "OK".into()).await;

        let publish = conn.create_channel().await.map_err(backend)?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(backend)?;
        let requests = conn.create_channel().await.map_err(backend)?;
        requests
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(backend)?;
        let mut replies = requests
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(backend)?;
        let pending = self.pending.clone();
        tokio::spawn(async move {
            // Ends with the connection; requests still waiting then time out.
            while let Some(Ok(d)) = replies.next().await {
                let Some(corr) = d.properties.correlation_id().as_ref() else {
                    continue;
                };
                if let Some(tx) = lock(&pending).remove(corr.as_str()) {
                    let _ = tx.send(d.data);
                }
            }
        });
        let link = Link {
            conn: Arc::new(conn),
            publish,
            requests,
        };
        *guard = Some(link.clone());
        Ok(link)
    }

    async fn declare(&self, ch: &Channel) -> Result<(), BusError> {
        let n = &self.names;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.exchange_declare(
            short(n.exchange())?,
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(backend)?;
        for q in QUEUES {
            let main = n.queue(q);
            ch.queue_declare(short(main.clone())?, durable, FieldTable::default())
                .await
                .map_err(backend)?;
            ch.queue_declare(short(n.dlq(q))?, durable, FieldTable::default())
                .await
                .map_err(backend)?;
            for delay in self.delays() {
                let mut args = FieldTable::default();
                let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ms));
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString("".into()),
                );
                args.insert(
                    "x-dead-letter-routing-key".into(),
                    AMQPValue::LongString(main.as_str().into()),
                );
                ch.queue_declare(short(n.retry(q, delay))?, durable, args)
                    .await
                    .map_err(backend)?;
            }
        }
        ch.queue_bind(
            short(n.queue(QueueName::Events))?,
            short(n.exchange())?,
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// Every delay the retry policy can ask for.
    fn delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = (0..self.retry.max_attempts.saturating_sub(1))
            .map(|a| self.retry.delay(a))
            .collect();
        delays.dedup();
        delays
    }

    /// Publishes on the confirm channel and waits for the broker's confirm. With
    /// `mandatory`, an unroutable message is an error instead of silently dropped.
    async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
    ) -> Result<(), BusError> {
        let link = self.link().await?;
        let confirm = link
            .publish
            .basic_publish(
                short(exchange)?,
                short(routing_key)?,
                BasicPublishOptions {
                    mandatory,
                    ..Default::default()
                },
                body,
                props,
            )
            .await
            .map_err(backend)?
            .await
            .map_err(backend)?;
        if confirm.is_nack() {
            return Err(BusError::Backend(format!(
                "RabbitMQ refused the message for {routing_key}"
            )));
        }
        if confirm.take_message().is_some() {
            return Err(BusError::Backend(format!(
                "no queue for {routing_key} on exchange '{exchange}'"
            )));
        }
        Ok(())
    }
}

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
        retry: RetryPolicy,
    ) -> Result<RabbitBus, BusError> {
        let bus = RabbitBus {
            inner: Arc::new(Inner {
                url: url.to_string(),
                names: Names {
                    prefix: prefix.to_string(),
                },
                retry,
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
        let n = &self.inner.names;
        for q in QUEUES {
            let mut names = vec![n.queue(q), n.dlq(q)];
            names.extend(self.inner.delays().into_iter().map(|d| n.retry(q, d)));
            for name in names {
                ch.queue_delete(short(name)?, QueueDeleteOptions::default())
                    .await
                    .map_err(backend)?;
            }
        }
        ch.exchange_delete(short(n.exchange())?, ExchangeDeleteOptions::default())
            .await
            .map_err(backend)?;
        let _ = ch.close(200, "OK".into()).await;
        Ok(())
    }
}

#[async_trait]
impl Bus for RabbitBus {
    async fn publish(&self, queue: QueueName, message: Message) -> Result<(), BusError> {
        let props = persistent(message.id, &message.key, message.attempt);
        let n = &self.inner.names;
        match queue {
            // Not mandatory: our own queue is bound with `#`, so it always routes.
            QueueName::Events => {
                self.inner
                    .publish_confirmed(&n.exchange(), &message.key, &message.body, props, false)
                    .await
            }
            QueueName::Submit => {
                self.inner
                    .publish_confirmed("", &n.queue(queue), &message.body, props, true)
                    .await
            }
        }
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
        let link = self.inner.link().await?;
        // A channel of its own: closing it is what puts the peeked messages back.
        let ch = link.conn.create_channel().await.map_err(backend)?;
        let name = short(self.inner.names.dlq(queue))?;
        let mut out = Vec::new();
        while out.len() < limit {
            match ch
                .basic_get(name.clone(), BasicGetOptions { no_ack: false })
                .await
                .map_err(backend)?
            {
                Some(got) => out.push(to_message(got.delivery)),
                None => break,
            }
        }
        ch.close(200, "OK".into()).await.map_err(backend)?;
        Ok(out)
    }

    async fn request(
        &self,
        node: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let inner = &self.inner;
        let corr = Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        lock(&inner.pending).insert(corr.clone(), tx);
        // Removes the waiter however this ends (reply, error, timeout, cancellation).
        struct Forget<'a>(&'a Pending, &'a str);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                lock(self.0).remove(self.1);
            }
        }
        let _forget = Forget(&inner.pending, &corr);
        let exchange = async {
            let link = inner.link().await?;
            let props = BasicProperties::default()
                .with_reply_to(DIRECT_REPLY_TO.into())
                .with_correlation_id(corr.as_str().into())
                .with_expiration(timeout.as_millis().max(1).to_string().into());
            let confirm = link
                .requests
                .basic_publish(
                    "".into(),
                    short(inner.names.node(node))?,
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &body,
                    props,
                )
                .await
                .map_err(backend)?
                .await
                .map_err(backend)?;
            if confirm.take_message().is_some() {
                return Err(BusError::NoRoute(node.to_string()));
            }
            rx.await.map_err(|_| BusError::Timeout)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| BusError::Timeout)?
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

/// A channel with its consumer; the channel closes (and the broker requeues what was
/// unsettled on it) once the subscription and every delivery made on it are gone.
struct Subscription {
    channel: Channel,
    consumer: lapin::Consumer,
}

impl Subscription {
    /// Set the prefetch on `channel` and start consuming `queue` there.
    async fn start(
        channel: Channel,
        queue: ShortString,
        prefetch: u16,
        exclusive: bool,
    ) -> Result<Subscription, BusError> {
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(backend)?;
        let consumer = channel
            .basic_consume(
                queue,
                "".into(),
                BasicConsumeOptions {
                    exclusive,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(backend)?;
        Ok(Subscription { channel, consumer })
    }
}

struct RabbitConsumer {
    inner: Arc<Inner>,
    queue: QueueName,
    prefetch: u16,
    sub: Option<Subscription>,
}

impl RabbitConsumer {
    async fn subscribe(&mut self) -> Result<(), BusError> {
        let link = self.inner.link().await?;
        let channel = link.conn.create_channel().await.map_err(backend)?;
        let queue = short(self.inner.names.queue(self.queue))?;
        self.sub = Some(Subscription::start(channel, queue, self.prefetch, false).await?);
        Ok(())
    }
}

#[async_trait]
impl Consumer for RabbitConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            let Some(sub) = self.sub.as_mut() else {
                tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
                self.subscribe().await?;
                continue;
            };
            match sub.consumer.next().await {
                Some(Ok(d)) => {
                    let acker = d.acker.clone();
                    let message = to_message(d);
                    return Ok(Delivery {
                        acker: Box::new(RabbitAcker {
                            inner: self.inner.clone(),
                            queue: self.queue,
                            channel: sub.channel.clone(),
                            acker,
                            message: message.clone(),
                            settled: false,
                        }),
                        message,
                    });
                }
                // Channel or connection lost, or the broker cancelled us: subscribe again.
                Some(Err(e)) => {
                    tracing::warn!(queue = self.queue.as_str(), error = %e, "RabbitMQ consumer lost; resubscribing");
                    self.sub = None;
                }
                None => self.sub = None,
            }
        }
    }
}

struct RabbitAcker {
    inner: Arc<Inner>,
    queue: QueueName,
    /// Keeps the delivery's channel open until it is settled.
    channel: Channel,
    acker: lapin::Acker,
    /// Needed to republish it to a retry or dead-letter queue.
    message: Message,
    settled: bool,
}

impl RabbitAcker {
    async fn ack_original(&mut self) -> Result<(), BusError> {
        self.settled = true;
        match self.acker.ack(BasicAckOptions::default()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(BusError::Backend(
                "delivery channel closed before the ack; the broker delivers it again".into(),
            )),
            Err(e) => Err(backend(e)),
        }
    }
}

impl Drop for RabbitAcker {
    fn drop(&mut self) {
        if self.settled || !self.acker.usable() {
            return;
        }
        let (acker, channel) = (self.acker.clone(), self.channel.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    })
                    .await;
                drop(channel);
            });
        }
        // Without a runtime the channel closes as the last handle goes, which requeues
        // it as well.
    }
}

#[async_trait]
impl Acker for RabbitAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        self.ack_original().await
    }

    async fn retry(mut self: Box<Self>) -> Result<RetryOutcome, BusError> {
        let policy = self.inner.retry;
        let names = &self.inner.names;
        let failed = self.message.attempt;
        let attempt = failed.saturating_add(1);
        let props = persistent(self.message.id, &self.message.key, attempt);
        let (target, outcome) = if attempt >= policy.max_attempts {
            (names.dlq(self.queue), RetryOutcome::DeadLettered)
        } else {
            let delay = policy.delay(failed);
            (
                names.retry(self.queue, delay),
                RetryOutcome::Scheduled(delay),
            )
        };
        // The copy is confirmed before the original is acked: a crash in between means a
        // duplicate, never a loss.
        self.inner
            .publish_confirmed("", &target, &self.message.body, props, true)
            .await?;
        self.ack_original().await?;
        Ok(outcome)
    }
}

struct RabbitServer {
    inner: Arc<Inner>,
    queue: String,
    sub: Option<Subscription>,
}

impl RabbitServer {
    async fn subscribe(&mut self) -> Result<(), BusError> {
        let link = self.inner.link().await?;
        let channel = link.conn.create_channel().await.map_err(backend)?;
        let name = short(self.queue.clone())?;
        channel
            .queue_declare(
                name.clone(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| BusError::Backend(format!("serving {}: {e}", self.queue)))?;
        self.sub = Some(Subscription::start(channel, name, SERVER_PREFETCH, true).await?);
        Ok(())
    }
}

#[async_trait]
impl RequestServer for RabbitServer {
    async fn next(&mut self) -> Result<Request, BusError> {
        loop {
            let Some(sub) = self.sub.as_mut() else {
                tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
                self.subscribe().await?;
                continue;
            };
            match sub.consumer.next().await {
                Some(Ok(d)) => {
                    // Acked on receipt: a request is answered at most once, and the
                    // requester's deadline covers a server that dies while working on it.
                    let _ = d.acker.ack(BasicAckOptions::default()).await;
                    let reply_to = d.properties.reply_to().clone();
                    let corr = d.properties.correlation_id().clone();
                    return Ok(Request {
                        body: d.data,
                        replier: Box::new(RabbitReplier {
                            channel: sub.channel.clone(),
                            reply_to,
                            corr,
                        }),
                    });
                }
                Some(Err(e)) => {
                    tracing::warn!(queue = %self.queue, error = %e, "RabbitMQ request consumer lost; resubscribing");
                    self.sub = None;
                }
                None => self.sub = None,
            }
        }
    }
}

struct RabbitReplier {
    channel: Channel,
    reply_to: Option<ShortString>,
    corr: Option<ShortString>,
}

#[async_trait]
impl Replier for RabbitReplier {
    async fn reply(self: Box<Self>, body: Vec<u8>) -> Result<(), BusError> {
        // Sent without `reply_to`: nobody waits for an answer.
        let Some(reply_to) = self.reply_to else {
            return Ok(());
        };
        let mut props = BasicProperties::default();
        if let Some(corr) = self.corr {
            props = props.with_correlation_id(corr);
        }
        self.channel
            .basic_publish(
                "".into(),
                reply_to,
                BasicPublishOptions::default(),
                &body,
                props,
            )
            .await
            .map_err(backend)?;
        Ok(())
    }
}
