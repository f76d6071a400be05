//! The consume loop and one job's life: up to `CONCURRENCY` sends at once, each settled
//! only once its outcome is recorded in the outbox (acked when done, retried on a
//! temporary failure, dead-lettered on a permanent one).

use std::sync::Arc;
use std::time::Duration;

use imapapi_common::Services;
use imapapi_common::bus::{BusError, Consumer, Delivery, QueueName, RetryOutcome};
use imapapi_common::model::{
    AccountConfig, EventKind, OutboxEntry, OutboxState, Settings, SubmitJob,
};
use imapapi_common::oauth2::{CredentialError, CredentialSource, Credentials as Login, Proto};
use imapapi_common::protocol_log::ProtocolLog;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::smtp::{self, SEND_TIMEOUT, SendError};
use crate::{events, follow_up};

/// Sends in flight per process; also the prefetch, so the bus holds no more unsettled jobs
/// for us than we work on.
const CONCURRENCY: usize = 8;

/// Consume the submit queue until `shutdown`, then let the sends in flight finish.
pub async fn consume(services: Services, shutdown: CancellationToken) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks: JoinSet<()> = JoinSet::new();
    // Kept until the jobs in flight are settled: a backend may need it to ack them.
    let mut current: Option<Box<dyn Consumer>> = None;
    let result = loop {
        while tasks.try_join_next().is_some() {}
        let consumer = match current.as_mut() {
            Some(c) => c,
            None => {
                let consumed = tokio::select! {
                    _ = shutdown.cancelled() => break Ok(()),
                    c = services.bus.consume(QueueName::Submit, CONCURRENCY as u16) => c,
                };
                match consumed {
                    Ok(c) => current.insert(c),
                    Err(BusError::Closed) => break Err(anyhow::anyhow!("bus closed")),
                    Err(error) => {
                        metrics::counter!("imapapi_bus_errors_total", "op" => "consume")
                            .increment(1);
                        tracing::error!(%error, "cannot consume send jobs; trying again");
                        tokio::select! {
                            _ = shutdown.cancelled() => break Ok(()),
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                }
            }
        };
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
        };
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            d = consumer.next() => d,
        };
        match delivery {
            Ok(delivery) => {
                let services = services.clone();
                tasks.spawn(async move {
                    handle(&services, delivery).await;
                    drop(permit);
                });
            }
            Err(BusError::Closed) => break Err(anyhow::anyhow!("bus closed")),
            Err(error) => {
                tracing::error!(%error, "consuming send jobs failed; consuming again");
                current = None;
            }
        }
    };
    let grace = SEND_TIMEOUT + Duration::from_secs(10);
    let drained = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!(
            "sends still running at shutdown were abandoned; they come back from the queue"
        );
    }
    drop(current);
    result
}

/// Settle `delivery` as `outcome` says, logging a failure to do so (the job then comes back).
async fn settle(delivery: Delivery, queue_id: &str, outcome: Settle) {
    let result = match outcome {
        Settle::Ack => delivery.ack().await,
        Settle::Retry => delivery.retry().await.map(|_| ()),
        Settle::DeadLetter => delivery.dead_letter().await,
    };
    if let Err(error) = result {
        tracing::warn!(queue_id, %error, "send job not settled; it will be delivered again");
    }
}

enum Settle {
    Ack,
    Retry,
    DeadLetter,
}

/// One send job, from the queue message to its settlement.
async fn handle(services: &Services, delivery: Delivery) {
    let job: SubmitJob = match serde_json::from_slice(&delivery.message.body) {
        Ok(job) => job,
        Err(error) => {
            tracing::error!(message_id = %delivery.message.id, %error, "not a send job");
            return settle(delivery, "", Settle::DeadLetter).await;
        }
    };
    let queue_id = job.queue_id.as_str();
    let entry = match services.store.get_outbox(queue_id).await {
        Ok(Some(entry)) => entry,
        // Cancelled and removed, or finished by an earlier delivery of this job.
        Ok(None) => return settle(delivery, queue_id, Settle::Ack).await,
        Err(error) => {
            tracing::warn!(queue_id, %error, "cannot read the outbox; trying the job later");
            return settle(delivery, queue_id, Settle::Retry).await;
        }
    };
    match entry.state {
        OutboxState::Cancelled | OutboxState::Failed => {
            settle(delivery, queue_id, Settle::Ack).await
        }
        OutboxState::Sent => {
            // Sent before a crash or a failed follow-up: never again, only the follow-ups.
            let outcome = match load(services, &entry).await {
                Ok((account, mime)) => finish(services, &account, &entry, mime).await,
                Err(_) => Settle::Retry,
            };
            settle(delivery, queue_id, outcome).await
        }
        OutboxState::Queued | OutboxState::Sending => attempt(services, delivery, entry).await,
    }
}

