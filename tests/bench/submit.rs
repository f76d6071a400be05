//! The sending benchmark: how fast the api accepts a submit, how many messages per second
//! go through the submit role to the local Postfix (delivered into Dovecot), and how long a
//! message takes from the request to the recipient's Maildir.
//!
//! Run (release; `cargo bench` builds the release binary that `Gateway::spawn` starts):
//!
//! ```text
//! cargo bench --bench submit
//! BENCH_SENDS=100 cargo bench --bench submit     # a quick run
//! ```
//!
//! Options (environment): `BENCH_SENDS` (300): messages of the accept and throughput parts;
//! `BENCH_LATENCY_SENDS` (50): messages of the latency part; `BENCH_CLIENTS` (8): concurrent
//! clients of the throughput part.
//!
//! Figures:
//! - `accept`: `POST /v1/account/:id/submit` of a small message, sequential, timed to the
//!   answer (`{messageId, queueId}`): p50/p99; the goal is under 5 ms.
//! - `throughput`: BENCH_SENDS messages submitted by BENCH_CLIENTS clients, timed from the
//!   first request until the last one is in the recipient's Maildir (Postfix delivering
//!   over LMTP): messages per second end to end.
//! - `latency`: one message at a time, from the request until its file appears in the
//!   recipient's Maildir (polled every 2 ms): p50/p99. The original sent synchronously and
//!   answered after 66–88 ms on this machine.
//!
//! It uses the test rig's Dovecot and Postfix (`infra/postfix/start.sh`), an embedded
//! gateway, and one sender account whose Sent copies are stored too.

#[path = "../support/mod.rs"]
mod support;

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use common::{Report, env_num, loadavg, pct, run_part, secs, spawn_gateway, wait_synced};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use support::{Dovecot, Postfix, TestUser};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Bound of one submit request.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(connector)
}

/// Starts Postfix (and Dovecot) with the script's output in a file: a daemon started by
/// the script keeps its stderr open, so waiting for captured output would never end.
fn start_postfix() -> (&'static Dovecot, &'static Postfix) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/postfix/start.sh");
    let log_path = common::target_dir().join("bench-postfix-start.log");
    let log = std::fs::File::create(&log_path).expect("start log");
    let status = Command::new("timeout")
        .arg("300")
        .arg("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .status()
        .expect("running infra/postfix/start.sh");
    assert!(
        status.success(),
        "start.sh failed; see {}",
        log_path.display()
    );
    (Dovecot::ensure(), Postfix::ensure())
}

/// Messages in a Maildir folder (new and cur).
fn maildir_count(dir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|sub| std::fs::read_dir(dir.join(sub)).map_or(0, |d| d.count()))
        .sum()
}

struct Rig {
    base: String,
    account: String,
    sender: TestUser,
    recipient: TestUser,
    inbox: std::path::PathBuf,
    client: HttpClient,
}

impl Rig {
    fn body(&self, i: usize) -> Value {
        json!({
            "from": {"name": "Bench", "address": format!("{}@example.com", self.sender.user)},
            "to": [{"address": format!("{}@example.com", self.recipient.user)}],
            "subject": format!("bench {i}"),
            "text": "A small message of the sending benchmark.",
        })
    }

