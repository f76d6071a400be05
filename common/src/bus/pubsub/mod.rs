//! Request/reply to a named ingest node over Redis pub/sub: the [`NodeRequests`] transport
//! of a deployment whose work queues have no reply path (SQS), which has a Redis anyway;
//! and, for the same deployment, the notices to every ingest process (`notices.rs`).
//!
//! | channel | who subscribes | carries |
//! | --- | --- | --- |
//! | `<p>:node:<node>` | the node serving requests (one subscription per `serve`) | requests (`frame.rs`) |
//! | `<p>:reply:<uuid>` | one requesting bus | replies, matched by correlation id |
//! | `<p>:accounts` | every ingest process (one subscription each) | "the accounts changed" notices (empty payload) |
//!
//! `PUBLISH` answers how many subscribers received the request, so a node nobody serves is
//! `NoRoute` at once, as RabbitMQ's `mandatory` flag gives. Nothing is stored: a request
//! needs no durability (the caller times out and may retry), and a node that goes away
//! takes its route with it. Pub/sub channels ignore Redis database numbers, so the prefix
//! alone keeps deployments (and tests) on one Redis apart.

mod frame;
mod notices;
mod replies;
mod server;

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use self::frame::RequestFrame;
pub use self::notices::RedisNotices;
use self::replies::ReplyRouter;
use self::server::PubSubServer;
use super::{BusError, NodeRequests, RequestServer};

/// Node requests over Redis pub/sub.
pub struct RedisNodeRequests {
    client: redis::Client,
    con: ConnectionManager,
    prefix: String,
    replies: ReplyRouter,
}

impl RedisNodeRequests {
    /// Uses `client` for subscriptions and `con` for publishing; channels start with
    /// `prefix:`.
    pub fn new(client: redis::Client, con: ConnectionManager, prefix: &str) -> RedisNodeRequests {
        let reply_channel = format!("{prefix}:reply:{}", uuid::Uuid::new_v4().simple());
        RedisNodeRequests {
            replies: ReplyRouter::new(client.clone(), reply_channel),
            client,
            con,
            prefix: prefix.to_string(),
        }
    }

    fn node_channel(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }
}

#[async_trait]
impl NodeRequests for RedisNodeRequests {
    async fn request(
        &self,
        node: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, BusError> {
        let exchange = async {
            self.replies.listen().await?;
            let waiting = self.replies.expect();
            let frame = RequestFrame {
                correlation: waiting.correlation,
                deadline: SystemTime::now() + timeout,
                reply_channel: self.replies.channel.clone(),
                body,
            };
            let receivers: i64 = redis::cmd("PUBLISH")
                .arg(self.node_channel(node))
                .arg(frame.encode())
                .query_async(&mut self.con.clone())
                .await
                .map_err(|e| BusError::Backend(e.to_string()))?;
            if receivers == 0 {
                return Err(BusError::NoRoute(node.to_string()));
            }
            let mut waiting = waiting;
            (&mut waiting.reply).await.map_err(|_| BusError::Timeout)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| BusError::Timeout)?
    }

    async fn serve(&self, node: &str) -> Result<Box<dyn RequestServer>, BusError> {
        let mut server = PubSubServer {
            client: self.client.clone(),
            con: self.con.clone(),
            channel: self.node_channel(node),
            messages: None,
        };
        // Subscribed before returning, so requests sent after `serve` reach this server.
        server.subscribe().await?;
        Ok(Box::new(server))
    }
}
