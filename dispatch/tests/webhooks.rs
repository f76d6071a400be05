//! End-to-end tests of the dispatch role with the real embedded Bus and Store and a local
//! HTTP receiver that records what arrives: exact body and headers, the event filter,
//! credentials from the URL, retries, dead-lettering and concurrency.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use imapapi_common::Services;
use imapapi_common::bus::embedded::EmbeddedBus;
use imapapi_common::bus::{Message, QueueName, RetryPolicy, WorkQueues};
use imapapi_common::config::{Cli, Config};
use imapapi_common::model::{AccountConfig, Event, EventKind, Settings};
use imapapi_common::store::embedded::EmbeddedStore;
use imapapi_common::store::{AccountStore, SettingsStore};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

/// Upper bound for any wait in these tests.
const WAIT: Duration = Duration::from_secs(15);

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    method: String,
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

/// How the receiver answers request number `n` (0-based): status and delay.
type Behaviour = Arc<dyn Fn(usize) -> (StatusCode, Duration) + Send + Sync>;

/// A local HTTP server on a random port that records every request.
struct Receiver {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// TCP connections accepted so far.
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Receiver {
    async fn start(behaviour: Behaviour) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let counter = Arc::new(AtomicUsize::new(0));
        let seen2 = seen.clone();
        let connections: Arc<AtomicUsize> = Arc::default();
        let connections2 = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                connections2.fetch_add(1, Ordering::SeqCst);
                let seen = seen2.clone();
                let counter = counter.clone();
                let behaviour = behaviour.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let seen = seen.clone();
                        let counter = counter.clone();
                        let behaviour = behaviour.clone();
                        async move {
                            let at = Instant::now();
                            let method = req.method().to_string();
                            let path_and_query = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            let headers = req.headers().clone();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let n = counter.fetch_add(1, Ordering::SeqCst);
                            let (status, delay) = behaviour(n);
                            seen.lock().unwrap().push(Seen {
                                at,
                                method,
                                path_and_query,
                                headers,
                                body,
                            });
                            sleep(delay).await;
                            let mut resp = Response::new(Full::new(Bytes::from_static(b"ok")));
                            *resp.status_mut() = status;
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            port,
            seen,
            connections,
            task,
        }
    }