    /// One submit, timed to its answer.
    async fn submit(&self, i: usize) -> Result<Duration> {
        let url = format!("{}/v1/account/{}/submit", self.base, self.account);
        let req = hyper::Request::post(&url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(&self.body(i))?)))?;
        let t = Instant::now();
        let resp = tokio::time::timeout(CALL_TIMEOUT, self.client.request(req))
            .await
            .context("no answer in time")??;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        let took = t.elapsed();
        if status != 200 {
            bail!("submit: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(took)
    }

    /// Wait until the recipient's INBOX holds `n` messages.
    async fn delivered(&self, n: usize, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        while maildir_count(&self.inbox) < n {
            ensure!(
                Instant::now() < deadline,
                "{} of {n} delivered after {within:?}",
                maildir_count(&self.inbox)
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}

fn lat(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    format!(
        "p50 {:.2} ms, p99 {:.2} ms",
        pct(samples, 50.0),
        pct(samples, 99.0)
    )
}

async fn run(report: &Report) -> Result<()> {
    let (dv, pf) = tokio::task::spawn_blocking(start_postfix).await?;
    let gw = spawn_gateway(dv, None, &[]).await;
    let base = gw.base_url();
    let sender = dv.create_user("bench-sender");
    let recipient = dv.create_user("bench-rcpt");
    let account = common::unique("bench-sender");
    common::register(
        &base,
        json!({
            "account": account, "name": "Bench sender",
            "imap": dv.imap_account_json(&sender, false),
            "smtp": pf.smtp_account_json(&sender, false),
        }),
    )
    .await?;
    wait_synced(&base, &account, Duration::from_secs(60)).await?;
    let rig = Arc::new(Rig {
        base,
        account,
        inbox: dv.maildir_path(&recipient.user, "INBOX"),
        sender,
        recipient,
        client: http_client(),
    });
    let sends = env_num("BENCH_SENDS", 300);
    let latency_sends = env_num("BENCH_LATENCY_SENDS", 50);
    let clients = env_num("BENCH_CLIENTS", 8).max(1);

    // Accept: sequential requests; the sends they queue drain in the background.
    let r = rig.clone();
    let accept = run_part("accept", report, move |report| async move {
        for i in 0..5 {
            r.submit(i).await?;
        }
        let mut samples = Vec::with_capacity(sends);
        for i in 0..sends {
            samples.push(r.submit(i).await?.as_secs_f64() * 1000.0);
        }
        let figure = lat(&mut samples);
        let p50 = pct(&samples, 50.0);
        report.check(
            "accept",
            format!("POST submit, sequential ({sends})"),
            figure,
            "p50 < 5 ms",
            p50 < 5.0,
        );
        r.delivered(sends + 5, Duration::from_secs(300)).await?;
        Ok(())
    })
    .await;
    if accept.is_none() {
        return Ok(());
    }

    // Throughput: `sends` messages from `clients` clients, until the last is delivered.
    let r = rig.clone();
    run_part("throughput", report, move |report| async move {
        let before = maildir_count(&r.inbox);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for c in 0..clients {
            let r = r.clone();
            tasks.spawn(async move {
                let mut i = c;
                while i < sends {
                    r.submit(i).await?;
                    i += clients;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        let accepted = started.elapsed();
        r.delivered(before + sends, Duration::from_secs(300))
            .await?;
        let total = started.elapsed();
        report.info(
            "throughput",
            format!("{sends} messages, {clients} clients: all accepted"),
            format!(
                "{} ({:.0}/s)",
                secs(accepted),
                sends as f64 / accepted.as_secs_f64()
            ),
        );
        report.info(
            "throughput",
            "request → delivered into Dovecot, all of them",
            format!(
                "{} ({:.1} messages/s)",
                secs(total),
                sends as f64 / total.as_secs_f64()
            ),
        );
        Ok(())
    })
    .await;

    // Latency: one at a time, until it is in the recipient's Maildir.
    let r = rig.clone();
    run_part("latency", report, move |report| async move {
        let mut samples = Vec::with_capacity(latency_sends);
        for i in 0..latency_sends {
            let before = maildir_count(&r.inbox);
            let t = Instant::now();
            r.submit(i).await?;
            r.delivered(before + 1, Duration::from_secs(60)).await?;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        report.info(
            "latency",
            format!("request → in the recipient's Maildir ({latency_sends}, sequential)"),
            lat(&mut samples),
        );
        report.info(
            "latency",
            "the original (synchronous SMTP) here",
            "66–88 ms",
        );
        Ok(())
    })
    .await;
    drop(gw);
    Ok(())
}

fn main() {
    if !common::invoked_by_cargo_bench("submit") {
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
        "imapapi sending benchmark\nmachine: {} cores; load average at start {load_start}, at end {}; took {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        secs(started.elapsed()),
    );
    report.finish("submit", &header);
}
