//! Request/reply between roles never touches the file: a request is handed to the node's
//! server over a bounded in-memory channel and answered on a oneshot, so it is kept apart
//! from the durable queues (and their writer) entirely.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::Inner;
use crate::bus::lock;
use crate::bus::{BusError, Replier, Request, RequestServer};

/// Requests waiting for one node; bounded so a stuck server pushes back on requesters
/// (who give up at their deadline) instead of growing memory.
const REQUEST_BACKLOG: usize = 256;

pub(super) type Incoming = (Vec<u8>, oneshot::Sender<Vec<u8>>);

/// Send a request to `node` and wait for its reply, at most `timeout`.
pub(super) async fn request(
    inner: &Inner,
    node: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, BusError> {
    let sender = lock(&inner.nodes)
        .get(node)
        .filter(|s| !s.is_closed())
        .cloned()
        .ok_or_else(|| BusError::NoRoute(node.to_string()))?;
    let (tx, rx) = oneshot::channel();
    let exchange = async {
        sender
            .send((body, tx))
            .await
            .map_err(|_| BusError::NoRoute(node.to_string()))?;
        // The server dropping the request unanswered is, to the caller, the same as
        // no answer in time.
        rx.await.map_err(|_| BusError::Timeout)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| BusError::Timeout)?
}

/// Register the server of `node`; at most one per node at a time.
pub(super) fn serve(inner: &Arc<Inner>, node: &str) -> Result<EmbeddedServer, BusError> {
    let mut nodes = lock(&inner.nodes);
    if nodes.get(node).is_some_and(|s| !s.is_closed()) {
        return Err(BusError::Backend(format!("node {node} is already served")));
    }
    let (tx, rx) = mpsc::channel(REQUEST_BACKLOG);
    nodes.insert(node.to_string(), tx.clone());
    Ok(EmbeddedServer {
        inner: Arc::downgrade(inner),
        node: node.to_string(),
        own: tx,
        rx,
    })
}

pub(super) struct EmbeddedServer {
    inner: Weak<Inner>,
    node: String,
    /// Our own sender, to tell our registration from a later server's for the same node.
    own: mpsc::Sender<Incoming>,
    rx: mpsc::Receiver<Incoming>,
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            let mut nodes = lock(&inner.nodes);
            if nodes
                .get(&self.node)
                .is_some_and(|s| s.same_channel(&self.own))
            {
                nodes.remove(&self.node);
            }
        }
    }
}

#[async_trait]
impl RequestServer for EmbeddedServer {
    async fn next(&mut self) -> Result<Request, BusError> {
        // Our own sender keeps the channel open, so `None` cannot happen while we exist.
        let (body, reply) = self.rx.recv().await.ok_or(BusError::Closed)?;
        Ok(Request {
            body,
            replier: Box::new(EmbeddedReplier(reply)),
        })
    }
}

struct EmbeddedReplier(oneshot::Sender<Vec<u8>>);

#[async_trait]
impl Replier for EmbeddedReplier {
    async fn reply(self: Box<Self>, body: Vec<u8>) -> Result<(), BusError> {
        // A requester that already gave up is not the server's failure.
        let _ = self.0.send(body);
        Ok(())
    }
}
