//! The connection: one per bus, reconnected (and the topology declared again) by the first
//! call that finds it lost, with a confirm-mode channel for publishing and one for requests
//! and their direct replies. Also where a retried or redriven message goes (its work queue,
//! the delay ladder, or the dead letters); the publishing itself is in `publish.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::oneshot;

use super::DIRECT_REPLY_TO;
use super::ladder;
use super::names::Names;
use super::publish::Outgoing;
use super::wire::{backend, persistent};
use crate::bus::lock;
use crate::bus::{BusError, Message, QueueName, RetryPolicies};

/// One live connection with the channels the bus itself uses.
#[derive(Clone)]
pub(super) struct Link {
    pub conn: Arc<Connection>,
    /// Confirm mode; work-queue publishes, retries and dead-lettering.
    pub publish: Channel,
    /// Confirm mode, consuming direct reply-to: requests must be published on the channel
    /// that consumes their replies.
    pub requests: Channel,
}

impl Link {
    fn alive(&self) -> bool {
        self.conn.status().connected()
            && self.publish.status().connected()
            && self.requests.status().connected()
    }
}

pub(super) type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// What the bus and its consumers, ackers and servers share.
pub(super) struct Inner {
    pub url: String,
    pub names: Names,
    pub policies: RetryPolicies,
    pub link: tokio::sync::Mutex<Option<Link>>,
    /// Requests waiting for their reply, by correlation id.
    pub pending: Pending,
}

impl Inner {
    /// The current connection, reconnecting (and declaring the topology) if it was lost.
    pub async fn link(&self) -> Result<Link, BusError> {
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

    /// Publishes on the confirm channel and waits for the broker's confirm. With
    /// `mandatory`, an unroutable message is an error instead of silently dropped.
    pub async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
    ) -> Result<(), BusError> {
        self.publish_all(vec![Outgoing {
            exchange: exchange.to_string(),
            routing_key: routing_key.to_string(),
            mandatory,
            body,
            props,
        }])
        .await
    }

    /// Where `message` waits for delivery: the delay ladder while it must wait, else
    /// `queue` itself (for events, our own queue only: a retry or a delayed hop is not a new
    /// event for the consumers users bound to the exchange).
    pub fn waiting_place<'a>(&self, queue: QueueName, message: &'a Message) -> Outgoing<'a> {
        let names = &self.names;
        let target = match ladder::step_for(message.wait(SystemTime::now())) {
            Some(step) => names.delay(queue, step),
            None => names.queue(queue),
        };
        Outgoing {
            exchange: String::new(),
            routing_key: target,
            mandatory: true,
            body: &message.body,
            props: persistent(message),
        }
    }

    /// Put `message` where it waits for delivery ([`Inner::waiting_place`]).
    pub async fn requeue(&self, queue: QueueName, message: &Message) -> Result<(), BusError> {
        self.publish_all(vec![self.waiting_place(queue, message)])
            .await
    }

    /// Put `message` in the dead letters of `queue`.
    pub async fn bury(&self, queue: QueueName, message: &Message) -> Result<(), BusError> {
        let target = self.names.dlq(queue);
        self.publish_confirmed("", &target, &message.body, persistent(message), true)
            .await
    }
}
