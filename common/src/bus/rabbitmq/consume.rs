//! Consuming a work queue: a subscription per consumer on a channel of its own (its
//! prefetch bounds what the broker pushes), deliveries settled by ack, retry (down the delay
//! ladder, or to the dead letters when attempts run out) or dead-letter; messages back from
//! a ladder step too early are sent down again before anyone sees them. Also peeking at the
//! dead letters.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::Channel;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{FieldTable, ShortString};

use super::link::Inner;
use super::wire::{backend, short, to_message};
use super::{RESUBSCRIBE_PAUSE, ladder};
use crate::bus::{Acker, BusError, Consumer, Delivery, Message, QueueName, RetryOutcome};

/// A channel with its consumer; the channel closes (and the broker requeues what was
/// unsettled on it) once the subscription and every delivery made on it are gone.
pub(super) struct Subscription {
    pub channel: Channel,
    pub consumer: lapin::Consumer,
}

impl Subscription {
    /// Set the prefetch on `channel` and start consuming `queue` there.
    pub async fn start(
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

pub(super) struct RabbitConsumer {
    pub inner: Arc<Inner>,
    pub queue: QueueName,
    pub prefetch: u16,
    pub sub: Option<Subscription>,
}

impl RabbitConsumer {
    pub async fn subscribe(&mut self) -> Result<(), BusError> {
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
                    if ladder::step_for(message.wait(SystemTime::now())).is_some() {
                        // Back from a ladder step with time still to wait: down the ladder
                        // again, confirmed before the ack (a crash repeats the hop, it
                        // never loses the message).
                        self.inner.requeue(self.queue, &message).await?;
                        if let Err(e) = acker.ack(BasicAckOptions::default()).await {
                            tracing::debug!(error = %e, "ack of a delayed hop failed; it comes back");
                        }
                        continue;
                    }
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
        let policy = self.inner.policies.of(self.queue);
        let failed = self.message.attempt;
        let mut message = self.message.clone();
        message.attempt = failed.saturating_add(1);
        // The copy is confirmed before the original is acked: a crash in between means a
        // duplicate, never a loss.
        let outcome = if message.attempt >= policy.max_attempts {
            self.inner.bury(self.queue, &message).await?;
            RetryOutcome::DeadLettered
        } else {
            let delay = policy.next_delay(failed);
            message.not_before = Some(SystemTime::now() + delay);
            self.inner.requeue(self.queue, &message).await?;
            RetryOutcome::Scheduled(delay)
        };
        self.ack_original().await?;
        Ok(outcome)
    }

    async fn dead_letter(mut self: Box<Self>) -> Result<(), BusError> {
        let mut message = self.message.clone();
        message.attempt = message.attempt.saturating_add(1);
        message.not_before = None;
        self.inner.bury(self.queue, &message).await?;
        self.ack_original().await
    }
}

/// Up to `limit` dead letters of `queue`, oldest first, left in place.
pub(super) async fn dead_letters(
    inner: &Inner,
    queue: QueueName,
    limit: usize,
) -> Result<Vec<Message>, BusError> {
    let link = inner.link().await?;
    // A channel of its own: closing it is what puts the peeked messages back.
    let ch = link.conn.create_channel().await.map_err(backend)?;
    let name = short(inner.names.dlq(queue))?;
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
