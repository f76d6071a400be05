//! The command benchmark: what an API call costs on the gateway's own command connections
//! (ingest/src/command_pool.rs, ingest/src/cmd/*) beside the same IMAP work done by a bare
//! client, and how a 25 MB attachment streams.
//!
//! Run (release; `cargo bench` builds the release binary that `Gateway::spawn` starts):
//!
//! ```text
//! cargo build --release
//! cargo bench --bench commands
//! # a quick run:
//! BENCH_MESSAGES=2000 BENCH_CALLS=100 BENCH_CLIENTS=4 cargo bench --bench commands
//! # only some parts:
//! BENCH_PARTS=attachment cargo bench --bench commands
//! ```
//!
//! Options (environment):
//! - `BENCH_PARTS`: any of `listing,details,attachment` (default all three).
//! - `BENCH_MESSAGES`: INBOX sizes, comma separated (default `10000,100000`); one account
//!   per size, all on one embedded gateway (`imapapi` with no subcommand), each registered
//!   with `path: "INBOX"` so its initial sync is quick.
//! - `BENCH_CALLS` (500): timed calls per figure, after a few untimed warm-up calls.
//! - `BENCH_CLIENTS` (16): concurrent clients of the concurrent figures.
//! - `BENCH_GATEWAY_ARGS`: extra gateway arguments, space separated, e.g.
//!   `--ingest.commandConnections=16` (the default pool is 4 connections per account).
//! - `BENCH_REDIS` (`redis://127.0.0.1:6379/9`, flushed first) and `BENCH_AMQP`
//!   (`amqp://guest:guest@127.0.0.1:5672/%2f`, queue prefix `bench-<random>`, topology
//!   deleted afterwards): the backends of the distributed attachment run.
//!
//! Figures, per INBOX size (`listing 10k`, `details 100k`, …):
//! - `ours`: `GET /v1/account/:id/messages?path=INBOX&page=0&pageSize=20` (listing) or
//!   `GET /v1/account/:id/message/:id` (details, round robin over the ids of page 0), timed
//!   from request to the last body byte over one keep-alive HTTP connection per client.
//! - `direct`: the same IMAP work by a bare async-imap client on an INBOX it has already
//!   EXAMINEd, over TLS (the gateway uses STARTTLS): listing = `FETCH <last 20>` and details
//!   = `UID FETCH <uid>`, both with ingest's own items (`decode::FetchItems::list`: details
//!   without `textType` are built from the header block and BODYSTRUCTURE alone).
//! - `ours − direct p50`: the gateway's price per call; the goal is ≤ 1 ms, and the same at
//!   every size (the `summary` rows compare the largest size with the smallest).
//! - `direct NOOP + …`: a command connection's commands before ingest's message cache
//!   (`ingest.messageCache`): a listing NOOPs a connection that already has the folder
//!   selected, then FETCHes the page. With the cache warm (every timed call here: the
//!   warm-up calls read the same messages), a listing sends NOOP + `FETCH <range> (UID
//!   FLAGS)` and details only `UID FETCH <uid> (UID FLAGS)` (a UID command needs no NOOP),
//!   so `ours − (NOOP + …)` can be negative: the gateway asks the server for less than
//!   the bare client does.
//! - `GET /v1/account/:id`: a call that needs no IMAP (HTTP and a store read only).
//! - `gateway CPU per call`: user + system time of the gateway process over a sequential
//!   run (`/proc/<pid>/stat`), divided by the calls.
//! - `N clients`: BENCH_CALLS calls spread over BENCH_CLIENTS concurrent clients (each
//!   waits for its answer before the next call): p50/p99 per call and throughput. Bare:
//!   BENCH_CLIENTS sessions of their own. Ours: the account's command pool bounds how many
//!   calls run at once (`ingest.commandConnections`); the rest queue, except details with
//!   the cache warm, whose waiting callers share one `UID FETCH <uids> (UID FLAGS)` in
//!   batches of up to 4 (ingest/src/flag_reads.rs).
//! - `ours, APPEND every 100 ms`: the sequential listing again while a second IMAP client
//!   APPENDs a message to the INBOX every 100 ms, keeping the watcher session busy (IDLE
//!   wake-ups, fetches, events): calls run on their own connections and should not notice.
//!   `direct NOOP + FETCH, APPEND every 100 ms` is the bare client under the same load:
//!   the stalls Dovecot itself gives a FETCH while mail arrives (its max and p99).
//!
//! `attachment`: one message with a 25 MiB base64 attachment. `GET
//! /v1/account/:id/attachment/:id` downloaded fully three times (time to first byte, total
//! time, throughput; every byte compared with the original) while the gateway's VmRSS is
//! sampled every 10 ms: `peak RSS growth` is the highest sample less the sample taken just
//! before the download. Once on an embedded gateway, once distributed (`imapapi api` and
//! `imapapi ingest` on Redis + RabbitMQ, each process sampled), with each process's CPU
//! time per download. Beside it, a bare `UID FETCH <uid> (BODY.PEEK[2])` of the still
//! encoded part (35.9 MB with line breaks), and the same part fetched the way a download
//! asks for it: 1 MiB ranges (`BODY.PEEK[2]<offset.1048576>`) one after another.
//!
//! Backends, all on this machine: the private Dovecot of `tests/bench/pipeline.rs`
//! (`infra/dovecot/start.sh` in `/tmp/imapapi-bench-dovecot`, ports 11143/11993; set
//! `IMAPAPI_DOVECOT_DIR` to use another). Mail is written straight into the Maildir
//! (`Dovecot::fill_maildir`) and indexed by one untimed SELECT before the gateway sees it.
//!
//! Every wait is bounded; a part that fails is reported as failed and the others still run.
//! The figures are printed as a table and written to `target/bench-commands.txt`.

