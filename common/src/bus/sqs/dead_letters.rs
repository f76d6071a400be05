//! Reading dead letters for `GET /v1/deadletters` without taking them: messages are
//! received with a short visibility timeout, then made visible again at once. SQS has no
//! order, so they are sorted by the time SQS accepted them, oldest first.
//!
//! Redriving and dropping them too: SQS cannot fetch a message by id, so a call receives
//! dead letters (hidden meanwhile) up to its limit, gives back at once those it was not
//! asked for, and settles the others: a redrive sends the message to its work queue and
//! deletes the dead letter only once the send succeeded (a crash between the two is a
//! duplicate, never a loss); a drop deletes it, then its large body in Redis if it has one.

use std::collections::HashSet;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use futures::future::join_all;
use uuid::Uuid;

use super::batch::MAX_ENTRIES;
use super::link::Inner;
use super::topology::sdk_error;
use super::visibility::change_visibility;
use super::wire::{Incoming, incoming};
use crate::bus::{BusError, Message, QueueName, all_found, dead_letter_batch, selected};

/// How long peeked messages stay hidden if giving them back fails.
const PEEK_VISIBILITY_SECS: i32 = 5;
/// How long dead letters taken by a redrive or drop stay hidden should the call die before
/// settling them: longer than a call of a thousand takes.
const SWEEP_VISIBILITY_SECS: i32 = 120;
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
            let messages = receive(inner, url, want, PEEK_VISIBILITY_SECS).await?;
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

/// Up to `want` (at most ten) dead letters from the queue at `url`, hidden for
/// `visibility_secs`; none when the queue is empty.
async fn receive(
    inner: &Inner,
    url: &str,
    want: usize,
    visibility_secs: i32,
) -> Result<Vec<aws_sdk_sqs::types::Message>, BusError> {
    let out = inner
        .client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(i32::try_from(want.min(MAX_ENTRIES)).unwrap_or(1))
        .wait_time_seconds(PEEK_WAIT_SECS)
        .visibility_timeout(visibility_secs)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
        .map_err(|e| sdk_error("receive_message", e))?;
    Ok(out.messages.unwrap_or_default())
}

async fn give_back(inner: &Inner, url: &str, got: &[Incoming]) {
    let receipts: Vec<String> = got.iter().map(|i| i.receipt.clone()).collect();
    change_visibility(&inner.client, url, &receipts, 0).await;
}

/// What becomes of a selected dead letter.
#[derive(Clone, Copy)]
pub(super) enum Action {
    /// Back to its work queue with its attempts reset.
    Redrive,
    /// Gone for good, with its stored body.
    Drop,
}

/// Applies `action` to the selected dead letters of `queue` among up to `limit` received;
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
    let url = inner.urls.dead(queue);
    let picked = pick(inner, url, ids, dead_letter_batch(limit)).await?;
    let mut done = 0;
    let mut failed = Vec::new();
    let mut first_error = None;
    // As many at once as one batch call takes, so the batchers fill their calls.
    for chunk in picked.chunks(MAX_ENTRIES) {
        let outcomes = join_all(chunk.iter().map(|i| settle(inner, queue, i, action))).await;
        for (i, outcome) in chunk.iter().zip(outcomes) {
            match outcome {
                Ok(()) => done += 1,
                Err(e) => {
                    failed.push(i.clone());
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    // Still dead letters (a redrive's send may have gone out: at-least-once); listed again.
    give_back(inner, url, &failed).await;
    match first_error {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// Receives up to `limit` dead letters from `url` and keeps the selected ones hidden;
/// the others are made visible again before it returns.
async fn pick(
    inner: &Inner,
    url: &str,
    ids: Option<&[Uuid]>,
    limit: usize,
) -> Result<Vec<Incoming>, BusError> {
    let mut seen = HashSet::new();
    let (mut picked, mut others) = (Vec::new(), Vec::new());
    let result = async {
        while seen.len() < limit && !all_found(ids, picked.len()) {
            let messages = receive(inner, url, limit - seen.len(), SWEEP_VISIBILITY_SECS).await?;
            if messages.is_empty() {
                break;
            }
            for m in &messages {
                match incoming(m) {
                    // Received twice in one call (SQS delivers at least once): the first
                    // copy stands for it.
                    Ok(i) if !seen.insert(i.sqs_id.clone()) => {}
                    Ok(i) if selected(ids, i.message.id) && !all_found(ids, picked.len()) => {
                        picked.push(i)
                    }
                    Ok(i) => others.push(i),
                    Err(why) => tracing::warn!(why, "skipping an unreadable dead letter"),
                }
            }
        }
        Ok::<_, BusError>(())
    }
    .await;
    give_back(inner, url, &others).await;
    if let Err(e) = result {
        give_back(inner, url, &picked).await;
        return Err(e);
    }
    Ok(picked)
}

/// Redrives or drops one received dead letter.
async fn settle(
    inner: &Inner,
    queue: QueueName,
    got: &Incoming,
    action: Action,
) -> Result<(), BusError> {
    let dead = inner.urls.dead(queue);
    match action {
        Action::Redrive => {
            let mut message = got.message.clone();
            message.attempt = 0;
            message.not_before = None;
            let work = inner.urls.work(queue);
            inner.send(work, &message, got.body_ref.as_deref()).await?;
            inner.delete(dead, &got.receipt).await
        }
        Action::Drop => {
            inner.delete(dead, &got.receipt).await?;
            match &got.body_ref {
                Some(key) => inner.overflow.delete(key).await,
                None => Ok(()),
            }
        }
    }
}
