//! The sending events: `messageSent` (with the SMTP server's answer), `messageDeliveryError`
//! (each failed attempt) and `messageFailed` (given up), published like ingest's events so
//! webhooks and queue consumers get them the same way.

use imapapi_common::Services;
use imapapi_common::bus::{Message, QueueName};
use imapapi_common::counters::Counter;
use imapapi_common::model::event_id::change_id;
use imapapi_common::model::{Event, EventKind, OutboxEntry};
use imapapi_common::store::changes::DEFAULT_MAX_CHANGES;
use serde_json::json;

/// Publish one event about `entry`; a failure is logged, since the send itself is done.
pub async fn publish(services: &Services, entry: &OutboxEntry, kind: EventKind, detail: &str) {
    let data = match kind {
        EventKind::MessageSent => json!({
            "messageId": entry.message_id,
            "queueId": entry.queue_id,
            "response": detail,
            "envelope": entry.envelope,
        }),
        _ => json!({
            "messageId": entry.message_id,
            "queueId": entry.queue_id,
            "error": detail,
            "attempt": entry.attempts,
            "envelope": entry.envelope,
        }),
    };
    // A send's events are named by its queue id (and attempt): announced again after a
    // crash between the send and the ack, they keep their ids.
    let attempt = match kind {
        EventKind::MessageDeliveryError => entry.attempts,
        _ => 0,
    };
    let id = change_id(
        &entry.account,
        kind,
        &[entry.queue_id.as_str().into(), attempt.into()],
    );
    let mut event = Event::new(&entry.account, kind, None, data).with_id(id);
    event.state = record(services, &event).await;
    let body = match serde_json::to_vec(&event) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a send event");
            return;
        }
    };
    match services
        .bus
        .publish(QueueName::Events, Message::new(event.routing_key(), body))
        .await
    {
        Ok(()) => {
            services.counters.add(Counter::Event(kind));
            metrics::counter!("imapapi_events_published_total", "event" => kind.name())
                .increment(1);
        }
        Err(error) => {
            metrics::counter!("imapapi_bus_errors_total", "op" => "publish").increment(1);
            tracing::error!(queue_id = %entry.queue_id, event = kind.name(), %error,
                "send event not published")
        }
    }
}

/// Record `event` in the account's changes history; its state, or `None` when that failed
/// (logged: the send is done, and its event still goes out).
async fn record(services: &Services, event: &Event) -> Option<String> {
    let recorded = serde_json::to_vec(event).ok()?;
    match services
        .store
        .append_change(&event.account, &recorded, DEFAULT_MAX_CHANGES)
        .await
    {
        Ok(state) => state.map(|s| s.to_string()),
        Err(error) => {
            tracing::error!(event = event.event.name(), %error,
                "send event not recorded in the changes history");
            None
        }
    }
}