#[path = "../support/mod.rs"]
mod support;

#[path = "../pipeline/mod.rs"]
mod pipeline;

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use imapapi_ingest::decode::FetchItems;

/// What ingest fetches for a listing entry and for details without text (no Gmail or
/// OBJECTID ids: Dovecot has neither).
fn items() -> String {
    FetchItems::new(false, false).list()
}
use serde_json::Value;
use tokio::time::timeout;

use common::{
    BareSession, IMAP_TIMEOUT, Report, bare_session, env_num, env_nums, env_parts, loadavg, ms,
    pct, register, remove_mail, run_part, secs, spawn_gateway, start_dovecot, unique, vm_rss_kib,
    wait_synced,
};
use pipeline::account_body;
use support::{Dovecot, ImapTestClient, TestUser};

/// Bound of Dovecot's first SELECT of a freshly filled folder (it indexes every file).
const INDEX_TIMEOUT: Duration = Duration::from_secs(900);
/// Bound of one initial sync by the gateway.
const SYNC_TIMEOUT: Duration = Duration::from_secs(900);
/// Bound of one timed API call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound of one attachment download.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Untimed calls before each sequential run (opens the command connection, warms caches).
const WARMUP: usize = 20;
/// Messages per listing page.
const PAGE_SIZE: usize = 20;
/// The attachment: 25 MiB decoded.
const ATTACHMENT_BYTES: usize = 25 << 20;
/// How often the RSS sampler looks.
const RSS_EVERY: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

struct Opts {
    parts: Vec<String>,
    sizes: Vec<usize>,
    calls: usize,
    clients: usize,
    gateway_args: Vec<String>,
    redis: String,
    amqp: String,
}

impl Opts {
    fn from_env() -> Opts {
        Opts {
            parts: env_parts("listing,details,attachment"),
            sizes: env_nums("BENCH_MESSAGES", &[10_000, 100_000])
                .into_iter()
                .map(|n| n.max(PAGE_SIZE))
                .collect(),
            calls: env_num("BENCH_CALLS", 500).max(1),
            clients: env_num("BENCH_CLIENTS", 16).max(1),
            gateway_args: std::env::var("BENCH_GATEWAY_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            redis: std::env::var("BENCH_REDIS")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379/9".into()),
            amqp: std::env::var("BENCH_AMQP")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        }
    }

