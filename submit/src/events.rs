//! The sending events: `messageSent` (with the SMTP server's answer), `messageDeliveryError`
//! (each failed attempt) and `messageFailed` (given up), published like ingest's events so
//! webhooks and queue consumers get them the same way.

use imapapi_common::Services;
use imapapi_common::event_sink;
use imapapi_common::model::event_id::change_id;
use imapapi_common::model::{Event, EventKind, OutboxEntry};
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
    event.state = match event_sink::record(services, &event).await {
        Ok(state) => state,
        // Its event still goes out, without a state.
        Err(error) => {
            tracing::error!(queue_id = %entry.queue_id, event = kind.name(), %error,
                "send event not recorded in the changes history");
            None
        }
    };
    if let Err(error) = event_sink::send(services, &event).await {
        tracing::error!(queue_id = %entry.queue_id, event = kind.name(), %error,
            "send event not published");
    }
}