    fn answering(status: StatusCode) -> Behaviour {
        Arc::new(move |_| (status, Duration::ZERO))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Wait until at least `n` requests arrived.
    async fn wait_for(&self, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests, got {}",
                seen.len()
            );
            sleep(Duration::from_millis(10)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// dispatch running on fresh embedded backends.
struct Rig {
    bus: Arc<EmbeddedBus>,
    store: Arc<EmbeddedStore>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

struct Options {
    settings: Settings,
    timeout: Duration,
    concurrency: usize,
    retry: RetryPolicy,
}

impl Options {
    fn with_url(url: String) -> Options {
        Options {
            settings: Settings {
                webhooks: Some(url),
                ..Settings::default()
            },
            timeout: Duration::from_secs(5),
            concurrency: 4,
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(50),
                max_delay: Duration::MAX,
                jitter: false,
            },
        }
    }
}

impl Rig {
    async fn start(opts: Options) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::from_layers(&Cli::default(), &BTreeMap::new()).unwrap();
        config.data_dir = dir.path().to_path_buf();
        config.webhooks.timeout = opts.timeout;
        config.webhooks.concurrency = opts.concurrency;
        config.queue.retry = opts.retry;
        let bus = Arc::new(
            EmbeddedBus::open(&dir.path().join("bus"), opts.retry)
                .await
                .unwrap(),
        );
        let store = Arc::new(
            EmbeddedStore::open(&dir.path().join("store"))
                .await
                .unwrap(),
        );
        store.put_settings(&opts.settings).await.unwrap();
        // Events of unknown accounts are dropped: register the one the events name.
        store.put_account(&account(ACCOUNT)).await.unwrap();
        let services = Services::new(Arc::new(config), store.clone(), bus.clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(imapapi_dispatch::run(services, shutdown.clone()));
        Rig {
            bus,
            store,
            shutdown,
            task: Some(task),
            _dir: dir,
        }
    }

    /// Publish an event as ingest does; returns the exact bytes published.
    async fn publish(&self, event: &Event) -> Vec<u8> {
        let body = serde_json::to_vec(event).unwrap();
        self.bus
            .publish(
                QueueName::Events,
                Message::new(event.routing_key(), body.clone()),
            )
            .await
            .unwrap();
        body
    }

    /// Wait until at least `n` messages are dead-lettered.
    async fn wait_dead(&self, n: usize) -> Vec<Message> {
        let deadline = Instant::now() + WAIT;
        loop {
            let dead = self.bus.dead_letters(QueueName::Events, 100).await.unwrap();
            if dead.len() >= n {
                return dead;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} dead letters, got {}",
                dead.len()
            );
            sleep(Duration::from_millis(10)).await;
        }
    }

    async fn dead(&self) -> Vec<Message> {
        self.bus.dead_letters(QueueName::Events, 100).await.unwrap()
    }

    /// Cancel and check that `run` returns cleanly and promptly.
    async fn stop(mut self) {
        self.shutdown.cancel();
        let task = self.task.take().unwrap();
        timeout(WAIT, task)
            .await
            .expect("dispatch did not stop")
            .unwrap()
            .unwrap();
    }
}

/// The account every test event belongs to.
const ACCOUNT: &str = "acc1";

fn account(id: &str) -> AccountConfig {
    AccountConfig {
        account: id.into(),
        name: id.into(),
        copy: None,
        notify_from: None,
        path: None,
        imap: None,
        smtp: None,
        oauth2: None,
        webhooks: None,
    }
}

fn event(kind: EventKind) -> Event {
    Event::new(
        ACCOUNT,
        kind,
        Some("INBOX".into()),
        serde_json::json!({"id": "AAAAAQAAAeE", "uid": 481}),
    )
}

fn header<'a>(s: &'a Seen, name: &str) -> &'a str {
    s.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn event_id_of(s: &Seen) -> String {
    header(s, "x-imapapi-event-id").to_string()
}

#[tokio::test]
async fn posts_the_exact_event_json_with_its_id() {
    let rx = Receiver::start(Receiver::answering(StatusCode::OK)).await;
    let rig = Rig::start(Options::with_url(rx.url("/hook?x=1"))).await;
    let ev = event(EventKind::MessageNew);
    let published = rig.publish(&ev).await;

    let seen = rx.wait_for(1).await;
    let s = &seen[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.path_and_query, "/hook?x=1");
    assert_eq!(s.body.as_ref(), published.as_slice());
    assert_eq!(event_id_of(s), ev.id.to_string());
    assert_eq!(header(s, "content-type"), "application/json");
    assert_eq!(
        header(s, "user-agent"),
        concat!("imapapi/", env!("CARGO_PKG_VERSION"))
    );
    assert!(s.headers.get("authorization").is_none());
    let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(body["id"], ev.id.to_string());
    assert_eq!(body["event"], "messageNew");

    // Acked: never delivered again, never dead-lettered.
    sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.seen().len(), 1);
    assert!(rig.dead().await.is_empty());
    rig.stop().await;
}

#[tokio::test]
async fn events_of_deleted_accounts_are_settled_and_not_sent() {
    let rx = Receiver::start(Receiver::answering(StatusCode::OK)).await;
    let rig = Rig::start(Options::with_url(rx.url("/"))).await;
    rig.publish(&event(EventKind::MessageNew)).await;
    rx.wait_for(1).await;

    // Deleted after these were published (as when DELETE races the account's last events),
    // and one of an account that never existed.
    rig.store.delete_account(ACCOUNT).await.unwrap();
    sleep(imapapi_dispatch::ACCOUNT_MAX_AGE + Duration::from_millis(100)).await;
    rig.publish(&event(EventKind::MessageDeleted)).await;
    let mut ghost = event(EventKind::MessageNew);
    ghost.account = "ghost".into();
    rig.publish(&ghost).await;

    sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.seen().len(), 1, "only the event of the live account");
    assert!(
        rig.dead().await.is_empty(),
        "dropped events are acked, not failed"
    );
    rig.stop().await;
}

