//! Confirmed publishing, of one message or of a batch: every message of a batch is sent on
//! the confirm channel first and the broker's confirms are awaited together afterwards, so
//! a batch costs about one round trip instead of one per message. Also where a newly
//! published message goes (its work queue, the events exchange, or the delay ladder).

use std::time::SystemTime;

use lapin::BasicProperties;
use lapin::Confirmation;
use lapin::options::BasicPublishOptions;

use super::ladder;
use super::link::Inner;
use super::wire::{backend, persistent, short};
use crate::bus::{BusError, Message, QueueName};

/// Publishes sent before their confirms are awaited: bounds what lapin holds for one batch
/// (a longer batch goes in several windows).
const CONFIRM_WINDOW: usize = 1000;

/// One message on its way to the broker: where it goes, and as what.
pub(super) struct Outgoing<'a> {
    pub exchange: String,
    pub routing_key: String,
    /// An unroutable message is an error instead of silently dropped.
    pub mandatory: bool,
    pub body: &'a [u8],
    pub props: BasicProperties,
}

impl Inner {
    /// Where `message`, newly published on `queue`, goes: the delay ladder while it must
    /// wait; else events to the exchange (for our queue and the users' own), send jobs to
    /// their queue.
    pub fn outgoing<'a>(&self, queue: QueueName, message: &'a Message) -> Outgoing<'a> {
        if ladder::step_for(message.wait(SystemTime::now())).is_some() {
            return self.waiting_place(queue, message);
        }
        let (exchange, routing_key, mandatory) = match queue {
            // Not mandatory: our own queue is bound with `#`, so it always routes.
            QueueName::Events => (self.names.exchange(), message.key.clone(), false),
            QueueName::Submit => (String::new(), self.names.queue(queue), true),
        };
        Outgoing {
            exchange,
            routing_key,
            mandatory,
            body: &message.body,
            props: persistent(message),
        }
    }

    /// Sends every message of `batch` on the confirm channel, then waits for the broker's
    /// confirms, all of them even after a refusal (so none is left pending); the first
    /// refusal, unroutable message or lost connection is the error.
    pub async fn publish_all(&self, batch: Vec<Outgoing<'_>>) -> Result<(), BusError> {
        let mut batch = batch.into_iter().peekable();
        while batch.peek().is_some() {
            self.publish_window(batch.by_ref().take(CONFIRM_WINDOW))
                .await?;
        }
        Ok(())
    }

    async fn publish_window(
        &self,
        window: impl Iterator<Item = Outgoing<'_>>,
    ) -> Result<(), BusError> {
        let link = self.link().await?;
        let mut confirms = Vec::new();
        let mut failed = None;
        for out in window {
            let sent = link
                .publish
                .basic_publish(
                    short(out.exchange.as_str())?,
                    short(out.routing_key.as_str())?,
                    BasicPublishOptions {
                        mandatory: out.mandatory,
                        ..Default::default()
                    },
                    out.body,
                    out.props,
                )
                .await;
            match sent {
                Ok(confirm) => confirms.push((confirm, out.exchange, out.routing_key)),
                Err(e) => {
                    failed = Some(backend(e));
                    break;
                }
            }
        }
        for (confirm, exchange, routing_key) in confirms {
            let checked = confirm
                .await
                .map_err(backend)
                .and_then(|c| accepted(c, &exchange, &routing_key));
            if let Err(e) = checked {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

/// Whether the broker took the message: acked, and (when mandatory) routed.
fn accepted(confirm: Confirmation, exchange: &str, routing_key: &str) -> Result<(), BusError> {
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
