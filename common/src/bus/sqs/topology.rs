//! The queues of a prefix: found by name, and created when missing (Terraform may create
//! them instead, with the same attributes; existing queues are used as they are). Each work
//! queue redrives to its dead-letter queue after [`MAX_RECEIVES`] receives that were never
//! settled (a consumer that crashes on a message every time), beside our own retry policy,
//! which counts failures that a handler reports.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;

use super::names::Names;
use super::overflow::RETENTION;
use crate::bus::{BusError, QueueName};

/// Receives without a settlement before SQS moves a message to the dead letters.
pub(super) const MAX_RECEIVES: u32 = 10;
/// How long a received message stays invisible to other consumers by default; consumers
/// extend it while the work goes on (`visibility.rs`).
pub(super) const VISIBILITY_SECS: i32 = 30;

/// The URLs of the queues of one prefix.
#[derive(Debug, Clone)]
pub(super) struct QueueUrls {
    pub events: String,
    pub submit: String,
    pub events_dlq: String,
    pub submit_dlq: String,
}

impl QueueUrls {
    pub fn work(&self, q: QueueName) -> &str {
        match q {
            QueueName::Events => &self.events,
            QueueName::Submit => &self.submit,
        }
    }

    pub fn dead(&self, q: QueueName) -> &str {
        match q {
            QueueName::Events => &self.events_dlq,
            QueueName::Submit => &self.submit_dlq,
        }
    }

    pub fn all(&self) -> [&str; 4] {
        [
            &self.events,
            &self.submit,
            &self.events_dlq,
            &self.submit_dlq,
        ]
    }
}

pub(super) fn sdk_error<E: std::error::Error>(what: &str, e: E) -> BusError {
    BusError::Backend(format!("SQS {what}: {}", DisplayErrorContext(&e)))
}

/// The queues of `names`, created where missing.
pub(super) async fn ensure(client: &Client, names: &Names) -> Result<QueueUrls, BusError> {
    let (events_dlq, events) = ensure_pair(client, names, QueueName::Events).await?;
    let (submit_dlq, submit) = ensure_pair(client, names, QueueName::Submit).await?;
    Ok(QueueUrls {
        events,
        submit,
        events_dlq,
        submit_dlq,
    })
}

/// The dead-letter queue and the work queue of `q`.
async fn ensure_pair(
    client: &Client,
    names: &Names,
    q: QueueName,
) -> Result<(String, String), BusError> {
    let retention = RETENTION.as_secs().to_string();
    let dlq = ensure_queue(
        client,
        &names.dlq(q),
        vec![(
            QueueAttributeName::MessageRetentionPeriod,
            retention.clone(),
        )],
    )
    .await?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sdk_error("get_queue_attributes", e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| BusError::Backend(format!("SQS gave no ARN for {}", names.dlq(q))))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": arn,
        "maxReceiveCount": MAX_RECEIVES.to_string(),
    })
    .to_string();
    let work = ensure_queue(
        client,
        &names.queue(q),
        vec![
            (QueueAttributeName::MessageRetentionPeriod, retention),
            (
                QueueAttributeName::VisibilityTimeout,
                VISIBILITY_SECS.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive),
        ],
    )
    .await?;
    Ok((dlq, work))
}

async fn ensure_queue(
    client: &Client,
    name: &str,
    attributes: Vec<(QueueAttributeName, String)>,
) -> Result<String, BusError> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => {
            return out
                .queue_url()
                .map(str::to_string)
                .ok_or_else(|| BusError::Backend(format!("SQS gave no URL for {name}")));
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) => {}
        Err(e) => return Err(sdk_error("get_queue_url", e)),
    }
    let mut create = client.create_queue().queue_name(name);
    for (k, v) in attributes {
        create = create.attributes(k, v);
    }
    let out = create
        .send()
        .await
        .map_err(|e| sdk_error("create_queue", e))?;
    out.queue_url()
        .map(str::to_string)
        .ok_or_else(|| BusError::Backend(format!("SQS gave no URL for {name}")))
}

/// Deletes the queues, messages included (tests, and operators retiring a prefix).
pub(super) async fn delete(client: &Client, urls: &QueueUrls) -> Result<(), BusError> {
    for url in urls.all() {
        client
            .delete_queue()
            .queue_url(url)
            .send()
            .await
            .map_err(|e| sdk_error("delete_queue", e))?;
    }
    Ok(())
}
