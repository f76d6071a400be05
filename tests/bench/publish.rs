//! The batching benchmark of issue #10: how long publishing events and recording them in
//! the changes history take one by one (a round trip each, as ingest did) and in batches
//! (`WorkQueues::publish_batch`, `ChangeStore::append_changes`, as ingest does now).
//!
//! ```text
//! cargo bench --bench publish
//! BENCH_EVENTS=5000 BENCH_BATCH=500 BENCH_PARTS=rabbitmq,sqs cargo bench --bench publish
//! ```
//!
//! Parts (`BENCH_PARTS`, default all): `embedded`, `rabbitmq`, `sqs` (the bus: events
//! published on the events queue) and `store` (the changes history, embedded and Redis).
//! Each publishes `BENCH_EVENTS` (2,000; on SQS `BENCH_SQS_EVENTS`, 500) events of about
//! 1 KiB, first one at a time, then in batches of `BENCH_BATCH` (1,000, ingest's
//! `EVENT_BATCH`), each round on queues of its own. Backends on this machine
//! only: RabbitMQ at `BENCH_AMQP`, SQS at `BENCH_SQS` (default moto's at
//! `http://127.0.0.1:4566`, with Redis for large bodies), Redis at `BENCH_REDIS` (default
//! db 9), each under a random prefix whose queues or keys are removed afterwards.

#[path = "../support/mod.rs"]
mod support;

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use common::{Report, env_num, env_parts, loadavg, run_part, secs, unique};
use imapapi_common::bus::embedded::EmbeddedBus;
use imapapi_common::bus::rabbitmq::RabbitBus;
use imapapi_common::bus::sqs::{SqsBus, SqsTuning, local_client};
use imapapi_common::bus::{Message, QueueName, RetryPolicy, WorkQueues};
use imapapi_common::model::{AccountConfig, Event, EventKind};
use imapapi_common::store::SharedStore;
use imapapi_common::store::changes::DEFAULT_MAX_CHANGES;

/// What one part measures with.
#[derive(Clone, Copy)]
struct Opts {
    events: usize,
    batch: usize,
}

/// `n` events shaped like ingest's `messageNew`, as the bus carries them.
fn events(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let data = serde_json::json!({
                "id": format!("AAAAAQAAA{i:04}"), "uid": i, "path": "INBOX",
                "subject": format!("Quarterly report number {i}"),
                "from": {"name": "Sender", "address": "sender@example.com"},
                "to": [{"name": "Bench", "address": "bench@example.com"}],
                "messageId": format!("<{i}.bench@example.com>"),
                "date": "2024-05-01T10:00:00.000Z", "flags": ["\\Seen"], "size": 2048,
                "intro": "x".repeat(600),
            });
            let event = Event::new("bench", EventKind::MessageNew, Some("INBOX".into()), data);
            serde_json::to_vec(&event).expect("an event encodes")
        })
        .collect()
}

fn messages(bodies: &[Vec<u8>]) -> Vec<Message> {
    bodies
        .iter()
        .map(|b| Message::new("bench.messageNew", b.clone()))
        .collect()
}

/// Events per second over `took`.
fn rate(n: usize, took: Duration) -> String {
    format!(
        "{:.0} events/s ({})",
        n as f64 / took.as_secs_f64(),
        secs(took)
    )
}

/// A bus on queues of its own for one round, so that neither round publishes onto what
/// the other left (moto's server slows down as its queue grows).
enum Fresh {
    Embedded {
        bus: EmbeddedBus,
        /// Kept until the bus is gone.
        _dir: tempfile::TempDir,
    },
    Rabbit(RabbitBus),
    Sqs(SqsBus),
}

impl Fresh {
    async fn open(kind: &str) -> Result<Fresh> {
        Ok(match kind {
            "rabbitmq" => {
                let url = std::env::var("BENCH_AMQP")
                    .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
                Fresh::Rabbit(RabbitBus::connect(&url, &unique("bench"), POLICY).await?)
            }
            "sqs" => {
                let endpoint =
                    std::env::var("BENCH_SQS").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
                let prefix = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
                let redis = redis::Client::open(redis_url())?;
                let client = local_client(&endpoint);
                let tuning = SqsTuning::default();
                Fresh::Sqs(SqsBus::with_client(client, &prefix, POLICY, redis, tuning).await?)
            }
            _ => {
                let dir = tempfile::tempdir()?;
                let bus = EmbeddedBus::open(dir.path(), POLICY).await?;
                Fresh::Embedded { bus, _dir: dir }
            }
        })
    }

    fn bus(&self) -> &dyn WorkQueues {
        match self {
            Fresh::Embedded { bus, .. } => bus,
            Fresh::Rabbit(bus) => bus,
            Fresh::Sqs(bus) => bus,
        }
    }

    async fn close(self) -> Result<()> {
        match self {
            Fresh::Embedded { .. } => {}
            Fresh::Rabbit(bus) => bus.delete_topology().await?,
            Fresh::Sqs(bus) => bus.delete_topology().await?,
        }
        Ok(())
    }
}

