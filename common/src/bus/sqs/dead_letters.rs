//! Reading dead letters for `GET /v1/deadletters` without taking them: messages are
//! received with a short visibility timeout, then made visible again at once. SQS has no
//! order, so they are sorted by the time SQS accepted them, oldest first.

use std::collections::HashSet;

use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::batch::MAX_ENTRIES;
use super::link::Inner;
use super::topology::sdk_error;
use super::visibility::change_visibility;
use super::wire::{Incoming, incoming};
use crate::bus::{BusError, Message, QueueName};

/// How long peeked messages stay hidden if giving them back fails.
const PEEK_VISIBILITY_SECS: i32 = 5;
/// A long poll of one second: it asks every SQS server (a short poll samples some),
/// so a listing is complete.
const PEEK_WAIT_SECS: i32 = 1;

/// Up to `limit` dead letters of `queue`, oldest first, left in place.
pub(super) async fn peek(
    inner: &Inner,
    queue: QueueName,
    limit: usize,
) -> Result<Vec<Message>, BusError> {
    let url = inner.urls.dead(queue);
    let mut seen = HashSet::new();
    let mut got: Vec<Incoming> = Vec::new();
    let result = async {
        while got.len() < limit {
            let want = (limit - got.len()).min(MAX_ENTRIES);
            let out = inner
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(i32::try_from(want).unwrap_or(1))
                .wait_time_seconds(PEEK_WAIT_SECS)
                .visibility_timeout(PEEK_VISIBILITY_SECS)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(|e| sdk_error("receive_message", e))?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in &messages {
                match incoming(m) {
                    Ok(i) if seen.insert(i.sqs_id.clone()) => got.push(i),
                    Ok(_) => {}
                    Err(why) => tracing::warn!(why, "skipping an unreadable dead letter"),
                }
            }
        }
        Ok::<_, BusError>(())
    }
    .await;
    give_back(inner, url, &got).await;
    result?;
    got.sort_by_key(|i| i.sent_at);
    got.truncate(limit);
    let mut out = Vec::with_capacity(got.len());
    for mut i in got {
        if let Some(key) = &i.body_ref {
            i.message.body = inner.overflow.get(key).await?.unwrap_or_default();
        }
        out.push(i.message);
    }
    Ok(out)
}

async fn give_back(inner: &Inner, url: &str, got: &[Incoming]) {
    let receipts: Vec<String> = got.iter().map(|i| i.receipt.clone()).collect();
    change_visibility(&inner.client, url, &receipts, 0).await;
}
