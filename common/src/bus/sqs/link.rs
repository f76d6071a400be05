//! What every part of the SQS bus shares: the client, the queue URLs, the retry policies,
//! large-body storage, and the batchers that send and delete (one per queue).

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry,
};

use super::batch::{Batcher, Flush};
use super::names::Names;
use super::overflow::Overflow;
use super::topology::{QueueUrls, sdk_error};
use super::wire::{Outgoing, WireBody};
use crate::bus::{BusError, Message, RetryPolicies};

pub(super) struct Inner {
    pub client: Client,
    pub names: Names,
    pub urls: QueueUrls,
    pub policies: RetryPolicies,
    pub overflow: Overflow,
    /// How long a received message stays hidden (renewed while it is worked on).
    pub visibility_secs: i32,
    senders: HashMap<String, Batcher<Outgoing>>,
    deleters: HashMap<String, Batcher<String>>,
}

impl Inner {
    pub fn new(
        client: Client,
        names: Names,
        urls: QueueUrls,
        policies: RetryPolicies,
        overflow: Overflow,
        visibility_secs: i32,
    ) -> Inner {
        let mut senders = HashMap::new();
        let mut deleters = HashMap::new();
        for url in urls.all() {
            senders.insert(url.to_string(), Batcher::spawn(send_flush(&client, url)));
            deleters.insert(url.to_string(), Batcher::spawn(delete_flush(&client, url)));
        }
        Inner {
            client,
            names,
            urls,
            policies,
            overflow,
            visibility_secs,
            senders,
            deleters,
        }
    }

    /// Sends `message` to the queue at `url`, its body inline or in Redis; a message whose
    /// body is already stored (`body_ref`, a retry) keeps it there.
    pub async fn send(
        &self,
        url: &str,
        message: &Message,
        body_ref: Option<&str>,
    ) -> Result<(), BusError> {
        let body = self.wire_body(message, body_ref).await?;
        let out = Outgoing::new(message, body, std::time::SystemTime::now());
        let weight = out.weight();
        self.sender(url)?.submit(out, weight).await
    }

    /// How `message` travels: its body inline, or in Redis when too large; a body already
    /// stored (`body_ref`, a retry) stays there, kept for another retention period.
    pub async fn wire_body(
        &self,
        message: &Message,
        body_ref: Option<&str>,
    ) -> Result<WireBody, BusError> {
        if let Some(key) = body_ref {
            self.overflow.renew(key).await?;
            return Ok(WireBody::Stored(key.to_string()));
        }
        let inline = WireBody::inline(&message.body);
        if inline.too_large() {
            return Ok(WireBody::Stored(self.overflow.put(&message.body).await?));
        }
        Ok(inline)
    }

    /// Deletes a received message (settles it for good).
    pub async fn delete(&self, url: &str, receipt: &str) -> Result<(), BusError> {
        let deleter = self
            .deleters
            .get(url)
            .ok_or_else(|| BusError::Backend(format!("not a queue of this bus: {url}")))?;
        deleter.submit(receipt.to_string(), 0).await
    }

    /// Makes a received message visible again after `seconds` (0: at once).
    pub async fn set_visibility(
        &self,
        url: &str,
        receipt: &str,
        seconds: i32,
    ) -> Result<(), BusError> {
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| sdk_error("change_message_visibility", e))?;
        Ok(())
    }

    fn sender(&self, url: &str) -> Result<&Batcher<Outgoing>, BusError> {
        self.senders
            .get(url)
            .ok_or_else(|| BusError::Backend(format!("not a queue of this bus: {url}")))
    }
}

/// The outcome of each entry of a batch call: the call's error for all, or the entries SQS
/// listed as failed.
fn outcomes<E: std::error::Error>(
    n: usize,
    call: &str,
    result: Result<&[BatchResultErrorEntry], E>,
) -> Vec<Result<(), BusError>> {
    let failed = match result {
        Ok(failed) => failed,
        Err(e) => {
            let why = sdk_error(call, e).to_string();
            return (0..n)
                .map(|_| Err(BusError::Backend(why.clone())))
                .collect();
        }
    };
    let mut results: Vec<Result<(), BusError>> = (0..n).map(|_| Ok(())).collect();
    for f in failed {
        if let Some(slot) = f
            .id()
            .parse::<usize>()
            .ok()
            .and_then(|i| results.get_mut(i))
        {
            let why = format!("SQS {call}: {} {}", f.code(), f.message().unwrap_or(""));
            *slot = Err(BusError::Backend(why));
        }
    }
    results
}

fn send_flush(client: &Client, url: &str) -> Flush<Outgoing> {
    let (client, url) = (client.clone(), url.to_string());
    Arc::new(move |items: Vec<Outgoing>| {
        let (client, url) = (client.clone(), url.clone());
        Box::pin(async move { send_entries(&client, &url, items).await })
    })
}

/// One `SendMessageBatch` call of `items` (at most ten, within the byte cap) to the queue at
/// `url`; the outcome of each, in order.
pub(super) async fn send_entries(
    client: &Client,
    url: &str,
    items: Vec<Outgoing>,
) -> Vec<Result<(), BusError>> {
    let n = items.len();
    let entries = items
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(o.body)
                .delay_seconds(o.delay_seconds)
                .set_message_attributes(Some(o.attributes))
                .build()
                .expect("id and body are set")
        })
        .collect();
    let sent = client
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await;
    outcomes(n, "send_message_batch", sent.as_ref().map(|o| o.failed()))
}

fn delete_flush(client: &Client, url: &str) -> Flush<String> {
    let (client, url) = (client.clone(), url.to_string());
    Arc::new(move |receipts: Vec<String>| {
        let (client, url) = (client.clone(), url.clone());
        Box::pin(async move {
            let n = receipts.len();
            let entries = receipts
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .expect("id and receipt are set")
                })
                .collect();
            let deleted = client
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await;
            outcomes(
                n,
                "delete_message_batch",
                deleted.as_ref().map(|o| o.failed()),
            )
        })
    })
}