    fn wants(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

/// `10k`, `100k`, `2500`.
fn size_label(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

// ---------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------

/// Latencies of one run, in ms, sorted; with the wall time of a concurrent run.
struct Lat {
    ms: Vec<f64>,
    wall: Option<Duration>,
}

impl Lat {
    fn new(mut ms: Vec<f64>, wall: Option<Duration>) -> Lat {
        ms.sort_by(f64::total_cmp);
        Lat { ms, wall }
    }

    fn p50(&self) -> f64 {
        pct(&self.ms, 50.0)
    }

    fn p99(&self) -> f64 {
        pct(&self.ms, 99.0)
    }

    /// `line` with the slowest call.
    fn line_max(&self) -> String {
        format!(
            "{}, max {:.2} ms",
            self.line(),
            self.ms.last().copied().unwrap_or(f64::NAN)
        )
    }

    fn line(&self) -> String {
        let mut s = format!("p50 {:.2} ms, p99 {:.2} ms", self.p50(), self.p99());
        if let Some(wall) = self.wall {
            s.push_str(&format!(
                ", {:.0} calls/s",
                self.ms.len() as f64 / wall.as_secs_f64()
            ));
        }
        s
    }
}

fn to_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `ours − direct` at p50, checked against the 1 ms goal.
fn check_delta(report: &Report, part: &str, what: &str, ours: &Lat, direct: &Lat) -> f64 {
    let delta = ours.p50() - direct.p50();
    report.check(
        part,
        format!("ours − direct p50, {what}"),
        format!("{delta:.2} ms"),
        "≤ 1 ms",
        delta <= 1.0,
    );
    delta
}

/// User + system CPU time of a process so far (`/proc/<pid>/stat`, clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself contain spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / hz))
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

/// A small, realistic message: trace and DKIM headers, a mailing-list header, and a
/// multipart/alternative body with text and HTML (about 2 KB).
fn realistic_message(i: usize) -> Vec<u8> {
    let k = i % 211;
    let (hh, mm, ss) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
    let sig: String = (0..172)
        .map(|j| {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                [(i * 7 + j * 13) % 64] as char
        })
        .collect();
    format!(
        "Return-Path: <bounces-{k}@lists.example.org>\r\n\
         Received: from mx{k}.example.org (mx{k}.example.org [192.0.2.{k}])\r\n\
         \tby mail.example.com (Postfix) with ESMTPS id 4X{i:08X}\r\n\
         \tfor <bench@example.com>; Mon, 7 Oct 2030 {hh:02}:{mm:02}:{ss:02} +0000\r\n\
         DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1;\r\n\
         \th=from:to:subject:date:message-id; bh={}=;\r\n\
         \tb={sig}\r\n\
         From: \"Sender {k}\" <sender{k}@example.org>\r\n\
         To: Bench User <bench@example.com>\r\n\
         Subject: Weekly report {i}: figures for project {k}\r\n\
         Date: Mon, 7 Oct 2030 {hh:02}:{mm:02}:{ss:02} +0000\r\n\
         Message-ID: <report-{i}.{k}@example.org>\r\n\
         List-Id: Project {k} <project{k}.lists.example.org>\r\n\
         List-Unsubscribe: <mailto:unsubscribe-{k}@lists.example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"=_b{i}\"\r\n\
         \r\n\
         --=_b{i}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         Hello,\r\n\
         \r\n\
         this is report {i} of project {k}. The figures are in; nothing unusual this\r\n\
         week. Open items are listed on the project page as before.\r\n\
         \r\n\
         Regards,\r\n\
         Sender {k}\r\n\
         \r\n\
         --=_b{i}\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         <html><body><p>Hello,</p><p>this is report {i} of project {k}. The figures =\r\n\
         are in; nothing unusual this week. Open items are listed on the project =\r\n\
         page as before.</p><p>Regards,<br>Sender {k}</p></body></html>\r\n\
         \r\n\
         --=_b{i}--\r\n",
        &sig[..43],
    )
    .into_bytes()
}

/// Pseudo-random bytes (xorshift), so the attachment does not compress or repeat.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A message with a short text part and `data` as a base64 attachment (part 2).
fn attachment_message(data: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut m = String::with_capacity(b64.len() + b64.len() / 76 * 2 + 1024);
    m.push_str(
        "From: Bench Sender <sender@example.org>\r\n\
         To: Bench User <bench@example.com>\r\n\
         Subject: The big file\r\n\
         Date: Mon, 7 Oct 2030 06:05:23 +0000\r\n\
         Message-ID: <big-file@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"=_big\"\r\n\
         \r\n\
         --=_big\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         The file is attached.\r\n\
         \r\n\
         --=_big\r\n\
         Content-Type: application/octet-stream; name=\"bench.bin\"\r\n\
         Content-Disposition: attachment; filename=\"bench.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n",
    );
    for line in b64.as_bytes().chunks(76) {
        // base64 output is ASCII.
        m.push_str(std::str::from_utf8(line).unwrap_or_default());
        m.push_str("\r\n");
    }
    m.push_str("\r\n--=_big--\r\n");
    m.into_bytes()
}

// ---------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A keep-alive HTTP client (one connection per concurrent caller, Nagle off).
fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// One GET, timed to the last body byte; an error unless it answered 200.
async fn timed_get(client: &HttpClient, url: &str) -> Result<(Duration, Bytes)> {
    let req = hyper::Request::get(url).body(Full::new(Bytes::new()))?;
    let t = Instant::now();
    let fut = async {
        let resp = client.request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    };
    let (status, body) = timeout(CALL_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow!("GET {url}: no answer within {CALL_TIMEOUT:?}"))??;
    let took = t.elapsed();
    if status != 200 {
        bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok((took, body))
}

async fn get_value(client: &HttpClient, url: &str) -> Result<Value> {
    let (_, body) = timed_get(client, url).await?;
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Listing,
    Details,
}

/// Our side of one figure: GETs of `urls`, round robin.
#[derive(Clone)]
struct Ours {
    client: HttpClient,
    urls: Arc<Vec<String>>,
}

impl Ours {
    async fn call(&self, i: usize) -> Result<Duration> {
        let (took, body) = timed_get(&self.client, &self.urls[i % self.urls.len()]).await?;
        ensure!(body.first() == Some(&b'{'), "answer is not a JSON object");
        Ok(took)
    }

    async fn sequential(&self, calls: usize) -> Result<Lat> {
        for i in 0..WARMUP {
            self.call(i).await?;
        }
        let mut v = Vec::with_capacity(calls);
        for i in 0..calls {
            v.push(to_ms(self.call(i).await?));
        }
        Ok(Lat::new(v, None))
    }

    async fn concurrent(&self, clients: usize, calls: usize) -> Result<Lat> {
        // Untimed warm-up with every client: the pool grows to its size, every client's
        // HTTP connection is open.
        run_clients(
            (0..clients).map(|_| self.clone()).collect(),
            clients * 2,
            |o, i| async move { o.call(i).await.map(|d| (o, d)) },
        )
        .await?;
        run_clients(
            (0..clients).map(|_| self.clone()).collect(),
            calls,
            |o, i| async move { o.call(i).await.map(|d| (o, d)) },
        )
        .await
    }
}

/// A bare client on an EXAMINEd INBOX.
struct Bare {
    s: BareSession,
    exists: u32,
    uids: Arc<Vec<u32>>,
    work: Work,
    /// NOOP before each command, as a command connection does.
    noop: bool,
}

/// Items of a FETCH response stream, all read.
async fn drain<T>(stream: impl Stream<Item = async_imap::error::Result<T>>) -> Result<usize> {
    let mut stream = std::pin::pin!(stream);
    let mut n = 0;
    while timeout(IMAP_TIMEOUT, stream.try_next())
        .await
        .context("FETCH timed out")??
        .is_some()
    {
        n += 1;
    }
    Ok(n)
}

impl Bare {
    async fn open(dv: &Dovecot, user: &TestUser, uids: Arc<Vec<u32>>, work: Work) -> Result<Bare> {
        let mut s = bare_session(dv, user, true).await?;
        let mb = timeout(IMAP_TIMEOUT, s.examine("INBOX"))
            .await
            .context("EXAMINE timed out")??;
        while s.unsolicited_responses.try_recv().is_ok() {}
        Ok(Bare {
            s,
            exists: mb.exists,
            uids,
            work,
            noop: false,
        })
    }

    async fn call(&mut self, i: usize) -> Result<Duration> {
        let t = Instant::now();
        if self.noop {
            timeout(IMAP_TIMEOUT, self.s.noop())
                .await
                .context("NOOP timed out")??;
        }
        let (got, want) = match self.work {
            Work::Listing => {
                let hi = self.exists;
                let lo = hi.saturating_sub(PAGE_SIZE as u32 - 1).max(1);
                let stream = timeout(IMAP_TIMEOUT, self.s.fetch(format!("{lo}:{hi}"), items()))
                    .await
                    .context("FETCH timed out")??;
                (drain(stream).await?, (hi - lo + 1) as usize)
            }
            Work::Details => {
                let uid = self.uids[i % self.uids.len()];
                let stream = timeout(IMAP_TIMEOUT, self.s.uid_fetch(uid.to_string(), items()))
                    .await
                    .context("UID FETCH timed out")??;
                (drain(stream).await?, 1)
            }
        };
        let took = t.elapsed();
        while self.s.unsolicited_responses.try_recv().is_ok() {}
        ensure!(
            got == want,
            "FETCH returned {got} messages, expected {want}"
        );
        Ok(took)
    }

    async fn sequential(&mut self, calls: usize) -> Result<Lat> {
        for i in 0..WARMUP {
            self.call(i).await?;
        }
        let mut v = Vec::with_capacity(calls);
        for i in 0..calls {
            v.push(to_ms(self.call(i).await?));
        }
        Ok(Lat::new(v, None))
    }

    async fn logout(mut self) {
        let _ = timeout(Duration::from_secs(5), self.s.logout()).await;
    }
}

/// `calls` calls spread over one task per client (each pulls the next call number when its
/// previous call is answered). Returns the latencies and the wall time of the whole run.
async fn run_clients<C, F, Fut>(clients: Vec<C>, calls: usize, call: F) -> Result<Lat>
where
    C: Send + 'static,
    F: Fn(C, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(C, Duration)>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let next = next.clone();
            let call = call.clone();
            tokio::spawn(async move {
                let mut v = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        return Ok::<_, anyhow::Error>((c, v));
                    }
                    let (back, d) = call(c, i).await?;
                    c = back;
                    v.push(to_ms(d));
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(calls);
    let mut first_err = None;
    for task in tasks {
        match task.await {
            Ok(Ok((_, v))) => all.extend(v),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(anyhow!("client task: {e}"));
            }
        }
    }
    let wall = t.elapsed();
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(Lat::new(all, Some(wall)))
}

/// `clients` bare sessions doing `calls` calls in all, after two untimed calls each.
async fn bare_concurrent(
    dv: &'static Dovecot,
    user: &TestUser,
    uids: Arc<Vec<u32>>,
    work: Work,
    clients: usize,
    calls: usize,
) -> Result<Lat> {
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(Bare::open(dv, user, uids.clone(), work).await?);
    }
    let call = |mut b: Bare, i: usize| async move { b.call(i).await.map(|d| (b, d)) };
    // run_clients hands the sessions back only through its tasks; warm up inside the timed
    // closure's first calls instead: two untimed calls each, here.
    for (i, b) in sessions.iter_mut().enumerate() {
        b.call(i).await?;
        b.call(i + 1).await?;
    }
    run_clients(sessions, calls, call).await
}

// ---------------------------------------------------------------------------------------
// Listing and details
// ---------------------------------------------------------------------------------------

/// One filled INBOX with its account on the embedded gateway.
struct Mailbox {
    n: usize,
    user: TestUser,
    account: String,
    base: String,
    gateway_pid: Option<u32>,
    /// Message ids and uids of page 0, newest first.
    ids: Vec<String>,
    uids: Vec<u32>,
}

async fn setup_mailbox(
    report: &Report,
    dv: &'static Dovecot,
    base: String,
    gateway_pid: Option<u32>,
    n: usize,
) -> Result<Mailbox> {
    let part = format!("setup {}", size_label(n));
    let user = dv.create_user("bench-cmd");
    let t = Instant::now();
    {
        let user = user.user.clone();
        tokio::task::spawn_blocking(move || dv.fill_maildir(&user, "INBOX", n, realistic_message))
            .await?;
    }
    report.info(
        &part,
        "fill Maildir (untimed)",
        format!("{n} msgs, {}", secs(t.elapsed())),
    );

    // Dovecot indexes the new files on the first SELECT: once here, untimed.
    let mut s = bare_session(dv, &user, false).await?;
    let t = Instant::now();
    let mb = timeout(INDEX_TIMEOUT, s.select("INBOX"))
        .await
        .context("indexing SELECT timed out")??;
    let _ = timeout(IMAP_TIMEOUT, s.logout()).await;
    report.info(
        &part,
        "Dovecot indexing SELECT (untimed)",
        secs(t.elapsed()),
    );
    ensure!(
        mb.exists as usize == n,
        "INBOX has {} messages, expected {n}",
        mb.exists
    );

    let account = unique(&format!("bench-cmd-{}", size_label(n)));
    let mut body = account_body(dv, &account, &user);
    body["path"] = "INBOX".into();
    let t = Instant::now();
    register(&base, body).await?;
    wait_synced(&base, &account, SYNC_TIMEOUT).await?;
    report.info(&part, "register → syncTime (untimed)", secs(t.elapsed()));

    let client = http_client();
    let list = get_value(
        &client,
        &format!("{base}/v1/account/{account}/messages?path=INBOX&page=0&pageSize={PAGE_SIZE}"),
    )
    .await?;
    ensure!(
        list["total"].as_u64() == Some(n as u64),
        "listing total {} instead of {n}",
        list["total"]
    );
    let entries = list["messages"].as_array().cloned().unwrap_or_default();
    let ids: Vec<String> = entries
        .iter()
        .filter_map(|m| Some(m["id"].as_str()?.to_string()))
        .collect();
    let uids: Vec<u32> = entries
        .iter()
        .filter_map(|m| m["uid"].as_u64().map(|u| u as u32))
        .collect();
    ensure!(
        ids.len() == PAGE_SIZE && uids.len() == PAGE_SIZE,
        "page 0 has {} ids and {} uids; answer {list}",
        ids.len(),
        uids.len()
    );
    // Let the watcher finish what follows the initial sync (first IDLE) before timing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Mailbox {
        n,
        user,
        account,
        base,
        gateway_pid,
        ids,
        uids,
    })
}

/// Results kept for the cross-size summary: (work, size, ours p50, ours − direct p50).
type Summary = Arc<Mutex<Vec<(Work, usize, f64, f64)>>>;

/// Runs `work` while another IMAP client APPENDs a message to the INBOX every 100 ms
/// (the watcher session wakes from IDLE, fetches and publishes each); returns what `work`
/// returned and how many messages were appended meanwhile.
async fn under_appends<T>(
    dv: &'static Dovecot,
    user: &TestUser,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<(T, usize)> {
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (user, stop) = (user.clone(), stop.clone());
        tokio::spawn(async move {
            let mut client = ImapTestClient::connect(dv, &user).await?;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                client
                    .append("INBOX", &realistic_message(1_000_000 + n))
                    .await?;
                n += 1;
            }
            let _ = client.logout().await;
            anyhow::Ok(n)
        })
    };
    // The first APPENDs, and the watcher's reaction to them, are under way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let result = work.await;
    stop.store(true, Ordering::Relaxed);
    let appended = timeout(Duration::from_secs(30), appender)
        .await
        .context("appender did not stop")?
        .context("appender task")?
        .context("appender")?;
    Ok((result?, appended))
}