/// The account (secrets opened) and the MIME of an entry.
async fn load(
    services: &Services,
    entry: &OutboxEntry,
) -> Result<(AccountConfig, Vec<u8>), LoadError> {
    let store = &services.store;
    let account = store
        .get_account(&entry.account)
        .await
        .map_err(LoadError::Store)?
        .ok_or(LoadError::Unsendable("The account was deleted"))?;
    let secret = services.config.service.secret.clone();
    let account = imapapi_common::crypto::open_account_off_runtime(account, secret)
        .await
        .map_err(|_| LoadError::Unsendable("Cannot decrypt the stored credentials"))?;
    let mime = store
        .outbox_mime(&entry.queue_id)
        .await
        .map_err(LoadError::Store)?
        .ok_or(LoadError::Unsendable("The message content is missing"))?;
    Ok((account, mime))
}

/// Why a send could not be loaded: the store failing (try later), or the send being
/// impossible for good.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("store: {0}")]
    Store(imapapi_common::store::StoreError),
    #[error("{0}")]
    Unsendable(&'static str),
}

/// One SMTP attempt and what follows from its outcome.
async fn attempt(services: &Services, delivery: Delivery, mut entry: OutboxEntry) {
    let queue_id = entry.queue_id.clone();
    let store = &services.store;
    let (account, mime) = match load(services, &entry).await {
        Ok(loaded) => loaded,
        Err(LoadError::Store(e)) => {
            tracing::warn!(queue_id, error = %e, "cannot load the send; trying later");
            return settle(delivery, &queue_id, Settle::Retry).await;
        }
        Err(e @ LoadError::Unsendable(_)) => {
            return give_up(services, delivery, entry, &e.to_string()).await;
        }
    };
    let Some(smtp) = account.smtp.clone() else {
        return give_up(
            services,
            delivery,
            entry,
            "The account has no SMTP settings",
        )
        .await;
    };
    if let Some(age) = imapapi_common::queue_age::seconds_since(&entry.created) {
        metrics::histogram!("imapapi_queue_age_seconds", "queue" => "submit").record(age);
    }
    entry.state = OutboxState::Sending;
    entry.attempts += 1;
    match store
        .update_outbox(&entry, &[OutboxState::Queued, OutboxState::Sending])
        .await
    {
        Ok(true) => {}
        // Cancelled meanwhile.
        Ok(false) => return settle(delivery, &queue_id, Settle::Ack).await,
        Err(error) => {
            tracing::warn!(queue_id, %error, "cannot mark the send; trying later");
            return settle(delivery, &queue_id, Settle::Retry).await;
        }
    }
    let settings = settings(services).await;
    let login = match smtp_login(services, &account, &settings).await {
        Ok(login) => login,
        Err(SendError::Permanent(why)) => return give_up(services, delivery, entry, &why).await,
        Err(SendError::Temporary(why)) => {
            tracing::warn!(queue_id, error = %why, "no SMTP credentials yet; trying later");
            return settle(delivery, &queue_id, Settle::Retry).await;
        }
    };
    let local = &services.config.service.local_addresses;
    let started = std::time::Instant::now();
    let log = ProtocolLog::for_account(services.store.clone(), &settings, &entry.account);
    let sent = smtp::send(&smtp, login.as_ref(), local, &entry.envelope, &mime, log).await;
    let result = match &sent {
        Ok(_) => "sent",
        Err(SendError::Temporary(_)) => "temporary_failure",
        Err(SendError::Permanent(_)) => "permanent_failure",
    };
    metrics::counter!("imapapi_submit_total", "result" => result).increment(1);
    metrics::histogram!("imapapi_smtp_send_duration_seconds", "result" => result)
        .record(started.elapsed().as_secs_f64());
    match sent {
        Ok(response) => {
            entry.state = OutboxState::Sent;
            entry.response = Some(response.clone());
            entry.error = None;
            // Recorded before anything else: from here on the job never sends again.
            if let Err(error) = store.update_outbox(&entry, &[OutboxState::Sending]).await {
                tracing::error!(queue_id, %error, "sent, but the outbox could not record it");
            }
            tracing::info!(queue_id, account = %entry.account, response, "message sent");
            events::publish(services, &entry, EventKind::MessageSent, &response).await;
            let outcome = finish(services, &account, &entry, mime).await;
            settle(delivery, &queue_id, outcome).await
        }
        Err(SendError::Temporary(error)) => {
            tracing::warn!(
                queue_id,
                attempt = entry.attempts,
                error,
                "send failed; will retry"
            );
            events::publish(services, &entry, EventKind::MessageDeliveryError, &error).await;
            entry.state = OutboxState::Queued;
            entry.error = Some(error.clone());
            let _ = store.update_outbox(&entry, &[OutboxState::Sending]).await;
            match delivery.retry().await {
                Ok(RetryOutcome::DeadLettered) => {
                    entry.state = OutboxState::Failed;
                    let _ = store.update_outbox(&entry, &[OutboxState::Queued]).await;
                    events::publish(services, &entry, EventKind::MessageFailed, &error).await;
                }
                Ok(RetryOutcome::Scheduled(_)) => {}
                Err(error) => tracing::warn!(queue_id, %error, "send job not settled"),
            }
        }
        Err(SendError::Permanent(error)) => {
            events::publish(services, &entry, EventKind::MessageDeliveryError, &error).await;
            give_up(services, delivery, entry, &error).await
        }
    }
}

