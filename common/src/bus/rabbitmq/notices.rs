//! Notices to every listening process: published to the fanout exchange `<p>.accounts`,
//! which copies each into one exclusive, auto-delete queue per listener (named by the
//! broker, gone with the listener's connection). Each such queue keeps at most a few
//! notices (`x-max-length`, the oldest dropped), as a listener only needs to know that
//! something changed; notices are transient and nobody listening is no error.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use lapin::BasicProperties;
use lapin::options::{BasicAckOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};

use super::RESUBSCRIBE_PAUSE;
use super::consume::Subscription;
use super::link::Inner;
use super::wire::{backend, short};
use crate::bus::{BusError, NoticeListener};

/// Notices a listener's queue holds; more are merged by dropping the oldest.
const NOTICE_BACKLOG: i64 = 4;
/// Notices the broker pushes before the listener takes them (acked on receipt).
const NOTICE_PREFETCH: u16 = 4;

/// Publish one notice to the fanout exchange and wait for the broker's confirm.
pub(super) async fn announce(inner: &Inner) -> Result<(), BusError> {
    let exchange = inner.names.notices();
    inner
        .publish_confirmed(&exchange, "", &[], BasicProperties::default(), false)
        .await
}

pub(super) struct RabbitListener {
    pub inner: Arc<Inner>,
    pub sub: Option<Subscription>,
}

impl RabbitListener {
    /// A queue of our own, bound to the exchange, consumed on a channel of its own.
    pub async fn subscribe(&mut self) -> Result<(), BusError> {
        let link = self.inner.link().await?;
        let channel = link.conn.create_channel().await.map_err(backend)?;
        let mut args = FieldTable::default();
        args.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(NOTICE_BACKLOG),
        );
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..Default::default()
        };
        let queue = channel
            .queue_declare("".into(), options, args)
            .await
            .map_err(backend)?;
        let name = queue.name().clone();
        channel
            .queue_bind(
                name.clone(),
                short(self.inner.names.notices())?,
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(backend)?;
        self.sub = Some(Subscription::start(channel, name, NOTICE_PREFETCH, true).await?);
        Ok(())
    }
}

#[async_trait]
impl NoticeListener for RabbitListener {
    async fn next(&mut self) -> Result<(), BusError> {
        loop {
            let Some(sub) = self.sub.as_mut() else {
                tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
                match self.subscribe().await {
                    // Whatever was announced while we had no queue is lost: say so.
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for account notices failed; retrying");
                        continue;
                    }
                }
            };
            match sub.consumer.next().await {
                Some(Ok(d)) => {
                    let _ = d.acker.ack(BasicAckOptions::default()).await;
                    return Ok(());
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "account notice subscription lost; subscribing again");
                    self.sub = None;
                }
                None => self.sub = None,
            }
        }
    }
}
