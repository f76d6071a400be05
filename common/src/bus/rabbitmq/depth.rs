//! Queue depth on RabbitMQ, for monitoring. AMQP's only count is the `message_count` of a
//! passive `queue.declare`: ready messages, not those delivered and unacked, so in flight
//! stays unknown. A message waiting for a retry or a scheduled time sits in one of the
//! work queue's delay-ladder queues (`ladder.rs`), so those are summed into ready.
//!
//! The declares go out on a channel of their own, since a passive declare of a missing
//! queue closes its channel, and all at once: lapin pipelines them and the broker answers
//! in order, so the two dozen queues cost one round trip beyond opening the channel.
//! Dropping the channel closes it in the background.

use futures::future::try_join_all;
use lapin::Channel;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;

use super::ladder;
use super::link::Inner;
use super::wire::{backend, short};
use crate::bus::{BusError, QueueDepth, QueueName};

/// Ready messages of `queue` (its ladder included) and its dead letters.
pub(super) async fn depth(inner: &Inner, queue: QueueName) -> Result<QueueDepth, BusError> {
    let n = &inner.names;
    let link = inner.link().await?;
    let ch = link.conn.create_channel().await.map_err(backend)?;
    let waiting = ladder::steps().map(|step| n.delay(queue, step));
    let names = [n.queue(queue), n.dlq(queue)].into_iter().chain(waiting);
    let counts = try_join_all(names.map(|name| message_count(&ch, name))).await?;
    let [work, dead, ladder @ ..] = counts.as_slice() else {
        unreachable!("the work queue and the dead letters are always asked for")
    };
    Ok(QueueDepth {
        ready: work + ladder.iter().sum::<u64>(),
        in_flight: None,
        dead_letters: *dead,
    })
}

/// The ready messages of the queue `name`, which must exist.
async fn message_count(ch: &Channel, name: String) -> Result<u64, BusError> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let queue = ch
        .queue_declare(short(name)?, passive, FieldTable::default())
        .await
        .map_err(backend)?;
    Ok(u64::from(queue.message_count()))
}