async fn part_calls(
    opts: &Opts,
    report: &Report,
    dv: &'static Dovecot,
    mb: &Mailbox,
    work: Work,
    summary: &Summary,
) -> Result<()> {
    let label = size_label(mb.n);
    let part = match work {
        Work::Listing => format!("listing {label}"),
        Work::Details => format!("details {label}"),
    };
    let (calls, clients) = (opts.calls, opts.clients);
    let base = &mb.base;
    let account = &mb.account;
    let urls: Vec<String> = match work {
        Work::Listing => vec![format!(
            "{base}/v1/account/{account}/messages?path=INBOX&page=0&pageSize={PAGE_SIZE}"
        )],
        Work::Details => mb
            .ids
            .iter()
            .map(|id| format!("{base}/v1/account/{account}/message/{id}"))
            .collect(),
    };
    let ours = Ours {
        client: http_client(),
        urls: Arc::new(urls),
    };
    let uids = Arc::new(mb.uids.clone());

    // Sizes of what each side moves, for reading the figures.
    let (_, body) = timed_get(&ours.client, &ours.urls[0]).await?;
    report.info(&part, "JSON answer size", format!("{} B", body.len()));

    // Sequential.
    let cpu0 = mb.gateway_pid.and_then(cpu_time);
    let seq = ours.sequential(calls).await?;
    let cpu1 = mb.gateway_pid.and_then(cpu_time);
    report.info(
        &part,
        format!("ours, sequential ({calls} calls)"),
        seq.line(),
    );
    let mut bare = Bare::open(dv, &mb.user, uids.clone(), work).await?;
    let direct = bare.sequential(calls).await?;
    report.info(&part, "direct, sequential", direct.line());
    let delta = check_delta(report, &part, "sequential", &seq, &direct);
    summary.lock().unwrap().push((work, mb.n, seq.p50(), delta));
    bare.noop = true;
    let with_noop = bare.sequential(calls).await?;
    report.info(
        &part,
        "direct NOOP + same FETCH (a command connection's commands)",
        with_noop.line(),
    );
    report.info(
        &part,
        "ours − (NOOP + FETCH) p50: outside IMAP",
        format!("{:.2} ms", seq.p50() - with_noop.p50()),
    );
    bare.logout().await;
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        report.info(
            &part,
            "gateway CPU per call (user + sys)",
            format!(
                "{:.3} ms",
                to_ms(b.saturating_sub(a)) / (calls + WARMUP) as f64
            ),
        );
    }
    if work == Work::Listing {
        let floor = Ours {
            client: ours.client.clone(),
            urls: Arc::new(vec![format!("{base}/v1/account/{account}")]),
        }
        .sequential(calls)
        .await?;
        report.info(&part, "GET /v1/account/:id (no IMAP)", floor.line());
    }

    // Concurrent.
    let conc = ours.concurrent(clients, calls).await?;
    report.info(&part, format!("ours, {clients} clients"), conc.line());
    let direct_conc = bare_concurrent(dv, &mb.user, uids.clone(), work, clients, calls).await?;
    report.info(
        &part,
        format!("direct, {clients} clients"),
        direct_conc.line(),
    );
    check_delta(
        report,
        &part,
        &format!("{clients} clients"),
        &conc,
        &direct_conc,
    );

    // The listing again with the watcher kept busy, and the bare client under the same
    // load: what Dovecot itself does to a FETCH while mail arrives.
    if work == Work::Listing {
        let (loaded, appended) = under_appends(dv, &mb.user, ours.sequential(calls)).await?;
        report.info(
            &part,
            format!("ours, sequential, APPEND every 100 ms ({appended} appended)"),
            loaded.line_max(),
        );
        report.check(
            &part,
            "p50 with APPEND load − without",
            format!("{:.2} ms", loaded.p50() - seq.p50()),
            "≤ 1 ms",
            loaded.p50() - seq.p50() <= 1.0,
        );
        let mut bare = Bare::open(dv, &mb.user, uids.clone(), work).await?;
        bare.noop = true;
        let (direct_loaded, appended) = under_appends(dv, &mb.user, bare.sequential(calls)).await?;
        bare.logout().await;
        report.info(
            &part,
            format!("direct NOOP + FETCH, APPEND every 100 ms ({appended} appended)"),
            direct_loaded.line_max(),
        );
    }
    Ok(())
}

