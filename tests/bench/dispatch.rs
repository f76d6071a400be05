//! The dispatch benchmark: events per second from the events queue to a webhook receiver,
//! with 1, 2 and 4 dispatch processes sharing the queue, on RabbitMQ and on SQS (moto's
//! server).
//!
//! ```text
//! cargo bench --bench dispatch
//! BENCH_EVENTS=2000 BENCH_DISPATCHERS=1,2 BENCH_QUEUE=sqs cargo bench --bench dispatch
//! ```
//!
//! On RabbitMQ each round publishes `BENCH_EVENTS` (5,000) `messageNew` events of one
//! registered account onto the queue first (with no dispatch process running), then starts
//! N `imapapi dispatch` processes (`BENCH_DISPATCHERS`, default `1,2,4`;
//! `webhooks.concurrency` 16 each). On SQS the dispatch processes start first and the
//! events are published meanwhile with at most `BENCH_BACKLOG` (200) not yet delivered:
//! moto's server scans its whole queue on each receive, so a deep backlog would measure
//! moto, not us. Either way the receiver's requests are timed from the first to the last:
//! events per second end to end (consume, settings and account checks, HTTP POST, ack). The
//! receiver is a bare hyper server that answers 200 at once, so it is not what is measured.
//! `BENCH_QUEUE=rabbitmq,sqs` picks the backends; Redis db 9 (`BENCH_REDIS`, flushed
//! first), RabbitMQ at `BENCH_AMQP`, SQS at `BENCH_SQS` (default `http://127.0.0.1:4566`),
//! each with a random queue prefix whose queues are deleted afterwards.

#[path = "../support/mod.rs"]
mod support;

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use common::{Report, env_nums, loadavg, run_part, secs};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use imapapi_common::bus::rabbitmq::RabbitBus;
use imapapi_common::bus::sqs::{SqsBus, SqsTuning, local_client};
use imapapi_common::bus::{Message, QueueName, RetryPolicy, WorkQueues};
use imapapi_common::model::{AccountConfig, Event, EventKind, Settings};
use imapapi_common::store::redis::RedisStore;
use imapapi_common::store::{AccountStore, SettingsStore};
use support::Gateway;
use tokio::net::TcpListener;

/// Counts the requests it answers and when the first and the last came.
#[derive(Default)]
struct Counter {
    requests: AtomicU64,
    first_us: AtomicU64,
    last_us: AtomicU64,
}

async fn receiver(counter: Arc<Counter>, epoch: Instant) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let at = epoch.elapsed().as_micros() as u64;
                    let _ = counter.first_us.compare_exchange(
                        0,
                        at,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                    counter.last_us.fetch_max(at, Ordering::SeqCst);
                    counter.requests.fetch_add(1, Ordering::SeqCst);
                    async { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new()))) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(url)
}

fn account() -> AccountConfig {
    serde_json::from_value(serde_json::json!({
        "account": "bench", "name": "Bench",
        "imap": {"host": "127.0.0.1", "port": 1, "auth": {"user": "u", "pass": "p"}}
    }))
    .expect("account JSON")
}

/// The queue of one round: the bus to publish on, and how a dispatch process reaches it.
struct QueueUnderTest {
    name: &'static str,
    bus: Arc<dyn WorkQueues>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Publish while dispatch runs, with at most this many events undelivered; `None`:
    /// fill the queue first.
    backlog: Option<u64>,
    cleanup: std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>,
}

async fn rabbitmq(redis: &str) -> Result<QueueUnderTest> {
    let amqp = std::env::var("BENCH_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let prefix = common::unique("bench-dispatch");
    let bus = Arc::new(RabbitBus::connect(&amqp, &prefix, RetryPolicy::default()).await?);
    let owned = bus.clone();
    Ok(QueueUnderTest {
        name: "RabbitMQ",
        bus,
        args: vec![
            format!("--dbs.redis={redis}"),
            format!("--queue.url={amqp}"),
            format!("--queue.prefix={prefix}"),
        ],
        env: Vec::new(),
        backlog: None,
        cleanup: Box::pin(async move { Ok(owned.delete_topology().await?) }),
    })
}

async fn sqs(redis: &str) -> Result<QueueUnderTest> {
    let endpoint = std::env::var("BENCH_SQS").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let prefix = common::unique("bench-dispatch");
    let bus = Arc::new(
        SqsBus::with_client(
            local_client(&endpoint),
            &prefix,
            RetryPolicy::default(),
            redis::Client::open(redis)?,
            SqsTuning::default(),
        )
        .await?,
    );
    let owned = bus.clone();
    Ok(QueueUnderTest {
        name: "SQS (moto)",
        bus,
        args: vec![
            format!("--dbs.redis={redis}"),
            format!("--queue.url=sqs://{prefix}"),
        ],
        env: vec![
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "bench".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "bench".into()),
            ("AWS_ENDPOINT_URL_SQS".into(), endpoint),
        ],
        backlog: Some(common::env_num("BENCH_BACKLOG", 200) as u64),
        cleanup: Box::pin(async move { Ok(owned.delete_topology().await?) }),
    })
}

