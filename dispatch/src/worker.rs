//! The consume loop: takes events off the `Events` queue, up to `webhooks.concurrency` at
//! once, and settles each one only after its webhook has been answered (ack) or has failed
//! (retry, which makes the bus apply backoff and, after the last attempt, dead-letter it).
//! An event whose account has been deleted meanwhile is acked without a webhook. Nothing is
//! acked before its work is done, and nothing is dropped without a log line.

use crate::receiver_health::{Admission, Change, ReceiverHealth};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use imapapi_common::Services;
use imapapi_common::bus::{BusError, Consumer, Delivery, QueueName, RetryOutcome};
use imapapi_common::counters::{Counter, UsageCounters};
use imapapi_common::model::{Event, FailingReceiver};
use imapapi_common::store::ReceiverStore;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::account_cache::AccountCache;
use crate::settings_cache::SettingsCache;
use imapapi_common::webhook::{Target, WebhookClient};

/// How old the settings may be: a settings change reaches dispatch within this time.
pub const SETTINGS_MAX_AGE: Duration = Duration::from_secs(1);

/// How old an answer to "does this account exist" may be: deliveries for a deleted account
/// stop within this time.
pub const ACCOUNT_MAX_AGE: Duration = Duration::from_secs(1);

/// Longest pause before consuming again after the bus failed.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);

/// Everything one delivery needs; shared by the delivery tasks.
pub(crate) struct Worker {
    client: WebhookClient,
    settings: SettingsCache,
    accounts: AccountCache,
    usage: UsageCounters,
    /// Each receiver's health: failing and recovering reported once per change, and the
    /// breaker that holds events of a failing one back.
    receivers: ReceiverHealth,
    /// Where the receivers' state changes go for `GET /v1/stats`; `None` in unit tests.
    receiver_store: Option<Arc<dyn ReceiverStore>>,
}

/// Why an event is not posted.
enum Skip {
    /// Nothing to send, for good: acked.
    Ack(&'static str),
    /// Not now: retried with backoff.
    Retry(String),
}

/// Label of the webhooks counter for an event that could not be parsed.
const INVALID_EVENT: &str = "invalid";

/// One delivery outcome (`success`, `fail`, `skipped`) for `GET /metrics`.
fn count(result: &'static str, event: &'static str) {
    metrics::counter!("imapapi_webhooks_total", "result" => result, "event" => event).increment(1);
}

impl Worker {
    pub(crate) fn new(services: &Services) -> anyhow::Result<Worker> {
        let cfg = &services.config.webhooks;
        Ok(Worker {
            client: WebhookClient::new(cfg.timeout, cfg.concurrency)?
                .signing_with(cfg.signing_key.as_ref().map(|k| k.expose().as_bytes())),
            settings: SettingsCache::new(services.store.clone(), SETTINGS_MAX_AGE),
            accounts: AccountCache::new(services.store.clone(), ACCOUNT_MAX_AGE),
            usage: services.counters.clone(),
            receivers: ReceiverHealth::new(cfg.breaker_max_pause),
            receiver_store: Some(services.store.clone() as Arc<dyn ReceiverStore>),
        })
    }

    /// Record a delivery outcome; a receiver that starts failing or answers again is also
    /// written to the store (rarely: once per change), where `GET /v1/stats` reads it.
    async fn receiver_changed(&self, target: &str, delivered: bool, error: Option<&str>) {
        let change = self.receivers.report(delivered, target, error);
        let Some(store) = &self.receiver_store else {
            return;
        };
        let written = match change {
            Some(Change::Failing) => {
                let failing = FailingReceiver {
                    target: target.to_string(),
                    since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    error: error.unwrap_or_default().to_string(),
                };
                store.set_receiver_failing(&failing).await
            }
            Some(Change::Recovered(_)) => store.clear_receiver(target).await,
            None => return,
        };
        if let Err(error) = written {
            tracing::warn!(%target, %error, "cannot record the receiver's state for the stats");
        }
    }