/// The cross-size rows: is ours − direct the same at every size?
fn summarize(report: &Report, summary: &Summary) {
    let rows = summary.lock().unwrap();
    for work in [Work::Listing, Work::Details] {
        let mut of: Vec<&(Work, usize, f64, f64)> = rows.iter().filter(|r| r.0 == work).collect();
        of.sort_by_key(|r| r.1);
        let (Some(small), Some(big)) = (of.first(), of.last()) else {
            continue;
        };
        if small.1 == big.1 {
            continue;
        }
        let name = match work {
            Work::Listing => "listing",
            Work::Details => "details",
        };
        let growth = big.3 - small.3;
        report.check(
            "summary",
            format!(
                "{name}: ours − direct p50 at {} less at {}",
                size_label(big.1),
                size_label(small.1)
            ),
            format!("{growth:.2} ms"),
            "independent of size (≤ 1 ms)",
            growth.abs() <= 1.0,
        );
        report.info(
            "summary",
            format!(
                "{name}: ours p50 at {} / at {}",
                size_label(small.1),
                size_label(big.1)
            ),
            format!("{:.2} ms / {:.2} ms", small.2, big.2),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Attachment
// ---------------------------------------------------------------------------------------

/// The big message, stored and indexed.
struct BigMail {
    user: TestUser,
    data: Arc<Vec<u8>>,
}

async fn setup_attachment(report: &Report, dv: &'static Dovecot) -> Result<BigMail> {
    const P: &str = "attachment";
    let user = dv.create_user("bench-att");
    let data = Arc::new(random_bytes(ATTACHMENT_BYTES));
    {
        let (user, data) = (user.user.clone(), data.clone());
        tokio::task::spawn_blocking(move || {
            let raw = attachment_message(&data);
            dv.fill_maildir(&user, "INBOX", 1, |_| raw.clone())
        })
        .await?;
    }
    // Index it, and time the bare fetch of the encoded part (twice: the first read may
    // come from disk).
    let mut s = bare_session(dv, &user, true).await?;
    timeout(INDEX_TIMEOUT, s.select("INBOX"))
        .await
        .context("SELECT timed out")??;
    let mut best = None::<Duration>;
    let mut size = 0;
    for _ in 0..2 {
        let t = Instant::now();
        let fetched: Vec<_> = {
            let stream = timeout(IMAP_TIMEOUT, s.uid_fetch("1:*", "(UID BODY.PEEK[2])"))
                .await
                .context("FETCH timed out")??;
            timeout(DOWNLOAD_TIMEOUT, stream.try_collect())
                .await
                .context("FETCH timed out")??
        };
        let took = t.elapsed();
        size = fetched
            .first()
            .and_then(|f| f.section(&async_imap::imap_proto::SectionPath::Part(vec![2], None)))
            .map_or(0, <[u8]>::len);
        best = Some(best.map_or(took, |b| b.min(took)));
    }
    // What a download asks Dovecot for: 1 MiB ranges of the encoded part
    // (api's RANGE_LENGTH), one after another, here without decoding or any hop between.
    let range = 1usize << 20;
    let t = Instant::now();
    let mut ranges = 0;
    let mut offset = 0;
    loop {
        let fetched: Vec<_> = {
            let stream = timeout(
                IMAP_TIMEOUT,
                s.uid_fetch("1:*", format!("(UID BODY.PEEK[2]<{offset}.{range}>)")),
            )
            .await
            .context("ranged FETCH timed out")??;
            timeout(IMAP_TIMEOUT, stream.try_collect())
                .await
                .context("ranged FETCH timed out")??
        };
        let got = fetched
            .first()
            .and_then(|f| f.section(&async_imap::imap_proto::SectionPath::Part(vec![2], None)))
            .map_or(0, <[u8]>::len);
        ranges += 1;
        offset += got;
        if got < range {
            break;
        }
    }
    let took = t.elapsed();
    ensure!(
        offset == size,
        "ranged FETCHes got {offset} bytes of {size}"
    );
    report.info(
        P,
        format!("direct: the same {ranges} ranged FETCHes of 1 MiB, in sequence"),
        format!(
            "{} ({:.1} ms per range)",
            ms(took),
            to_ms(took) / ranges as f64
        ),
    );
    let _ = timeout(IMAP_TIMEOUT, s.logout()).await;
    let best = best.unwrap_or_default();
    report.info(
        P,
        "direct UID FETCH (BODY.PEEK[2]), encoded, best of 2",
        format!(
            "{} for {:.1} MB ({:.0} MB/s)",
            ms(best),
            size as f64 / 1e6,
            size as f64 / 1e6 / best.as_secs_f64()
        ),
    );
    Ok(BigMail { user, data })
}

/// What one download showed.
struct Download {
    first_byte: Duration,
    total: Duration,
    /// Highest RSS less the RSS before, per sampled process, KiB.
    peaks: Vec<u64>,
}

/// Samples the VmRSS of `pids` every 10 ms on a thread of its own (the runtime's two
/// workers are busy with the download) until `stop`; returns the highest sample per pid.
fn sample_rss(pids: Vec<u32>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let mut max = vec![0u64; pids.len()];
        loop {
            for (m, pid) in max.iter_mut().zip(&pids) {
                if let Ok(kib) = vm_rss_kib(*pid) {
                    *m = (*m).max(kib);
                }
            }
            if stop.load(Ordering::Relaxed) {
                return max;
            }
            std::thread::sleep(RSS_EVERY);
        }
    })
}

/// Downloads `url` fully, comparing every byte with `expected`, while sampling `pids`.
async fn download(
    client: &HttpClient,
    url: &str,
    expected: &[u8],
    pids: &[u32],
) -> Result<Download> {
    let before: Vec<u64> = pids.iter().map(|p| vm_rss_kib(*p)).collect::<Result<_>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(pids.to_vec(), stop.clone());
    let req = hyper::Request::get(url).body(Full::new(Bytes::new()))?;
    let t = Instant::now();
    let fetch = async {
        let resp = client.request(req).await?;
        let first_byte = t.elapsed();
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if status != 200 {
            let text = body.collect().await?.to_bytes();
            bail!("{status} {}", String::from_utf8_lossy(&text));
        }
        let mut offset = 0usize;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                let end = offset + data.len();
                ensure!(
                    end <= expected.len() && expected[offset..end] == data[..],
                    "bytes {offset}..{end} differ from the attachment"
                );
                offset = end;
            }
        }
        ensure!(
            offset == expected.len(),
            "got {offset} bytes, expected {}",
            expected.len()
        );
        anyhow::Ok(first_byte)
    };
    let result = timeout(DOWNLOAD_TIMEOUT, fetch).await;
    let total = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let max = sampler
        .join()
        .map_err(|_| anyhow!("RSS sampler panicked"))?;
    let first_byte = result
        .map_err(|_| anyhow!("download not done within {DOWNLOAD_TIMEOUT:?}"))?
        .with_context(|| format!("GET {url}"))?;
    Ok(Download {
        first_byte,
        total,
        peaks: max
            .iter()
            .zip(&before)
            .map(|(m, b)| m.saturating_sub(*b))
            .collect(),
    })
}

