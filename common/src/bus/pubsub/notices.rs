//! Notices to every listening process over Redis pub/sub (channel `<p>:accounts`): each
//! listener holds a subscription of its own, and `PUBLISH` reaches whoever is subscribed at
//! that moment. Nothing is stored, which suits a notice whose loss costs only a scan
//! interval. A lost subscription is made again, and the listener then reports one notice
//! for whatever it may have missed.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::aio::{ConnectionManager, PubSubStream};

use crate::bus::{AccountNotices, BusError, NoticeListener};

/// Pause before subscribing again after a lost subscription, so that a Redis that keeps
/// refusing does not turn `next` into a busy loop.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(200);

fn backend(e: redis::RedisError) -> BusError {
    BusError::Backend(e.to_string())
}

/// Account notices over Redis pub/sub.
pub struct RedisNotices {
    client: redis::Client,
    con: ConnectionManager,
    channel: String,
}

impl RedisNotices {
    /// Uses `client` for subscriptions and `con` for publishing; the channel starts with
    /// `prefix:`.
    pub fn new(client: redis::Client, con: ConnectionManager, prefix: &str) -> RedisNotices {
        RedisNotices {
            client,
            con,
            channel: format!("{prefix}:accounts"),
        }
    }
}

#[async_trait]
impl AccountNotices for RedisNotices {
    async fn announce_accounts_changed(&self) -> Result<(), BusError> {
        // How many received it does not matter: none listening is no error.
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(&[] as &[u8])
            .query_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn listen_accounts_changed(&self) -> Result<Box<dyn NoticeListener>, BusError> {
        let mut listener = PubSubListener {
            client: self.client.clone(),
            channel: self.channel.clone(),
            messages: None,
        };
        // Subscribed before returning, so notices announced after this reach it.
        listener.subscribe().await?;
        Ok(Box::new(listener))
    }
}

struct PubSubListener {
    client: redis::Client,
    channel: String,
    messages: Option<PubSubStream>,
}

impl PubSubListener {
    async fn subscribe(&mut self) -> Result<(), BusError> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(backend)?;
        pubsub.subscribe(&self.channel).await.map_err(backend)?;
        self.messages = Some(pubsub.into_on_message());
        Ok(())
    }
}

#[async_trait]
impl NoticeListener for PubSubListener {
    async fn next(&mut self) -> Result<(), BusError> {
        loop {
            let Some(messages) = self.messages.as_mut() else {
                tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
                match self.subscribe().await {
                    // Whatever was announced while we were not subscribed is lost: say so.
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for account notices failed; retrying");
                        continue;
                    }
                }
            };
            if messages.next().await.is_some() {
                return Ok(());
            }
            tracing::warn!(channel = %self.channel, "account notice subscription lost; subscribing again");
            self.messages = None;
        }
    }
}