    /// Where the event goes: the account's own webhook URL, else the `webhooks` setting;
    /// or why it does not go anywhere. Events of a type the settings do not want cost no
    /// account lookup.
    async fn target_of(&self, event: &Event) -> Result<Target, Skip> {
        let snapshot = self
            .settings
            .get()
            .await
            .map_err(|e| Skip::Retry(format!("cannot read settings: {e}")))?;
        if !snapshot.settings.wants_event(event.event) {
            return Err(Skip::Ack("event type not in webhookEvents"));
        }
        let own = match self.accounts.get(&event.account).await {
            Ok(None) => return Err(Skip::Ack("account deleted")),
            Ok(Some(account)) => account.target.clone(),
            // When the store cannot tell, the event is delivered to the global URL: it was
            // valid when published, and a store outage must not turn every event into a
            // retry and then a dead letter.
            Err(error) => {
                tracing::warn!(event_id = %event.id, account = %event.account, %error,
                    "cannot read the account; delivering to the webhooks setting");
                None
            }
        };
        match own.or_else(|| snapshot.target.clone()) {
            None => Err(Skip::Ack("no webhook URL set")),
            Some(Err(error)) => Err(Skip::Retry(error.to_string())),
            Some(Ok(target)) => Ok(target),
        }
    }

    /// Deliver one event and settle it.
    pub(crate) async fn handle(&self, mut delivery: Delivery) {
        let message_id = delivery.message.id;
        let attempt = delivery.message.attempt + 1;
        let event: Event = match serde_json::from_slice(&delivery.message.body) {
            Ok(e) => e,
            Err(error) => {
                // Retried rather than acked: during a rolling upgrade a newer dispatch may
                // understand it, and if none does it ends in the dead-letter queue where it
                // can be inspected, instead of vanishing.
                tracing::error!(%message_id, attempt, %error, "event is not valid event JSON");
                count("fail", INVALID_EVENT);
                retry(delivery, message_id, None, attempt).await;
                return;
            }
        };
        let kind = event.event.name();
        let event_id = event.id;
        let account = event.account.as_str();
        if let Some(age) = imapapi_common::queue_age::seconds_since(&event.date) {
            metrics::histogram!("imapapi_queue_age_seconds", "queue" => "events").record(age);
        }

        let target = match self.target_of(&event).await {
            Ok(target) => target,
            Err(Skip::Ack(reason)) => {
                tracing::debug!(%event_id, account, event = kind, reason, "webhook skipped");
                count("skipped", kind);
                ack(delivery, message_id, event_id).await;
                return;
            }
            Err(Skip::Retry(error)) => {
                // A URL that cannot be used may be fixed through the api while retries
                // last; settings that cannot be read may be readable later.
                tracing::warn!(%event_id, account, event = kind, attempt, %error,
                    "webhook not sent");
                count("fail", kind);
                retry(delivery, message_id, Some(event_id), attempt).await;
                return;
            }
        };
        let origin = target.origin();
        if self.receivers.admit(&origin) == Admission::Hold {
            tracing::debug!(%event_id, account, event = kind, attempt, target = %origin,
                "receiver failing; event held back");
            count("held", kind);
            retry(delivery, message_id, Some(event_id), attempt).await;
            return;
        }
        // The body as published, byte for byte; acking needs only the acker.
        let body = Bytes::from(std::mem::take(&mut delivery.message.body));
        let started = Instant::now();
        let posted = self.client.post(&target, event_id, attempt, body).await;
        metrics::histogram!("imapapi_webhook_duration_seconds",
            "result" => if posted.is_ok() { "success" } else { "fail" })
        .record(started.elapsed().as_secs_f64());
        match posted {
            Ok(status) => {
                self.receiver_changed(&origin, true, None).await;
                tracing::debug!(%event_id, account, event = kind, attempt, status,
                    target = %target.origin(), elapsed_ms = started.elapsed().as_millis() as u64,
                    "webhook delivered");
                count("success", kind);
                self.usage.add(Counter::WebhookSuccess);
                ack(delivery, message_id, event_id).await;
            }
            Err(error) => {
                count("fail", kind);
                self.usage.add(Counter::WebhookFail);
                self.receiver_changed(&origin, false, Some(&error.to_string()))
                    .await;
                let outcome = retry(delivery, message_id, Some(event_id), attempt).await;
                let elapsed_ms = started.elapsed().as_millis() as u64;
                let target = target.origin();
                match outcome {
                    Some(RetryOutcome::DeadLettered) => tracing::error!(%event_id, account,
                        event = kind, attempt, %error, %target, elapsed_ms,
                        outcome = "dead-lettered", "webhook failed; attempts exhausted"),
                    // Per attempt at debug: the receiver's state changes are the warnings.
                    Some(RetryOutcome::Scheduled(delay)) => tracing::debug!(%event_id, account,
                        event = kind, attempt, %error, %target, elapsed_ms,
                        outcome = "retry scheduled", retry_in_ms = delay.as_millis() as u64,
                        "webhook failed"),
                    None => tracing::warn!(%event_id, account, event = kind, attempt, %error,
                        %target, elapsed_ms, "webhook failed; retry not recorded"),
                }
            }
        }
    }
}

async fn ack(delivery: Delivery, message_id: Uuid, event_id: Uuid) {
    if let Err(error) = delivery.ack().await {
        // The bus will deliver it again; receivers drop the duplicate by its id.
        tracing::error!(%message_id, %event_id, %error, "cannot ack event");
    }
}

/// Hand a failed delivery back to the bus; `None` when even that failed (the unsettled
/// message then comes back when the bus notices).
async fn retry(
    delivery: Delivery,
    message_id: Uuid,
    event_id: Option<Uuid>,
    attempt: u32,
) -> Option<RetryOutcome> {
    match delivery.retry().await {
        Ok(outcome) => {
            if event_id.is_none() {
                tracing::warn!(%message_id, attempt, ?outcome, "invalid event handed back");
            }
            Some(outcome)
        }
        Err(error) => {
            tracing::error!(%message_id, event_id = ?event_id, %error, "cannot retry event");
            None
        }
    }
}

/// Consume until `shutdown`, then let the deliveries in flight finish (bounded by the
/// webhook timeout) before returning. Bus failures are retried with a growing pause; only
/// a closed bus ends the loop with an error.
pub(crate) async fn consume(
    services: Services,
    worker: Arc<Worker>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let concurrency = services.config.webhooks.concurrency.max(1);
    let prefetch = u16::try_from(concurrency).unwrap_or(u16::MAX);
    // The permits bound deliveries in flight; with prefetch equal to them, the bus never
    // holds more unsettled messages for us than we can work on.
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut reconnect_delay = Duration::from_millis(250);
    // Kept alive until the deliveries in flight are settled: a backend may need the
    // consumer (its channel) to ack them.
    let mut current: Option<Box<dyn Consumer>> = None;
    let result = loop {
        while let Some(r) = tasks.try_join_next() {
            log_join(r);
        }
        let consumer = match current.as_mut() {
            Some(c) => c,
            None => {
                let consumed = tokio::select! {
                    _ = shutdown.cancelled() => break Ok(()),
                    c = services.bus.consume(QueueName::Events, prefetch) => c,
                };
                match consumed {
                    Ok(c) => {
                        tracing::info!(concurrency, "consuming events for webhooks");
                        current.insert(c)
                    }
                    Err(BusError::Closed) => break Err(anyhow::anyhow!("bus closed")),
                    Err(error) => {
                        metrics::counter!("imapapi_bus_errors_total", "op" => "consume")
                            .increment(1);
                        tracing::error!(%error, "cannot consume events; trying again");
                        if pause(&shutdown, &mut reconnect_delay).await {
                            break Ok(());
                        }
                        continue;
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
                reconnect_delay = Duration::from_millis(250);
                let worker = worker.clone();
                tasks.spawn(async move {
                    worker.handle(delivery).await;
                    drop(permit);
                });
            }
            Err(BusError::Closed) => break Err(anyhow::anyhow!("bus closed")),
            Err(error) => {
                tracing::error!(%error, "consuming events failed; consuming again");
                current = None;
                if pause(&shutdown, &mut reconnect_delay).await {
                    break Ok(());
                }
            }
        }
    };

    // Deliveries in flight finish within the webhook timeout; anything still running after
    // that plus a margin is aborted and, unsettled, comes back from the bus.
    let grace = services.config.webhooks.timeout + Duration::from_secs(5);
    let drained = tokio::time::timeout(grace, async {
        while let Some(r) = tasks.join_next().await {
            log_join(r);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "deliveries still running at shutdown; aborting them"
        );
        tasks.shutdown().await;
    }
    drop(current);
    result
}

/// Wait `delay` (doubling it for next time) unless shut down first; true on shutdown.
async fn pause(shutdown: &CancellationToken, delay: &mut Duration) -> bool {
    let wait = *delay;
    *delay = (*delay * 2).min(MAX_RECONNECT_DELAY);
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}

fn log_join(r: Result<(), tokio::task::JoinError>) {
    if let Err(e) = r
        && e.is_panic()
    {
        // The delivery was dropped unsettled, so the bus redelivers it.
        tracing::error!(error = %e, "webhook delivery task panicked");
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    use imapapi_common::bus::{Acker, Message};
    use imapapi_common::model::{EventKind, Settings};
    use imapapi_common::store::SettingsStore;
    use tokio::net::TcpListener;

    use super::*;
    use crate::test_store::CountingStore;

    /// Records how each delivery was settled.
    struct Settled(Arc<Mutex<Vec<&'static str>>>);

    #[async_trait]
    impl Acker for Settled {
        async fn ack(self: Box<Self>) -> Result<(), BusError> {
            self.0.lock().unwrap().push("ack");
            Ok(())
        }
        async fn retry(self: Box<Self>) -> Result<RetryOutcome, BusError> {
            self.0.lock().unwrap().push("retry");
            Ok(RetryOutcome::Scheduled(Duration::ZERO))
        }
        async fn dead_letter(self: Box<Self>) -> Result<(), BusError> {
            self.0.lock().unwrap().push("dead-letter");
            Ok(())
        }
    }

    /// A local webhook receiver answering 200; returns its URL and request counter.
    async fn receiver() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let posts = Arc::new(AtomicUsize::new(0));
        let counted = posts.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        async { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new()))) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (url, posts)
    }

    fn delivery(account: &str, settled: &Arc<Mutex<Vec<&'static str>>>) -> Delivery {
        let event = Event::new(
            account,
            EventKind::MessageNew,
            Some("INBOX".into()),
            Default::default(),
        );
        Delivery {
            message: Message::new(event.routing_key(), serde_json::to_vec(&event).unwrap()),
            acker: Box::new(Settled(settled.clone())),
        }
    }

    #[tokio::test]
    async fn events_of_deleted_accounts_are_acked_without_a_webhook() {
        let (url, posts) = receiver().await;
        let store = Arc::new(CountingStore::default());
        store
            .put_settings(&Settings {
                webhooks: Some(url),
                ..Settings::default()
            })
            .await
            .unwrap();
        store.add_account("live");
        let worker = Worker {
            client: WebhookClient::new(Duration::from_secs(5), 2).unwrap(),
            settings: SettingsCache::new(store.clone(), SETTINGS_MAX_AGE),
            accounts: AccountCache::new(store.clone(), Duration::from_millis(50)),
            usage: UsageCounters::default(),
            receivers: ReceiverHealth::new(Duration::from_secs(300)),
            receiver_store: None,
        };
        let settled = Arc::new(Mutex::new(Vec::new()));

        worker.handle(delivery("live", &settled)).await;
        assert_eq!(posts.load(Ordering::SeqCst), 1);
        worker.handle(delivery("deleted", &settled)).await;
        assert_eq!(
            posts.load(Ordering::SeqCst),
            1,
            "nothing sent for a deleted account"
        );
        assert_eq!(
            *settled.lock().unwrap(),
            ["ack", "ack"],
            "both settled, none retried"
        );

        // Deleted after its event was published: dropped once the cached answer expires.
        store.remove_account("live");
        tokio::time::sleep(Duration::from_millis(80)).await;
        worker.handle(delivery("live", &settled)).await;
        assert_eq!(posts.load(Ordering::SeqCst), 1);

        // A store that cannot say does not stop deliveries.
        store.failing.store(true, Ordering::SeqCst);
        worker.handle(delivery("unknown", &settled)).await;
        assert_eq!(posts.load(Ordering::SeqCst), 2);
        assert_eq!(settled.lock().unwrap().len(), 4);
    }
}