/// Publishes `n` events one by one on fresh queues of `kind`: how long it took.
async fn one_by_one(kind: &str, n: usize) -> Result<Duration> {
    let fresh = Fresh::open(kind).await?;
    let started = Instant::now();
    for m in messages(&events(n)) {
        fresh.bus().publish(QueueName::Events, m).await?;
    }
    let took = started.elapsed();
    fresh.close().await?;
    Ok(took)
}

/// Publishes `n` events in batches of `batch` on fresh queues of `kind`.
async fn batched(kind: &str, n: usize, batch: usize) -> Result<Duration> {
    let fresh = Fresh::open(kind).await?;
    let mut all = messages(&events(n));
    let started = Instant::now();
    while !all.is_empty() {
        let rest = all.split_off(batch.min(all.len()));
        let this = std::mem::replace(&mut all, rest);
        fresh.bus().publish_batch(QueueName::Events, this).await?;
    }
    let took = started.elapsed();
    fresh.close().await?;
    Ok(took)
}

/// Publishes the events one by one, then in batches, each on fresh queues, and reports both.
async fn part_bus(kind: &'static str, opts: Opts, report: Report) -> Result<()> {
    // moto's server takes tens of ms per call: fewer events keep the round short.
    let n = match kind {
        "sqs" => env_num("BENCH_SQS_EVENTS", 500),
        _ => opts.events,
    };
    let single = one_by_one(kind, n).await?;
    let grouped = batched(kind, n, opts.batch).await?;
    report.info(kind, "publish one by one", rate(n, single));
    report.info(
        kind,
        format!("publish_batch of {}", opts.batch),
        rate(n, grouped),
    );
    report.info(
        kind,
        "speed-up",
        format!("{:.1}x", single.as_secs_f64() / grouped.as_secs_f64()),
    );
    Ok(())
}

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_secs(1),
    max_delay: Duration::MAX,
    jitter: false,
};

fn redis_url() -> String {
    std::env::var("BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/9".into())
}

/// Appends the events to one account's history one by one, then in batches.
async fn store_rounds(store: &SharedStore, name: &str, opts: Opts, report: &Report) -> Result<()> {
    let account: AccountConfig = serde_json::from_value(serde_json::json!({
        "account": "bench", "name": "Bench",
        "imap": {"host": "127.0.0.1", "port": 1, "auth": {"user": "u", "pass": "p"}}
    }))?;
    store.put_account(&account).await?;
    let bodies = events(opts.events);
    let started = Instant::now();
    for b in &bodies {
        store.append_change("bench", b, DEFAULT_MAX_CHANGES).await?;
    }
    let single = started.elapsed();
    let started = Instant::now();
    for chunk in bodies.chunks(opts.batch) {
        store
            .append_changes("bench", chunk.to_vec(), DEFAULT_MAX_CHANGES)
            .await?;
    }
    let batched = started.elapsed();
    store.delete_account("bench").await?;
    report.info(name, "append_change one by one", rate(opts.events, single));
    report.info(
        name,
        format!("append_changes of {}", opts.batch),
        rate(opts.events, batched),
    );
    Ok(())
}

async fn part_store(opts: Opts, report: Report) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let embedded: SharedStore =
        Arc::new(imapapi_common::store::embedded::EmbeddedStore::open(dir.path()).await?);
    store_rounds(&embedded, "store embedded", opts, &report).await?;
    let prefix = unique("bench-store");
    let redis = imapapi_common::store::redis::RedisStore::connect(&redis_url(), &prefix).await?;
    let shared: SharedStore = Arc::new(redis);
    let result = store_rounds(&shared, "store redis", opts, &report).await;
    remove_keys(&prefix).await?;
    result
}

/// Every key under `prefix` in the bench's Redis.
async fn remove_keys(prefix: &str) -> Result<()> {
    let client = redis::Client::open(redis_url())?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut con)
        .await?;
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(keys).query_async(&mut con).await?;
    }
    Ok(())
}

async fn run(report: &Report) {
    let opts = Opts {
        events: env_num("BENCH_EVENTS", 2_000),
        batch: env_num("BENCH_BATCH", 1_000).max(1),
    };
    for part in env_parts("embedded,rabbitmq,sqs,store") {
        let r = report.clone();
        match part.as_str() {
            "embedded" => run_part(&part, &r, move |r| part_bus("embedded", opts, r)).await,
            "rabbitmq" => run_part(&part, &r, move |r| part_bus("rabbitmq", opts, r)).await,
            "sqs" => run_part(&part, &r, move |r| part_bus("sqs", opts, r)).await,
            "store" => run_part(&part, &r, move |r| part_store(opts, r)).await,
            other => {
                report.note(format!("unknown part {other}"));
                None
            }
        };
    }
}

fn main() {
    if !common::invoked_by_cargo_bench("publish") {
        return;
    }
    let runtime = common::bench_runtime();
    let report = Report::default();
    let started = Instant::now();
    let load_start = loadavg();
    runtime.block_on(run(&report));
    runtime.shutdown_timeout(Duration::from_secs(5));
    let header = format!(
        "imapapi publish benchmark (events one by one and in batches)\nmachine: {} cores; load average at start {load_start}, at end {}; took {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        secs(started.elapsed()),
    );
    report.finish("publish", &header);
}
