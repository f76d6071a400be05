//! Where the events of every role go: the account's changes history (`store::changes`),
//! then the events queue, counted for `GET /v1/stats` and `/metrics`. Ingest and submit
//! both publish events; this is the one place that knows the two steps and their counters,
//! while each role decides what a failure means for it (ingest announces the change again
//! later, submit logs it: its send is done).

use crate::Services;
use crate::bus::{BusError, Message, QueueName};
use crate::counters::Counter;
use crate::model::Event;
use crate::store::StoreError;
use crate::store::changes::DEFAULT_MAX_CHANGES;

/// Record `event` in its account's changes history; the account's new state, or `None`
/// when the account is gone (nothing is recorded for it then).
pub async fn record(services: &Services, event: &Event) -> Result<Option<String>, StoreError> {
    let recorded = serde_json::to_vec(event)
        .map_err(|e| StoreError::Corrupt(format!("event not encodable: {e}")))?;
    let state = services
        .store
        .append_change(&event.account, &recorded, DEFAULT_MAX_CHANGES)
        .await?;
    Ok(state.map(|s| s.to_string()))
}

/// Publish `event` on the events queue and count it.
pub async fn send(services: &Services, event: &Event) -> Result<(), BusError> {
    let body = serde_json::to_vec(event).map_err(|e| BusError::Backend(e.to_string()))?;
    services
        .bus
        .publish(QueueName::Events, Message::new(event.routing_key(), body))
        .await
        .inspect_err(|_| {
            metrics::counter!("imapapi_bus_errors_total", "op" => "publish").increment(1);
        })?;
    services.counters.add(Counter::Event(event.event));
    metrics::counter!("imapapi_events_published_total", "event" => event.event.name()).increment(1);
    Ok(())
}