#[tokio::test]
async fn delivers_only_the_listed_event_types() {
    let rx = Receiver::start(Receiver::answering(StatusCode::OK)).await;
    let mut opts = Options::with_url(rx.url("/"));
    opts.settings.webhook_events = Some(vec!["messageDeleted".into(), "mailboxNew".into()]);
    let rig = Rig::start(opts).await;
    let kinds = [
        EventKind::MessageNew,
        EventKind::MessageDeleted,
        EventKind::ConnectError,
        EventKind::MailboxNew,
        EventKind::MessageUpdated,
    ];
    for k in kinds {
        rig.publish(&event(k)).await;
    }
    rx.wait_for(2).await;
    sleep(Duration::from_millis(300)).await;
    let mut got: Vec<String> = rx
        .seen()
        .iter()
        .map(|s| {
            let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            v["event"].as_str().unwrap().to_string()
        })
        .collect();
    got.sort();
    assert_eq!(got, ["mailboxNew", "messageDeleted"]);
    // Filtered events are settled, not failed.
    assert!(rig.dead().await.is_empty());
    rig.stop().await;
}

#[tokio::test]
async fn star_delivers_every_event_type() {
    let rx = Receiver::start(Receiver::answering(StatusCode::OK)).await;
    let mut opts = Options::with_url(rx.url("/"));
    opts.settings.webhook_events = Some(vec!["*".into()]);
    let rig = Rig::start(opts).await;
    for k in EventKind::ALL {
        rig.publish(&event(k)).await;
    }
    rx.wait_for(EventKind::ALL.len()).await;
    sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.seen().len(), EventKind::ALL.len());
    rig.stop().await;
}

#[tokio::test]
async fn without_a_url_events_are_settled_and_nothing_is_sent() {
    let rx = Receiver::start(Receiver::answering(StatusCode::OK)).await;
    let mut opts = Options::with_url(String::new());
    opts.settings.webhooks = None;
    let rig = Rig::start(opts).await;
    rig.publish(&event(EventKind::MessageNew)).await;
    sleep(Duration::from_millis(300)).await;
    assert!(rx.seen().is_empty());
    assert!(rig.dead().await.is_empty());
    rig.stop().await;
}

#[tokio::test]
async fn url_credentials_become_basic_auth_and_path_and_query_are_kept() {
    let rx = Receiver::start(Receiver::answering(StatusCode::NO_CONTENT)).await;
    let url = format!(
        "http://us%40er:pa%3Ass@127.0.0.1:{}/path/x?token=abc&y=2",
        rx.port
    );
    let rig = Rig::start(Options::with_url(url)).await;
    rig.publish(&event(EventKind::MessageNew)).await;
    let seen = rx.wait_for(1).await;
    let expected = base64::engine::general_purpose::STANDARD.encode("us@er:pa:ss");
    assert_eq!(
        header(&seen[0], "authorization"),
        format!("Basic {expected}")
    );
    assert_eq!(seen[0].path_and_query, "/path/x?token=abc&y=2");
    sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.seen().len(), 1, "204 counts as success");
    rig.stop().await;
}

#[tokio::test]
async fn failing_twice_then_ok_is_delivered_on_attempt_three() {
    let rx = Receiver::start(Arc::new(|n| {
        let status = if n < 2 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        (status, Duration::ZERO)
    }))
    .await;
    let rig = Rig::start(Options::with_url(rx.url("/"))).await;
    let ev = event(EventKind::MessageUpdated);
    let published = rig.publish(&ev).await;
    let seen = rx.wait_for(3).await;
    for s in &seen {
        assert_eq!(event_id_of(s), ev.id.to_string());
        assert_eq!(s.body.as_ref(), published.as_slice());
    }
    // Backoff from 50 ms, doubling.
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(45));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(95));
    sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.seen().len(), 3);
    assert!(rig.dead().await.is_empty());
    rig.stop().await;
}

fn three_attempts(mut opts: Options) -> Options {
    opts.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::MAX,
        jitter: false,
    };
    opts
}

fn dead_event_id(m: &Message) -> String {
    let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn always_failing_ends_in_the_dead_letter_queue() {
    let rx = Receiver::start(Receiver::answering(StatusCode::SERVICE_UNAVAILABLE)).await;
    let rig = Rig::start(three_attempts(Options::with_url(rx.url("/")))).await;
    let ev = event(EventKind::MessageNew);
    rig.publish(&ev).await;
    let dead = rig.wait_dead(1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead_event_id(&dead[0]), ev.id.to_string());
    assert_eq!(rx.seen().len(), 3);
    rig.stop().await;
}

#[tokio::test]
async fn refused_connections_end_in_the_dead_letter_queue() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://user:secret@127.0.0.1:{port}/hook");
    let rig = Rig::start(three_attempts(Options::with_url(url))).await;
    let ev = event(EventKind::ConnectError);
    rig.publish(&ev).await;
    let dead = rig.wait_dead(1).await;
    assert_eq!(dead_event_id(&dead[0]), ev.id.to_string());
    rig.stop().await;
}

