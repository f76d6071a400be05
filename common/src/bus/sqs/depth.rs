//! Queue depth on SQS, for monitoring: `GetQueueAttributes` on the work queue and on its
//! dead-letter queue, both at once. SQS's counts are approximate (eventually consistent
//! across its servers, about a minute behind at worst), so the result is too.

use aws_sdk_sqs::types::QueueAttributeName;

use super::link::Inner;
use super::topology::sdk_error;
use crate::bus::{BusError, QueueDepth, QueueName};

/// The approximate counts of one queue.
struct Counts {
    /// Visible: waiting for a receive.
    visible: u64,
    /// Received and neither deleted nor given back yet.
    not_visible: u64,
    /// Sent with a delay that has not passed (a retry's backoff, a scheduled send).
    delayed: u64,
}

impl Counts {
    fn total(&self) -> u64 {
        self.visible + self.not_visible + self.delayed
    }
}

/// Ready (visible or delayed), in flight (not visible) and dead messages of `queue`.
pub(super) async fn depth(inner: &Inner, queue: QueueName) -> Result<QueueDepth, BusError> {
    let (work, dead) = tokio::try_join!(
        counts(inner, inner.urls.work(queue)),
        counts(inner, inner.urls.dead(queue)),
    )?;
    Ok(QueueDepth {
        ready: work.visible + work.delayed,
        in_flight: Some(work.not_visible),
        // Every message there is dead, whether a listing holds it hidden or not.
        dead_letters: dead.total(),
    })
}

async fn counts(inner: &Inner, url: &str) -> Result<Counts, BusError> {
    use QueueAttributeName::{
        ApproximateNumberOfMessages, ApproximateNumberOfMessagesDelayed,
        ApproximateNumberOfMessagesNotVisible,
    };
    let out = inner
        .client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(ApproximateNumberOfMessages)
        .attribute_names(ApproximateNumberOfMessagesNotVisible)
        .attribute_names(ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| sdk_error("get_queue_attributes", e))?;
    let attributes = out.attributes.unwrap_or_default();
    let count = |name: QueueAttributeName| -> Result<u64, BusError> {
        // SQS leaves out an attribute it has nothing to say about; that is none.
        let Some(raw) = attributes.get(&name) else {
            return Ok(0);
        };
        raw.parse()
            .map_err(|_| BusError::Backend(format!("SQS {name}: not a count: {raw:?} ({url})")))
    };
    Ok(Counts {
        visible: count(ApproximateNumberOfMessages)?,
        not_visible: count(ApproximateNumberOfMessagesNotVisible)?,
        delayed: count(ApproximateNumberOfMessagesDelayed)?,
    })
}
