//! Consuming a work queue. A task per consumer long-polls SQS for as many messages as the
//! consumer has free prefetch slots (at most 10 a call) and hands them over through a
//! channel of that size, so `Consumer::next` is cancel-safe and never holds more than its
//! prefetch. Each delivery is settled by deleting it (ack), by sending a copy with one more
//! attempt and then deleting it (retry, dead-letter: a crash in between gives a duplicate,
//! never a loss), or, dropped unsettled, by making it visible again at once.
//!
//! A message that arrives before its `not-before` (a wait beyond SQS's 15-minute delay
//! cap) is sent again with the rest of its wait and deleted, before anyone sees it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::batch::MAX_ENTRIES;
use super::link::Inner;
use super::topology::sdk_error;
use super::visibility::{InFlight, SharedInFlight, spawn_extender};
use super::wire::{Incoming, incoming};
use crate::bus::{
    Acker, BusError, Consumer, DELAY_TOLERANCE, Delivery, Message, QueueName, RetryOutcome,
};

/// SQS's longest long poll.
const LONG_POLL_SECS: i32 = 20;
/// Pause after a failed receive, so that an unreachable SQS is not polled in a busy loop.
const RECEIVE_PAUSE: Duration = Duration::from_secs(1);

pub(super) struct SqsConsumer {
    deliveries: mpsc::Receiver<Delivery>,
    poller: tokio::task::JoinHandle<()>,
    _in_flight: SharedInFlight,
}

impl Drop for SqsConsumer {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

#[async_trait]
impl Consumer for SqsConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        self.deliveries.recv().await.ok_or(BusError::Closed)
    }
}

/// Starts consuming `queue` with at most `prefetch` unsettled deliveries.
pub(super) fn consume(inner: Arc<Inner>, queue: QueueName, prefetch: u16) -> SqsConsumer {
    let prefetch = usize::from(prefetch.max(1));
    let (tx, deliveries) = mpsc::channel(prefetch);
    let in_flight: SharedInFlight = Arc::new(InFlight::default());
    spawn_extender(
        inner.client.clone(),
        inner.urls.work(queue).to_string(),
        inner.visibility_secs,
        Arc::downgrade(&in_flight),
    );
    let poller = tokio::spawn(poll(
        inner,
        queue,
        Arc::new(Semaphore::new(prefetch)),
        in_flight.clone(),
        tx,
    ));
    SqsConsumer {
        deliveries,
        poller,
        _in_flight: in_flight,
    }
}

async fn poll(
    inner: Arc<Inner>,
    queue: QueueName,
    slots: Arc<Semaphore>,
    in_flight: SharedInFlight,
    tx: mpsc::Sender<Delivery>,
) {
    let url = inner.urls.work(queue).to_string();
    loop {
        let Ok(first) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut permits = vec![first];
        while permits.len() < MAX_ENTRIES {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let received = inner
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(i32::try_from(permits.len()).unwrap_or(1))
            .wait_time_seconds(LONG_POLL_SECS)
            .visibility_timeout(inner.visibility_secs)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(queue = queue.as_str(), error = %sdk_error("receive_message", e), "receiving failed; retrying");
                tokio::time::sleep(RECEIVE_PAUSE).await;
                continue;
            }
        };
        for (m, permit) in messages.iter().zip(permits) {
            let Some(delivery) = admit(&inner, queue, &url, m, permit, &in_flight).await else {
                continue;
            };
            if tx.send(delivery).await.is_err() {
                // The consumer is gone; the delivery dropped with the send is made visible.
                return;
            }
        }
    }
}