#[tokio::test]
async fn timeouts_end_in_the_dead_letter_queue() {
    let rx = Receiver::start(Arc::new(|_| (StatusCode::OK, Duration::from_secs(3)))).await;
    let mut opts = three_attempts(Options::with_url(rx.url("/slow")));
    opts.timeout = Duration::from_millis(200);
    opts.retry.max_attempts = 2;
    let rig = Rig::start(opts).await;
    let ev = event(EventKind::MessageNew);
    let started = Instant::now();
    rig.publish(&ev).await;
    let dead = rig.wait_dead(1).await;
    assert_eq!(dead_event_id(&dead[0]), ev.id.to_string());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout cut the requests short: {:?}",
        started.elapsed()
    );
    assert_eq!(rx.seen().len(), 2);
    rig.stop().await;
}

#[tokio::test]
async fn unparseable_events_are_dead_lettered_not_posted() {
    let rx = Receiver::start(Receiver::answering(StatusCode::OK)).await;
    let rig = Rig::start(three_attempts(Options::with_url(rx.url("/")))).await;
    let m = Message::new("acc1.messageNew", b"{not json".to_vec());
    let id = m.id;
    rig.bus.publish(QueueName::Events, m).await.unwrap();
    let dead = rig.wait_dead(1).await;
    assert_eq!(dead[0].id, id);
    assert!(rx.seen().is_empty());
    rig.stop().await;
}

#[tokio::test]
async fn deliveries_run_concurrently() {
    let delay = Duration::from_millis(300);
    let rx = Receiver::start(Arc::new(move |_| (StatusCode::OK, delay))).await;
    let mut opts = Options::with_url(rx.url("/"));
    opts.concurrency = 10;
    let rig = Rig::start(opts).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        let ev = event(EventKind::MessageNew);
        ids.push(ev.id.to_string());
        rig.publish(&ev).await;
    }
    let started = Instant::now();
    let seen = rx.wait_for(20).await;
    // The last request still has to be answered; give it its delay.
    let elapsed = started.elapsed() + delay;
    // 20 in series would take 6 s; 10 at a time about 0.6 s.
    assert!(
        elapsed < Duration::from_millis(2500),
        "took {elapsed:?}: not concurrent"
    );
    let mut got: Vec<String> = seen.iter().map(event_id_of).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    rig.stop().await;
}

#[tokio::test]
async fn connections_are_reused() {
    let rx = Receiver::start(Receiver::answering(StatusCode::OK)).await;
    let mut opts = Options::with_url(rx.url("/"));
    opts.concurrency = 1;
    let rig = Rig::start(opts).await;
    let mut latencies = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        rig.publish(&event(EventKind::MessageNew)).await;
        let seen = rx.wait_for(i + 1).await;
        latencies.push(seen[i].at - started);
    }
    rig.stop().await;
    // From publish (a durable queue write) to the request at the receiver; the goal is a
    // webhook within ~100 ms of the change.
    latencies.sort();
    assert!(
        latencies[2] < Duration::from_millis(100),
        "median publish-to-webhook latency {:?}",
        latencies[2]
    );
    // All five went over one kept-alive connection.
    assert_eq!(rx.connections.load(Ordering::SeqCst), 1);
}

/// Log lines written by the subscriber under test.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current_thread (the #[tokio::test] default): the dispatch tasks run on this thread, so the
// thread-local subscriber sees their logs.
#[tokio::test]
async fn failures_are_logged_without_credentials_or_path() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rx = Receiver::start(Receiver::answering(StatusCode::BAD_GATEWAY)).await;
    let url = format!(
        "http://hookuser:hunter2@127.0.0.1:{}/in/tok-s3cr3t?key=k3y",
        rx.port
    );
    let rig = Rig::start(three_attempts(Options::with_url(url))).await;
    let ev = event(EventKind::MessageNew);
    rig.publish(&ev).await;
    rig.wait_dead(1).await;
    rig.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("502"), "the status is logged: {text}");
    assert!(
        text.contains("dead-lettered"),
        "the outcome is logged: {text}"
    );
    assert!(text.contains(&ev.id.to_string()), "the event id is logged");
    for secret in ["hunter2", "hookuser", "tok-s3cr3t", "k3y"] {
        assert!(!text.contains(secret), "{secret} leaked into logs: {text}");
    }
}
