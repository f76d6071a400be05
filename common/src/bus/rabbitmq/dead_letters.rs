//! Redriving and dropping RabbitMQ dead letters. A queue cannot be searched by id, so a
//! call takes dead letters one at a time (`basic.get`, unacked) on a channel of its own, up
//! to its limit: a selected one is published back to its work queue (redrive, confirmed)
//! and then acked off the dead-letter queue; the others stay unacked and go back to the
//! dead-letter queue, in their place, when the channel closes. Publishing before acking
//! means a crash between the two duplicates a message, never loses it.

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use uuid::Uuid;

use super::link::Inner;
use super::wire::{backend, short, to_message};
use crate::bus::{BusError, QueueName, all_found, dead_letter_batch, selected};

/// What becomes of a selected dead letter.
#[derive(Clone, Copy)]
pub(super) enum Action {
    /// Back to its work queue with its attempts reset.
    Redrive,
    /// Gone for good.
    Drop,
}

/// Applies `action` to the selected dead letters of `queue` among the next `limit`;
/// returns how many.
pub(super) async fn sweep(
    inner: &Inner,
    queue: QueueName,
    ids: Option<&[Uuid]>,
    limit: usize,
    action: Action,
) -> Result<usize, BusError> {
    if ids.is_some_and(<[Uuid]>::is_empty) {
        return Ok(0);
    }
    let link = inner.link().await?;
    let ch = link.conn.create_channel().await.map_err(backend)?;
    let result = take(inner, &ch, queue, ids, limit, action).await;
    // Closing is what hands back the dead letters looked at and left alone.
    let closed = ch.close(200, "OK".into()).await.map_err(backend);
    let n = result?;
    closed?;
    Ok(n)
}

async fn take(
    inner: &Inner,
    ch: &Channel,
    queue: QueueName,
    ids: Option<&[Uuid]>,
    limit: usize,
    action: Action,
) -> Result<usize, BusError> {
    let name = short(inner.names.dlq(queue))?;
    let mut hits = 0;
    for _ in 0..dead_letter_batch(limit) {
        let got = ch
            .basic_get(name.clone(), BasicGetOptions { no_ack: false })
            .await
            .map_err(backend)?;
        let Some(got) = got else { break };
        let acker = got.delivery.acker.clone();
        let mut message = to_message(got.delivery);
        if !selected(ids, message.id) {
            continue;
        }
        if let Action::Redrive = action {
            message.attempt = 0;
            message.not_before = None;
            inner.requeue(queue, &message).await?;
        }
        match acker.ack(BasicAckOptions::default()).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(BusError::Backend(
                    "channel closed before the dead letter was acked; it stays listed".into(),
                ));
            }
            Err(e) => return Err(backend(e)),
        }
        hits += 1;
        if all_found(ids, hits) {
            break;
        }
    }
    Ok(hits)
}
