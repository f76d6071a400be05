//! Request/reply to a named ingest node: requests go to the node's exclusive queue through
//! the default exchange (`mandatory`, so a node nobody serves is `NoRoute` at once), replies
//! come back over direct reply-to, matched by correlation id.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::BasicProperties;
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::consume::Subscription;
use super::link::{Inner, Pending};
use super::wire::{backend, short};
use super::{DIRECT_REPLY_TO, RESUBSCRIBE_PAUSE, SERVER_PREFETCH};
use crate::bus::lock;
use crate::bus::{BusError, Replier, Request, RequestServer};

/// Send a request to `node` and wait for its reply, at most `timeout`.
pub(super) async fn request(
    inner: &Inner,
    node: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, BusError> {
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

pub(super) struct RabbitServer {
    pub inner: Arc<Inner>,
    pub queue: String,
    pub sub: Option<Subscription>,
}

impl RabbitServer {
    pub async fn subscribe(&mut self) -> Result<(), BusError> {
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
