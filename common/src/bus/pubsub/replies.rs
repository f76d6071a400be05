//! The requester's side: one subscription per bus to a reply channel of its own, and the
//! waiters for replies by correlation id. The subscription is made on the first request and
//! again after it is lost; a request in flight when it is lost ends in `Timeout`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::frame::decode_reply;
use crate::bus::{BusError, lock};

type Waiters = Arc<Mutex<HashMap<Uuid, oneshot::Sender<Vec<u8>>>>>;

/// How long subscribing to the reply channel may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Routes replies arriving on `channel` to their waiters.
pub(super) struct ReplyRouter {
    client: redis::Client,
    pub channel: String,
    waiters: Waiters,
    listener: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

/// A registered wait for one reply; dropping it forgets the waiter (timeout, cancel).
pub(super) struct Waiting<'a> {
    waiters: &'a Waiters,
    pub correlation: Uuid,
    pub reply: oneshot::Receiver<Vec<u8>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(self.waiters).remove(&self.correlation);
    }
}

impl ReplyRouter {
    pub fn new(client: redis::Client, channel: String) -> ReplyRouter {
        ReplyRouter {
            client,
            channel,
            waiters: Arc::default(),
            listener: tokio::sync::Mutex::new(None),
        }
    }

    /// Subscribes to the reply channel unless a live subscription exists.
    pub async fn listen(&self) -> Result<(), BusError> {
        let mut listener = self.listener.lock().await;
        if listener.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribe)
            .await
            .map_err(|_| BusError::Backend("subscribing to the reply channel timed out".into()))?
            .map_err(|e| BusError::Backend(e.to_string()))?;
        let waiters = self.waiters.clone();
        *listener = Some(tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(msg) = messages.next().await {
                let Some((id, body)) = decode_reply(msg.get_payload_bytes()) else {
                    continue;
                };
                if let Some(waiter) = lock(&waiters).remove(&id) {
                    let _ = waiter.send(body.to_vec());
                }
            }
            tracing::warn!("reply subscription lost; the next request subscribes again");
        }));
        Ok(())
    }

    /// Registers a waiter for a new correlation id.
    pub fn expect(&self) -> Waiting<'_> {
        let correlation = Uuid::new_v4();
        let (tx, reply) = oneshot::channel();
        lock(&self.waiters).insert(correlation, tx);
        Waiting {
            waiters: &self.waiters,
            correlation,
            reply,
        }
    }
}

impl Drop for ReplyRouter {
    fn drop(&mut self) {
        if let Some(handle) = self.listener.get_mut().take() {
            handle.abort();
        }
    }
}