/// The delivery for a received message, or `None` when it is not for a handler: early (sent
/// again for the rest of its wait), unreadable, or a duplicate whose stored body is gone.
async fn admit(
    inner: &Arc<Inner>,
    queue: QueueName,
    url: &str,
    m: &aws_sdk_sqs::types::Message,
    permit: OwnedSemaphorePermit,
    in_flight: &SharedInFlight,
) -> Option<Delivery> {
    let mut got = match incoming(m) {
        Ok(got) => got,
        Err(why) => {
            // Left alone: after MAX_RECEIVES receives SQS moves it to the dead letters.
            tracing::warn!(
                queue = queue.as_str(),
                why,
                "unreadable SQS message left for redrive"
            );
            return None;
        }
    };
    if got.message.wait(SystemTime::now()) > DELAY_TOLERANCE {
        hop(inner, url, &got).await;
        return None;
    }
    if let Some(key) = &got.body_ref {
        match inner.overflow.get(key).await {
            Ok(Some(body)) => got.message.body = body,
            Ok(None) => {
                tracing::info!(queue = queue.as_str(), id = %got.message.id, "dropping a redelivered copy of a message already acked");
                let _ = inner.delete(url, &got.receipt).await;
                return None;
            }
            Err(e) => {
                tracing::warn!(queue = queue.as_str(), error = %e, "large body unavailable; the message comes back");
                return None;
            }
        }
    }
    let slot = in_flight.hold(&got.receipt);
    Some(Delivery {
        message: got.message.clone(),
        acker: Box::new(SqsAcker {
            inner: inner.clone(),
            queue,
            receipt: got.receipt,
            body_ref: got.body_ref,
            message: got.message,
            in_flight: in_flight.clone(),
            slot,
            settled: false,
            _permit: permit,
        }),
    })
}

/// Sends an early message again for the rest of its wait, then deletes this copy.
async fn hop(inner: &Inner, url: &str, got: &Incoming) {
    match inner.send(url, &got.message, got.body_ref.as_deref()).await {
        Ok(()) => {
            if let Err(e) = inner.delete(url, &got.receipt).await {
                tracing::debug!(error = %e, "delete after a delay hop failed; a duplicate hop follows");
            }
        }
        Err(e) => tracing::warn!(error = %e, "delay hop failed; the message comes back"),
    }
}

struct SqsAcker {
    inner: Arc<Inner>,
    queue: QueueName,
    receipt: String,
    body_ref: Option<String>,
    /// Needed to send a copy for a retry or to the dead letters.
    message: Message,
    in_flight: SharedInFlight,
    slot: u64,
    settled: bool,
    /// Frees a prefetch slot of the consumer once settled.
    _permit: OwnedSemaphorePermit,
}

impl SqsAcker {
    async fn delete_original(&mut self) -> Result<(), BusError> {
        self.settled = true;
        self.in_flight.settle(self.slot);
        self.inner
            .delete(self.inner.urls.work(self.queue), &self.receipt)
            .await
    }
}

impl Drop for SqsAcker {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        self.in_flight.settle(self.slot);
        let (inner, url, receipt) = (
            self.inner.clone(),
            self.inner.urls.work(self.queue).to_string(),
            std::mem::take(&mut self.receipt),
        );
        // Without a runtime the visibility timeout runs out and it comes back then.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = inner.set_visibility(&url, &receipt, 0).await {
                    tracing::debug!(error = %e, "could not give a message back; it comes back after its visibility timeout");
                }
            });
        }
    }
}

#[async_trait]
impl Acker for SqsAcker {
    async fn ack(mut self: Box<Self>) -> Result<(), BusError> {
        self.delete_original().await?;
        if let Some(key) = &self.body_ref {
            self.inner.overflow.delete(key).await?;
        }
        Ok(())
    }

    async fn retry(mut self: Box<Self>) -> Result<RetryOutcome, BusError> {
        let policy = self.inner.policies.of(self.queue);
        let failed = self.message.attempt;
        let mut message = self.message.clone();
        message.attempt = failed.saturating_add(1);
        let (url, outcome) = if message.attempt >= policy.max_attempts {
            message.not_before = None;
            (self.inner.urls.dead(self.queue), RetryOutcome::DeadLettered)
        } else {
            let delay = policy.next_delay(failed);
            message.not_before = Some(SystemTime::now() + delay);
            (
                self.inner.urls.work(self.queue),
                RetryOutcome::Scheduled(delay),
            )
        };
        self.inner
            .send(url, &message, self.body_ref.as_deref())
            .await?;
        self.delete_original().await?;
        Ok(outcome)
    }

    async fn dead_letter(mut self: Box<Self>) -> Result<(), BusError> {
        let mut message = self.message.clone();
        message.attempt = message.attempt.saturating_add(1);
        message.not_before = None;
        self.inner
            .send(
                self.inner.urls.dead(self.queue),
                &message,
                self.body_ref.as_deref(),
            )
            .await?;
        self.delete_original().await
    }
}