/// Registers the big mail's account on `base`, waits for its sync, and downloads the
/// attachment three times, sampling `procs` (name, pid).
async fn attachment_runs(
    report: &Report,
    part: &str,
    dv: &'static Dovecot,
    big: &BigMail,
    base: &str,
    procs: &[(&str, u32)],
) -> Result<()> {
    let account = unique("bench-att");
    let mut body = account_body(dv, &account, &big.user);
    body["path"] = "INBOX".into();
    register(base, body).await?;
    wait_synced(base, &account, SYNC_TIMEOUT).await?;
    let client = http_client();
    let list = get_value(
        &client,
        &format!("{base}/v1/account/{account}/messages?path=INBOX"),
    )
    .await?;
    let id = list["messages"][0]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no message listed: {list}"))?
        .to_string();
    let msg = get_value(
        &client,
        &format!("{base}/v1/account/{account}/message/{id}"),
    )
    .await?;
    let att = msg["attachments"][0]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no attachment in {msg}"))?
        .to_string();
    let url = format!("{base}/v1/account/{account}/attachment/{att}");

    // Settle, so that the sample before the download is the process at rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pids: Vec<u32> = procs.iter().map(|(_, p)| *p).collect();
    for (name, pid) in procs {
        report.info(
            part,
            format!("{name} VmRSS before"),
            format!("{:.1} MiB", vm_rss_kib(*pid)? as f64 / 1024.0),
        );
    }
    let mut runs = Vec::new();
    let mut cpu = vec![Duration::ZERO; pids.len()];
    for _ in 0..3 {
        let before: Vec<Option<Duration>> = pids.iter().map(|p| cpu_time(*p)).collect();
        runs.push(download(&client, &url, &big.data, &pids).await?);
        for ((c, b), p) in cpu.iter_mut().zip(before).zip(&pids) {
            if let (Some(b), Some(a)) = (b, cpu_time(*p)) {
                *c += a.saturating_sub(b);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut totals: Vec<Duration> = runs.iter().map(|r| r.total).collect();
    totals.sort();
    let mb = big.data.len() as f64 / 1e6;
    report.info(
        part,
        "download 25 MiB: total, median of 3 (min, max)",
        format!(
            "{} ({}, {}), {:.0} MB/s",
            ms(totals[1]),
            ms(totals[0]),
            ms(totals[2]),
            mb / totals[1].as_secs_f64()
        ),
    );
    let mut ttfb: Vec<Duration> = runs.iter().map(|r| r.first_byte).collect();
    ttfb.sort();
    report.info(part, "time to first byte, median of 3", ms(ttfb[1]));
    for (i, (name, pid)) in procs.iter().enumerate() {
        let peak = runs.iter().map(|r| r.peaks[i]).max().unwrap_or(0);
        report.check(
            part,
            format!("{name}: peak RSS growth during a download (max of 3)"),
            format!("{:.1} MiB", peak as f64 / 1024.0),
            "bounded (< 25 MiB)",
            peak < (ATTACHMENT_BYTES as u64 >> 10),
        );
        report.info(
            part,
            format!("{name}: CPU per download (user + sys, mean of 3)"),
            ms(cpu[i] / 3),
        );
        report.info(
            part,
            format!("{name} VmRSS after"),
            format!("{:.1} MiB", vm_rss_kib(*pid)? as f64 / 1024.0),
        );
    }
    Ok(())
}

async fn part_attachment_embedded(
    opts: &Opts,
    report: &Report,
    dv: &'static Dovecot,
    big: &BigMail,
) -> Result<()> {
    let args: Vec<&str> = opts.gateway_args.iter().map(String::as_str).collect();
    let gw = spawn_gateway(dv, None, &args).await;
    let pid = gw.pid().ok_or_else(|| anyhow!("gateway not running"))?;
    attachment_runs(
        report,
        "attachment embedded",
        dv,
        big,
        &gw.base_url(),
        &[("gateway", pid)],
    )
    .await
}

async fn flush_redis(url: &str) -> Result<()> {
    let client = redis::Client::open(url)?;
    let mut c = timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .context("Redis connect timed out")??;
    let _: () = timeout(
        Duration::from_secs(5),
        redis::cmd("FLUSHDB").query_async(&mut c),
    )
    .await
    .context("FLUSHDB timed out")??;
    Ok(())
}

async fn part_attachment_distributed(
    opts: &Opts,
    report: &Report,
    dv: &'static Dovecot,
    big: &BigMail,
) -> Result<()> {
    flush_redis(&opts.redis).await?;
    let prefix = unique("bench");
    let mut args = vec![
        format!("--dbs.redis={}", opts.redis),
        format!("--queue.url={}", opts.amqp),
        format!("--queue.prefix={prefix}"),
    ];
    args.extend(opts.gateway_args.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = async {
        let ingest = spawn_gateway(dv, Some("ingest"), &args).await;
        let api = spawn_gateway(dv, Some("api"), &args).await;
        let ingest_pid = ingest.pid().ok_or_else(|| anyhow!("ingest not running"))?;
        let api_pid = api.pid().ok_or_else(|| anyhow!("api not running"))?;
        let r = attachment_runs(
            report,
            "attachment distributed",
            dv,
            big,
            &api.base_url(),
            &[("api", api_pid), ("ingest", ingest_pid)],
        )
        .await;
        drop((api, ingest));
        r
    }
    .await;
    // The queues and exchanges of this run go, whatever happened.
    let cleanup = async {
        let bus = imapapi_common::bus::rabbitmq::RabbitBus::connect(
            &opts.amqp,
            &prefix,
            imapapi_common::bus::RetryPolicy::default(),
        )
        .await?;
        bus.delete_topology().await?;
        anyhow::Ok(())
    };
    match timeout(Duration::from_secs(30), cleanup).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => report.note(format!("RabbitMQ clean-up of {prefix} failed: {e:#}")),
        Err(_) => report.note(format!("RabbitMQ clean-up of {prefix} timed out")),
    }
    let _ = flush_redis(&opts.redis).await;
    result
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

async fn run(opts: Arc<Opts>, report: &Report) {
    let Some(dv) = run_part("start Dovecot", report, |_| async {
        Ok(tokio::task::spawn_blocking(start_dovecot).await?)
    })
    .await
    else {
        return;
    };
    for p in &opts.parts {
        if !["listing", "details", "attachment"].contains(&p.as_str()) {
            report.note(format!(
                "unknown part {p:?} skipped (known: listing, details, attachment)"
            ));
        }
    }

    if opts.wants("listing") || opts.wants("details") {
        let args = opts.gateway_args.clone();
        let gw = run_part("start gateway", report, move |_| async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Ok(spawn_gateway(dv, None, &args).await)
        })
        .await;
        if let Some(gw) = gw {
            let summary: Summary = Arc::default();
            for &n in &opts.sizes {
                let (base, pid) = (gw.base_url(), gw.pid());
                let Some(mb) = run_part(
                    format!("setup {}", size_label(n)),
                    report,
                    move |r| async move { setup_mailbox(&r, dv, base, pid, n).await },
                )
                .await
                else {
                    continue;
                };
                let mb = Arc::new(mb);
                for (name, work) in [("listing", Work::Listing), ("details", Work::Details)] {
                    if !opts.wants(name) {
                        continue;
                    }
                    let (o, m, s) = (opts.clone(), mb.clone(), summary.clone());
                    run_part(
                        format!("{name} {}", size_label(n)),
                        report,
                        move |r| async move { part_calls(&o, &r, dv, &m, work, &s).await },
                    )
                    .await;
                }
                let url = format!("{}/v1/account/{}", mb.base, mb.account);
                let _ = timeout(
                    Duration::from_secs(30),
                    support::request("DELETE", &url, &[], Vec::new(), None),
                )
                .await;
                let user = mb.user.clone();
                let _ = tokio::task::spawn_blocking(move || remove_mail(dv, &user)).await;
            }
            summarize(report, &summary);
            drop(gw);
        }
    }

    if opts.wants("attachment")
        && let Some(big) = run_part("setup attachment", report, move |r| async move {
            setup_attachment(&r, dv).await
        })
        .await
    {
        let big = Arc::new(big);
        let (o, b) = (opts.clone(), big.clone());
        run_part("attachment embedded", report, move |r| async move {
            part_attachment_embedded(&o, &r, dv, &b).await
        })
        .await;
        let (o, b) = (opts.clone(), big.clone());
        run_part("attachment distributed", report, move |r| async move {
            part_attachment_distributed(&o, &r, dv, &b).await
        })
        .await;
        let user = big.user.clone();
        let _ = tokio::task::spawn_blocking(move || remove_mail(dv, &user)).await;
    }
}

fn main() {
    if !common::invoked_by_cargo_bench("commands") {
        return;
    }
    // The private Dovecot unless told otherwise (see the module doc).
    // SAFETY: single-threaded here; the runtime and every other thread start later.
    unsafe { common::use_private_dovecot() };
    let opts = Arc::new(Opts::from_env());
    let runtime = common::bench_runtime();
    let report = Report::default();
    let started = Instant::now();
    let load_start = loadavg();
    runtime.block_on(run(opts.clone(), &report));
    runtime.shutdown_timeout(Duration::from_secs(5));

    let header = format!(
        "imapapi command benchmark: INBOX sizes {}, calls {}, clients {}, parts {}, gateway args [{}]\n\
         machine: {} cores; load average at start {load_start}, at end {}; took {}",
        opts.sizes
            .iter()
            .map(|n| size_label(*n))
            .collect::<Vec<_>>()
            .join(","),
        opts.calls,
        opts.clients,
        opts.parts.join(","),
        opts.gateway_args.join(" "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        secs(started.elapsed()),
    );
    report.finish("commands", &header);
}