/// Publishes `events` events with 16 publishers; with `backlog`, none runs ahead of the
/// receiver by more than that.
async fn fill(
    bus: &Arc<dyn WorkQueues>,
    events: usize,
    backlog: Option<(u64, Arc<Counter>)>,
) -> Result<()> {
    let published = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let publishers = 16;
    for p in 0..publishers {
        let bus = bus.clone();
        let (backlog, published) = (backlog.clone(), published.clone());
        tasks.spawn(async move {
            let mut i = p;
            while i < events {
                if let Some((most, counter)) = &backlog {
                    while published.load(Ordering::SeqCst)
                        > counter.requests.load(Ordering::SeqCst) + most
                    {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                published.fetch_add(1, Ordering::SeqCst);
                let event = Event::new(
                    "bench",
                    EventKind::MessageNew,
                    Some("INBOX".into()),
                    serde_json::json!({"id": "AAAAAQAAAAE", "uid": i + 1, "subject": "bench"}),
                );
                let body = serde_json::to_vec(&event)?;
                bus.publish(QueueName::Events, Message::new(event.routing_key(), body))
                    .await?;
                i += publishers;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn run(report: &Report) -> Result<()> {
    let redis = std::env::var("BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/9".into());
    let client = redis::Client::open(redis.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let () = redis::cmd("FLUSHDB").query_async(&mut conn).await?;
    let store = RedisStore::connect(&redis, "imapapi").await?;
    let epoch = Instant::now();
    let counter = Arc::new(Counter::default());
    let url = receiver(counter.clone(), epoch).await?;
    store.put_account(&account()).await?;
    store
        .put_settings(&Settings {
            webhooks: Some(url),
            webhook_events: Some(vec!["*".into()]),
            ..Settings::default()
        })
        .await?;
    let events = common::env_num("BENCH_EVENTS", 5_000);
    let queues = std::env::var("BENCH_QUEUE").unwrap_or_else(|_| "rabbitmq,sqs".into());
    for kind in queues.split(',') {
        let queue = match kind.trim() {
            "rabbitmq" => rabbitmq(&redis).await?,
            "sqs" => sqs(&redis).await?,
            other => anyhow::bail!("BENCH_QUEUE: unknown queue {other:?}"),
        };
        for n in env_nums("BENCH_DISPATCHERS", &[1, 2, 4]) {
            let part = format!("{} {n} dispatch", queue.name);
            round(report, &part, &queue, &counter, events, n).await;
        }
        queue.cleanup.await?;
    }
    Ok(())
}

/// One round: `n` dispatch processes deliver `events` events.
async fn round(
    report: &Report,
    part: &str,
    queue: &QueueUnderTest,
    counter: &Arc<Counter>,
    events: usize,
    n: usize,
) {
    let (bus, args, env, backlog, counter, part_name) = (
        queue.bus.clone(),
        queue.args.clone(),
        queue.env.clone(),
        queue.backlog,
        counter.clone(),
        part.to_string(),
    );
    run_part(part.to_string(), report, move |report| async move {
        counter.requests.store(0, Ordering::SeqCst);
        counter.first_us.store(0, Ordering::SeqCst);
        counter.last_us.store(0, Ordering::SeqCst);
        if backlog.is_none() {
            fill(&bus, events, None).await.context("publishing")?;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut dispatchers = Vec::new();
        for _ in 0..n {
            dispatchers.push(Gateway::spawn_role("dispatch", &args, &env).await);
        }
        if let Some(most) = backlog {
            fill(&bus, events, Some((most, counter.clone())))
                .await
                .context("publishing")?;
        }
        let deadline = Instant::now() + Duration::from_secs(300);
        while counter.requests.load(Ordering::SeqCst) < events as u64 {
            ensure!(
                Instant::now() < deadline,
                "{} of {events} delivered",
                counter.requests.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let span = Duration::from_micros(
            counter.last_us.load(Ordering::SeqCst) - counter.first_us.load(Ordering::SeqCst),
        );
        let rate = (events - 1) as f64 / span.as_secs_f64().max(1e-6);
        report.info(
            &part_name,
            format!("{events} events, queue → webhook"),
            format!("{} ({rate:.0} events/s)", secs(span)),
        );
        for mut d in dispatchers {
            d.stop().await;
        }
        Ok(())
    })
    .await;
}

fn main() {
    if !common::invoked_by_cargo_bench("dispatch") {
        return;
    }
    let runtime = common::bench_runtime();
    let report = Report::default();
    let started = Instant::now();
    let load_start = loadavg();
    if let Err(e) = runtime.block_on(run(&report)) {
        report.note(format!("setup failed: {e:#}"));
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    let header = format!(
        "imapapi dispatch benchmark (RabbitMQ, SQS)\nmachine: {} cores; load average at start {load_start}, at end {}; took {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        secs(started.elapsed()),
    );
    report.finish("dispatch", &header);
}
