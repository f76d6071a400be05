//! Keeps messages that are being worked on invisible to other consumers: each consumer
//! registers its unsettled receipts here, and a task renews their visibility timeout every
//! third of it for as long as any of them is unsettled, so a slow handler (a large send, a
//! webhook that takes its time) never sees its message handed to a second consumer. The
//! task ends once the consumer and all its deliveries are gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;

use super::batch::MAX_ENTRIES;
use super::topology::sdk_error;
use crate::bus::lock;

/// The unsettled receipts of one consumer, by slot number.
#[derive(Default)]
pub(super) struct InFlight {
    receipts: Mutex<HashMap<u64, String>>,
    next_slot: Mutex<u64>,
}

impl InFlight {
    /// Registers `receipt`; returns its slot for [`InFlight::settle`].
    pub fn hold(&self, receipt: &str) -> u64 {
        let slot = {
            let mut next = lock(&self.next_slot);
            *next += 1;
            *next
        };
        lock(&self.receipts).insert(slot, receipt.to_string());
        slot
    }

    pub fn settle(&self, slot: u64) {
        lock(&self.receipts).remove(&slot);
    }

    fn snapshot(&self) -> Vec<String> {
        lock(&self.receipts).values().cloned().collect()
    }
}

/// Starts renewing the visibility of `in_flight`'s receipts on the queue at `url`.
pub(super) fn spawn_extender(
    client: Client,
    url: String,
    visibility_secs: i32,
    in_flight: Weak<InFlight>,
) {
    let period = Duration::from_secs(u64::try_from(visibility_secs.max(1)).unwrap_or(30)) / 3;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(held) = in_flight.upgrade() else {
                return;
            };
            let receipts = held.snapshot();
            drop(held);
            change_visibility(&client, &url, &receipts, visibility_secs).await;
        }
    });
}

/// Sets the visibility timeout of `receipts` on the queue at `url` to `seconds`, in batch
/// calls of ten. A receipt settled meanwhile fails on its own; only a failed call is
/// logged (the messages then reappear when their current timeout ends).
pub(super) async fn change_visibility(
    client: &Client,
    url: &str,
    receipts: &[String],
    seconds: i32,
) {
    for chunk in receipts.chunks(MAX_ENTRIES) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(r)
                    .visibility_timeout(seconds)
                    .build()
                    .expect("id and receipt are set")
            })
            .collect();
        if let Err(e) = client
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            tracing::warn!(error = %sdk_error("change_message_visibility_batch", e), seconds,
                "could not change the visibility of received messages");
        }
    }
}

/// Keeps the registry alive for the extender (held by a consumer and by each delivery).
pub(super) type SharedInFlight = Arc<InFlight>;
