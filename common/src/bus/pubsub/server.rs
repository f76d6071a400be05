//! The serving node's side: a subscription of its own to the node's request channel
//! (dropping the server ends it, and with it the route), and a replier per request that
//! publishes to the requester's reply channel. Requests past their deadline are skipped:
//! nobody waits for them any more.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{ConnectionManager, PubSubStream};
use uuid::Uuid;

use super::frame::{RequestFrame, encode_reply};
use crate::bus::{BusError, Replier, Request, RequestServer};

/// Pause before subscribing again after a lost subscription, so that a Redis that keeps
/// refusing does not turn `next` into a busy loop.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(200);

pub(super) struct PubSubServer {
    pub client: redis::Client,
    pub con: ConnectionManager,
    pub channel: String,
    pub messages: Option<PubSubStream>,
}

impl PubSubServer {
    pub async fn subscribe(&mut self) -> Result<(), BusError> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(backend)?;
        pubsub.subscribe(&self.channel).await.map_err(backend)?;
        self.messages = Some(pubsub.into_on_message());
        Ok(())
    }
}

fn backend(e: redis::RedisError) -> BusError {
    BusError::Backend(e.to_string())
}

#[async_trait]
impl RequestServer for PubSubServer {
    async fn next(&mut self) -> Result<Request, BusError> {
        loop {
            let Some(messages) = self.messages.as_mut() else {
                tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
                if let Err(e) = self.subscribe().await {
                    tracing::warn!(error = %e, "subscribing to node requests failed; retrying");
                }
                continue;
            };
            let Some(msg) = messages.next().await else {
                tracing::warn!(channel = %self.channel, "node request subscription lost; subscribing again");
                self.messages = None;
                continue;
            };
            let Some(frame) = RequestFrame::decode(msg.get_payload_bytes()) else {
                tracing::debug!(channel = %self.channel, "skipping a payload that is no request frame");
                continue;
            };
            if frame.deadline <= SystemTime::now() {
                continue;
            }
            return Ok(Request {
                body: frame.body,
                replier: Box::new(PubSubReplier {
                    con: self.con.clone(),
                    channel: frame.reply_channel,
                    correlation: frame.correlation,
                }),
            });
        }
    }
}

struct PubSubReplier {
    con: ConnectionManager,
    channel: String,
    correlation: Uuid,
}

#[async_trait]
impl Replier for PubSubReplier {
    async fn reply(mut self: Box<Self>, body: Vec<u8>) -> Result<(), BusError> {
        let payload = encode_reply(self.correlation, &body);
        // Nobody listening any more (the requester gave up or went away) is not an error.
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async(&mut self.con)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