/// A permanent failure: the entry is marked failed, `messageFailed` goes out, and the job
/// goes to the dead letters at once.
async fn give_up(services: &Services, delivery: Delivery, mut entry: OutboxEntry, error: &str) {
    tracing::warn!(queue_id = %entry.queue_id, account = %entry.account, error, "send failed for good");
    entry.state = OutboxState::Failed;
    entry.error = Some(error.to_string());
    let expected = [OutboxState::Queued, OutboxState::Sending];
    if let Err(e) = services.store.update_outbox(&entry, &expected).await {
        tracing::warn!(queue_id = %entry.queue_id, error = %e, "cannot mark the send failed");
    }
    events::publish(services, &entry, EventKind::MessageFailed, error).await;
    settle(delivery, &entry.queue_id.clone(), Settle::DeadLetter).await
}

/// The follow-ups of a sent message, then the entry is removed. When ingest cannot do them
/// now, the job comes back later (and, being `sent`, is not sent again).
async fn finish(
    services: &Services,
    account: &AccountConfig,
    entry: &OutboxEntry,
    mime: Vec<u8>,
) -> Settle {
    if let Err(error) = follow_up::run(services, account, entry, mime).await {
        tracing::warn!(queue_id = %entry.queue_id, error = %error.message, "follow-ups failed; trying later");
        return Settle::Retry;
    }
    match services.store.delete_outbox(&entry.queue_id).await {
        Ok(()) => Settle::Ack,
        Err(error) => {
            tracing::warn!(queue_id = %entry.queue_id, %error, "cannot remove the sent entry");
            Settle::Retry
        }
    }
}

/// The settings as a send needs them (secrets opened): read once per send, for the
/// credentials and for whether the account's connections are logged.
async fn settings(services: &Services) -> Settings {
    let settings = services.store.get_settings().await.unwrap_or_default();
    imapapi_common::crypto::open_settings_off_runtime(
        settings,
        services.config.service.secret.clone(),
    )
    .await
}

/// The SMTP login of `account`: `None` when it has no credentials (a relay that takes mail
/// without AUTH). The auth server being down or a token endpoint unreachable is worth
/// retrying; a refused grant (revoked consent) or no usable answer at all is not.
async fn smtp_login(
    services: &Services,
    account: &AccountConfig,
    settings: &Settings,
) -> Result<Option<Login>, SendError> {
    let source = CredentialSource::new(account, Proto::Smtp, settings, &services.config.gmail);
    if !source.configured() {
        return Ok(None);
    }
    match source.credentials().await {
        Ok(login) => Ok(Some(login)),
        Err(e @ CredentialError::Refused(_)) if !source.uses_auth_server() => {
            Err(SendError::Permanent(e.to_string()))
        }
        Err(e) => Err(SendError::Temporary(e.to_string())),
    }
}
