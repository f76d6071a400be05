//! Where the events of every role go: the account's changes history (`store::changes`),
//! then the events queue, counted for `GET /v1/stats` and `/metrics`. Ingest and submit
//! both publish events; this is the one place that knows the two steps and their counters,
//! while each role decides what a failure means for it (ingest announces the change again
//! later, submit logs it: its send is done).
//!
//! Events go in batches: a folder sync that finds a thousand changes records them in one
//! store round trip and publishes them in one bus batch, instead of a thousand of each.
//! A batch is cut by size ([`BATCH_BYTES`]), so events with large bodies (text content)
//! never make one oversized store script or broker batch.

use std::ops::Range;

use crate::Services;
use crate::bus::{BusError, Message, QueueName};
use crate::counters::Counter;
use crate::model::Event;
use crate::store::StoreError;
use crate::store::changes::DEFAULT_MAX_CHANGES;

/// The most bytes of event JSON one store or bus round trip carries; a longer run of
/// events goes in several (an event larger than this goes alone).
pub const BATCH_BYTES: usize = 1 << 20;

/// Why events could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The changes history could not record them.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Record `events` in their accounts' histories, then publish them on the events queue with
/// the states the histories gave them, and count them for `GET /v1/stats`. Recorded first,
/// so that a consumer never sees a state the feed does not know; a failure of either is an
/// error, after which some of the events may be out and others not: the caller announces
/// them again later (under the same ids) rather than let any miss the history.
pub async fn publish(services: &Services, mut events: Vec<Event>) -> Result<(), PublishError> {
    record_batch(services, &mut events).await?;
    send_batch(services, &events).await?;
    Ok(())
}

/// Record `event` in its account's changes history; the account's new state, or `None`
/// when the account is gone (nothing is recorded for it then).
pub async fn record(services: &Services, event: &Event) -> Result<Option<String>, StoreError> {
    let mut one = [event.clone()];
    record_batch(services, &mut one).await?;
    let [event] = one;
    Ok(event.state)
}

/// Record `events` in their accounts' changes histories, one store round trip per account
/// and [`BATCH_BYTES`], and set the `state` of each (`None` when its account is gone:
/// nothing is recorded for it then).
pub async fn record_batch(services: &Services, events: &mut [Event]) -> Result<(), StoreError> {
    for run in events.chunk_by_mut(|a, b| a.account == b.account) {
        let mut recorded = Vec::with_capacity(run.len());
        for event in run.iter_mut() {
            // Recorded as published, without the state it is about to get.
            event.state = None;
            recorded.push(
                serde_json::to_vec(event)
                    .map_err(|e| StoreError::Corrupt(format!("event not encodable: {e}")))?,
            );
        }
        let parts = cut(recorded.iter().map(Vec::len));
        let mut recorded = recorded.into_iter();
        for part in parts {
            let batch: Vec<Vec<u8>> = recorded.by_ref().take(part.len()).collect();
            let states = services
                .store
                .append_changes(&run[0].account, batch, DEFAULT_MAX_CHANGES)
                .await?;
            for (i, event) in run[part].iter_mut().enumerate() {
                event.state = states.as_ref().and_then(|s| s.get(i)).map(u64::to_string);
            }
        }
    }
    Ok(())
}

/// Publish `event` on the events queue and count it.
pub async fn send(services: &Services, event: &Event) -> Result<(), BusError> {
    send_batch(services, std::slice::from_ref(event)).await
}

/// Publish `events` on the events queue, in order, one bus batch per [`BATCH_BYTES`], and
/// count each; each event of a batch the bus refuses counts as a publish error.
pub async fn send_batch(services: &Services, events: &[Event]) -> Result<(), BusError> {
    let mut messages = Vec::with_capacity(events.len());
    for event in events {
        let body = serde_json::to_vec(event).map_err(|e| BusError::Backend(e.to_string()))?;
        messages.push(Message::new(event.routing_key(), body));
    }
    let parts = cut(messages.iter().map(|m| m.body.len()));
    let mut messages = messages.into_iter();
    for part in parts {
        let batch: Vec<Message> = messages.by_ref().take(part.len()).collect();
        services
            .bus
            .publish_batch(QueueName::Events, batch)
            .await
            .inspect_err(|_| {
                metrics::counter!("imapapi_bus_errors_total", "op" => "publish")
                    .increment(part.len() as u64);
            })?;
        for event in &events[part] {
            services.counters.add(Counter::Event(event.event));
            metrics::counter!("imapapi_events_published_total", "event" => event.event.name())
                .increment(1);
        }
    }
    Ok(())
}

/// `sizes` cut into consecutive ranges adding up to at most [`BATCH_BYTES`] each (an item
/// larger than that alone in its range).
fn cut(sizes: impl Iterator<Item = usize>) -> Vec<Range<usize>> {
    let mut parts: Vec<Range<usize>> = Vec::new();
    let mut bytes = 0;
    for (i, size) in sizes.enumerate() {
        match parts.last_mut() {
            Some(part) if bytes + size <= BATCH_BYTES => {
                part.end = i + 1;
                bytes += size;
            }
            _ => {
                parts.push(i..i + 1);
                bytes = size;
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_by_size_in_order() {
        assert!(cut(std::iter::empty()).is_empty());
        assert_eq!(cut([10, 20, 30].into_iter()), vec![0..3]);
        let half = BATCH_BYTES / 2;
        assert_eq!(
            cut([half, half, 1, BATCH_BYTES * 3, 5].into_iter()),
            vec![0..2, 2..3, 3..4, 4..5],
            "full, then alone when larger than a batch"
        );
    }
}
