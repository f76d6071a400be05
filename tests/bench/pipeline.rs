//! The benchmark of issue #2: how the gateway compares with a bare IMAP client, in figures.
//!
//! Run (release; `cargo bench` builds the release binary that `Gateway::spawn` starts):
//!
//! ```text
//! cargo build --release
//! cargo bench --bench pipeline
//! # a quick run:
//! BENCH_MESSAGES=10000 BENCH_SAMPLES=30 BENCH_ACCOUNTS=100 cargo bench --bench pipeline
//! # only some parts:
//! BENCH_PARTS=latency cargo bench --bench pipeline
//! ```
//!
//! Parts (`BENCH_PARTS`, comma separated, default all seven):
//! - `sync`: initial sync of an INBOX of `BENCH_MESSAGES` (100,000) messages: a bare
//!   `UID FETCH 1:* (UID FLAGS)` against the gateway's initial sync, on the embedded store
//!   and on Redis (store memory per indexed message, Redis commands per sync).
//! - `latency`: APPEND → webhook over `BENCH_SAMPLES` (200) messages, beside a bare IDLE
//!   client on the same INBOX, whose EXISTS time is Dovecot's own share of the delay.
//! - `memory`: RSS of an `imapapi ingest` process per idle account, with `BENCH_ACCOUNTS`
//!   (1,000) accounts connected, on Redis + RabbitMQ; then all of them at once after a
//!   restart (time until connected, and the ingest's CPU meanwhile).
//! - `folders`: APPEND → webhook in INBOX, Sent and a nested `Projects/Alpha` of one account
//!   (`resyncDelay` 600 s, so only NOTIFY/IDLE can bring the events), `BENCH_SAMPLES` each,
//!   beside a bare client with the gateway's `NOTIFY SET` idling on INBOX (EXISTS for INBOX,
//!   STATUS for the others): Dovecot's own notify delay per folder kind and ours on top.
//! - `register`: `POST /v1/account` → `connected` and → the first `mailboxNew` webhook, one
//!   account at a time, `BENCH_REGISTRATIONS` (20) of them.
//! - `fanin`: `BENCH_FANIN_MESSAGES` (1,000) APPENDs spread round robin over
//!   `BENCH_FANIN_ACCOUNTS` (100) accounts of one embedded gateway, paced at
//!   `BENCH_FANIN_RATE` (50) per second: APPEND → webhook p50/p99/max, beside bare IDLE
//!   clients on every tenth account under the same load (see `pipeline_parts/fanin.rs`).
//! - `watchmem`: the gateway's VmRSS growth and IMAP connections per account with every
//!   folder watched, `BENCH_WATCH_ACCOUNTS` (50) accounts of five folders: once with NOTIFY
//!   (one connection each), once with NOTIFY off and `imap.idleFolders` naming every folder
//!   (one more connection per folder) (see `pipeline_parts/watchmem.rs`).
//!
//! Backends, all on this machine only:
//! - Dovecot: a private instance of the rig's `infra/dovecot/start.sh` in
//!   `/tmp/imapapi-bench-dovecot` on ports 11143/11993, so 100,000 messages and 1,000
//!   sessions neither disturb nor are disturbed by tests running against the shared one.
//!   Set `IMAPAPI_DOVECOT_DIR` (and `IMAPAPI_IMAP_PORT`/`IMAPAPI_IMAPS_PORT`) to use another.
//! - Redis: a private `redis-server` on a free port (its command counters then count only
//!   the gateway), db 10; `BENCH_REDIS=redis://127.0.0.1:6379/10` uses that database instead
//!   (flushed first; the command count then includes other clients of that server).
//! - RabbitMQ: `BENCH_AMQP` (default `amqp://guest:guest@127.0.0.1:5672/%2f`) with a random
//!   queue prefix `bench-…`.
//!
//! Every wait is bounded; a part that fails is reported as failed and the others still run.
//! The figures are printed as a table and written to `target/bench-pipeline.txt`.

#[path = "../support/mod.rs"]
mod support;

#[path = "../pipeline/mod.rs"]
mod pipeline;

mod common;

#[path = "pipeline_parts/fanin.rs"]
mod fanin;
#[path = "pipeline_parts/watchmem.rs"]
mod watchmem;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use common::{
    BareSession, IMAP_TIMEOUT, Report, bare_session, env_num, env_parts, get_json, loadavg, ms,
    pct, register, remove_mail, run_part, secs, small_message, spawn_gateway, start_dovecot,
    vm_rss_kib, wait_connected, wait_synced,
};
use pipeline::{account_body, mail, set_webhooks};
use support::{Dovecot, Gateway, ImapTestClient, TestUser, WebhookReceiver};

/// Bound of Dovecot's first SELECT of a freshly filled folder (it indexes every file).
const INDEX_TIMEOUT: Duration = Duration::from_secs(900);
/// Bound of one initial sync by the gateway.
const SYNC_TIMEOUT: Duration = Duration::from_secs(900);
/// Bound of one APPEND → webhook / EXISTS sample.
const EVENT_TIMEOUT: Duration = Duration::from_secs(15);
/// The queue prefix and Redis database of the distributed runs.
const REDIS_DB: u8 = 10;
/// The key prefix of the Redis store (`REDIS_PREFIX` in common/src/store).
const STORE_PREFIX: &str = "imapapi";

// ---------------------------------------------------------------------------------------
// Options and report
// ---------------------------------------------------------------------------------------

struct Opts {
    parts: Vec<String>,
    messages: usize,
    samples: usize,
    accounts: usize,
    registrations: usize,
    fanin_accounts: usize,
    fanin_messages: usize,
    fanin_rate: usize,
    watch_accounts: usize,
    amqp: String,
}

impl Opts {
    fn from_env() -> Opts {
        Opts {
            parts: env_parts(&PARTS.join(",")),
            messages: env_num("BENCH_MESSAGES", 100_000).max(1),
            samples: env_num("BENCH_SAMPLES", 200).max(1),
            accounts: env_num("BENCH_ACCOUNTS", 1_000).max(1),
            registrations: env_num("BENCH_REGISTRATIONS", 20).max(1),
            fanin_accounts: env_num("BENCH_FANIN_ACCOUNTS", 100).max(1),
            fanin_messages: env_num("BENCH_FANIN_MESSAGES", 1_000).max(1),
            fanin_rate: env_num("BENCH_FANIN_RATE", 50).max(1),
            watch_accounts: env_num("BENCH_WATCH_ACCOUNTS", 50).max(1),
            amqp: std::env::var("BENCH_AMQP")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

/// A private `redis-server` (killed on drop), or a database of an existing server.
struct Redis {
    url: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
    private: bool,
}

impl Redis {
    async fn start() -> Result<Redis> {
        let redis = if let Ok(url) = std::env::var("BENCH_REDIS") {
            Redis {
                url,
                child: None,
                _dir: None,
                private: false,
            }
        } else {
            let port = support::free_port();
            let dir = tempfile::Builder::new()
                .prefix("imapapi-bench-redis-")
                .tempdir()?;
            // No persistence: a benchmark's data is thrown away; saving would only add
            // fork and disk noise to the figures.
            let child = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting redis-server (install it with infra/services.sh)")?;
            Redis {
                url: format!("redis://127.0.0.1:{port}/{REDIS_DB}"),
                child: Some(child),
                _dir: Some(dir),
                private: true,
            }
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match redis.conn().await {
                Ok(mut c) => {
                    let _: () = redis::cmd("FLUSHDB").query_async(&mut c).await?;
                    return Ok(redis);
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(e).context("redis not reachable");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn conn(&self) -> Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url.as_str())?;
        Ok(timeout(
            Duration::from_secs(5),
            client.get_multiplexed_async_connection(),
        )
        .await??)
    }

    /// `total_commands_processed` of `INFO stats`.
    async fn total_commands(&self) -> Result<u64> {
        let mut c = self.conn().await?;
        let info: String = redis::cmd("INFO").arg("stats").query_async(&mut c).await?;
        info_field(&info, "total_commands_processed")
    }

    /// `cmdstat_<name>` calls of `INFO commandstats`, by command.
    async fn command_stats(&self) -> Result<Vec<(String, u64)>> {
        let mut c = self.conn().await?;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut c)
            .await?;
        Ok(info
            .lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                Some((name.to_string(), calls.parse().ok()?))
            })
            .collect())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn info_field(info: &str, name: &str) -> Result<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .ok_or_else(|| anyhow!("{name} missing in INFO"))?
        .trim()
        .parse()
        .map_err(|e| anyhow!("{name}: {e}"))
}

/// `[median, min, max]` of three or more timed runs.
fn median_min_max(mut runs: Vec<Duration>) -> [Duration; 3] {
    runs.sort();
    [runs[runs.len() / 2], runs[0], runs[runs.len() - 1]]
}

/// Median (and min, max) time of a bare `UID FETCH 1:* (UID FLAGS)` over three runs on a
/// selected session, checking that all `n` messages came back.
async fn bare_fetch(session: &mut BareSession, n: usize) -> Result<[Duration; 3]> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut count = 0usize;
        {
            let mut stream =
                timeout(IMAP_TIMEOUT, session.uid_fetch("1:*", "(UID FLAGS)")).await??;
            while let Some(f) = timeout(IMAP_TIMEOUT, stream.try_next()).await?? {
                if f.uid.is_some() {
                    count += 1;
                }
            }
        }
        runs.push(t.elapsed());
        while session.unsolicited_responses.try_recv().is_ok() {}
        if count != n {
            bail!("bare FETCH returned {count} messages, expected {n}");
        }
    }
    Ok(median_min_max(runs))
}

/// The IMAP conversation of the gateway's initial sync, by a bare client on one session:
/// EXAMINE INBOX and `UID FETCH 1:* (UID FLAGS)`, then LIST and the same for every other
/// folder (the gateway's order, see `sync_inbox_first`); median, min and max of three
/// sessions, each timed from after login. Tells the server's share of a sync from ours.
async fn bare_account_sync(dv: &Dovecot, user: &TestUser) -> Result<[Duration; 3]> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let mut session = bare_session(dv, user, true).await?;
        let t = Instant::now();
        timeout(IMAP_TIMEOUT, session.examine("INBOX")).await??;
        drain_fetch(&mut session).await?;
        let names: Vec<String> = {
            let list = timeout(IMAP_TIMEOUT, session.list(Some(""), Some("*"))).await??;
            let names: Vec<_> = timeout(IMAP_TIMEOUT, list.try_collect::<Vec<_>>()).await??;
            names.iter().map(|n| n.name().to_string()).collect()
        };
        for name in names.iter().filter(|n| !n.eq_ignore_ascii_case("INBOX")) {
            timeout(IMAP_TIMEOUT, session.examine(name)).await??;
            drain_fetch(&mut session).await?;
        }
        runs.push(t.elapsed());
        let _ = timeout(IMAP_TIMEOUT, session.logout()).await;
    }
    Ok(median_min_max(runs))
}

/// `UID FETCH 1:* (UID FLAGS)` on the selected folder, read to the end.
async fn drain_fetch(session: &mut BareSession) -> Result<()> {
    let mut stream = timeout(IMAP_TIMEOUT, session.uid_fetch("1:*", "(UID FLAGS)")).await??;
    while timeout(IMAP_TIMEOUT, stream.try_next()).await??.is_some() {}
    drop(stream);
    while session.unsolicited_responses.try_recv().is_ok() {}
    Ok(())
}

/// What the Redis store shows of an initial sync, watched with one connection of our own.
struct StoreWatch {
    /// INBOX's state was first committed with its real `uidNext` (intermediate batches keep
    /// the old sync point, uidNext 1).
    committed: Instant,
    /// Commands this watcher sent, to take them out of the server's count.
    own_commands: u64,
}

async fn watch_store_sync(redis: &Redis, account: &str, within: Duration) -> Result<StoreWatch> {
    let mut c = redis.conn().await?;
    let folders_key = format!("{STORE_PREFIX}:acct:{{{account}}}:folders");
    let deadline = Instant::now() + within;
    let mut own_commands = 0;
    while Instant::now() < deadline {
        own_commands += 1;
        let v: Option<String> = redis::cmd("HGET")
            .arg(&folders_key)
            .arg("INBOX")
            .query_async(&mut c)
            .await?;
        if let Some(v) = v
            && serde_json::from_str::<Value>(&v)?["uidNext"]
                .as_u64()
                .unwrap_or(0)
                > 1
        {
            return Ok(StoreWatch {
                committed: Instant::now(),
                own_commands,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("{account}: INBOX state not committed within {within:?}")
}

/// The initial sync as the gateway itself timed it: from its `connected` log line (login
/// done, the sync starts) to the `syncTime` it stored (every folder committed), both on its
/// own clock, so that both stores are timed the same way and no polling interval counts
/// (1 ms precision: syncTime has milliseconds).
async fn sync_span(gw: &Gateway, base: &str, account: &str) -> Result<Duration> {
    let log = std::fs::read_to_string(gw.log_path())?;
    let connected = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "connected" && v["fields"]["account"] == account)
        .and_then(|v| v["timestamp"].as_str().map(str::to_string))
        .ok_or_else(|| anyhow!("no `connected` line for {account} in the gateway log"))?;
    let (status, body) = get_json(&format!("{base}/v1/account/{account}"), IMAP_TIMEOUT)
        .await
        .ok_or_else(|| anyhow!("GET /v1/account/{account} failed"))?;
    let synced = body["syncTime"]
        .as_str()
        .filter(|_| status == 200)
        .ok_or_else(|| anyhow!("no syncTime for {account}: {status} {body}"))?;
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).context("a gateway timestamp");
    (at(synced)? - at(&connected)?)
        .to_std()
        .context("syncTime before `connected`")
}

/// Open TCP sockets of a process (its fds that are sockets).
fn socket_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|l| l.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Part 1: initial sync
// ---------------------------------------------------------------------------------------

/// The rows of one initial sync: from registration (includes account pick-up, connect,
/// TLS and LOGIN, which the baseline does not) and from `connected` (the sync proper).
/// Initial syncs per store: the same mailbox registered again under new account ids, as
/// the baseline takes the median of three FETCHes.
const SYNC_RUNS: usize = 3;

fn sync_rows(
    report: &Report,
    store: &str,
    baseline: Duration,
    total: Duration,
    spans: &[Duration],
) {
    const P: &str = "sync";
    let [sync, ..] = median_min_max(spans.to_vec());
    let r_total = total.as_secs_f64() / baseline.as_secs_f64();
    let r_sync = sync.as_secs_f64() / baseline.as_secs_f64();
    let runs: Vec<String> = spans.iter().map(|d| ms(*d)).collect();
    report.info(
        P,
        format!("(b) {store}: register → initial sync done (first run)"),
        format!("{} ({r_total:.2}x)", ms(total)),
    );
    report.check(
        P,
        format!("(b) {store}: connected → initial sync done, median /(a)"),
        format!("{} = {r_sync:.2}x (runs: {})", ms(sync), runs.join(", ")),
        "≤ 1.3x",
        r_sync <= 1.3,
    );
}

/// Register the same mailbox `more` times more, one after another under new account ids,
/// each waited for until synced: the spans of those initial syncs ([`sync_span`]). The
/// account before (`previous`, then each of these) is deleted first, so no session of ours
/// but the one timed has the mailbox open (a session watching with NOTIFY makes the
/// server's work on the folder heavier for everyone).
async fn more_sync_spans(
    gw: &Gateway,
    dv: &Dovecot,
    user: &TestUser,
    previous: &str,
    more: usize,
) -> Result<Vec<Duration>> {
    let base = gw.base_url();
    let mut spans = Vec::new();
    let mut previous = previous.to_string();
    for _ in 0..more {
        delete_account(&base, &previous).await?;
        // Its session closes, and Dovecot ends its process: not to overlap this sync.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let account = format!("bench-sync-{}", support::unique_suffix());
        register(&base, account_body(dv, &account, user)).await?;
        wait_synced(&base, &account, SYNC_TIMEOUT).await?;
        spans.push(sync_span(gw, &base, &account).await?);
        previous = account;
    }
    delete_account(&base, &previous).await?;
    Ok(spans)
}

async fn delete_account(base: &str, account: &str) -> Result<()> {
    let (status, body) =
        support::http("DELETE", &format!("{base}/v1/account/{account}"), None).await;
    if status != 200 {
        bail!("DELETE /v1/account/{account}: {status} {body}");
    }
    Ok(())
}

async fn part_sync(opts: &Opts, report: &Report) -> Result<()> {
    const P: &str = "sync";
    let n = opts.messages;
    let dv = Dovecot::ensure();
    let user = dv.create_user("bench-sync");

    let t = Instant::now();
    {
        let user = user.user.clone();
        tokio::task::spawn_blocking(move || dv.fill_maildir(&user, "INBOX", n, small_message))
            .await?;
    }
    report.info(
        P,
        "fill Maildir (untimed setup)",
        format!("{n} msgs, {}", secs(t.elapsed())),
    );

    // A mailbox a user registers has been read by mail clients for a while: Dovecot has
    // indexed its files, cached their dates, and its Maildir is no newer than its index.
    // Done here, untimed, so that neither the baseline nor the gateway pays Dovecot's
    // first-time work: the indexing SELECT; INTERNALDATE of every message (the first
    // fetch of dates caches them, ~0.5 s; the gateway's first sync reads the newest dates
    // to find mail received after registration); and two seconds' wait first, since while
    // the Maildir's directory is as new as its last sync, Dovecot rescans it (100,000
    // entries) on every opening.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut plain = bare_session(dv, &user, false).await?;
    let t = Instant::now();
    let mb = timeout(INDEX_TIMEOUT, plain.select("INBOX"))
        .await
        .context("indexing SELECT timed out")??;
    {
        let mut dates = timeout(INDEX_TIMEOUT, plain.uid_fetch("1:*", "(UID INTERNALDATE)"))
            .await
            .context("caching FETCH timed out")??;
        while timeout(INDEX_TIMEOUT, dates.try_next()).await??.is_some() {}
    }
    while plain.unsolicited_responses.try_recv().is_ok() {}
    // Mail clients that keep a mailbox in sync (Thunderbird, Apple Mail, the gateway)
    // enable CONDSTORE, and the first session that opens a folder with it makes Dovecot
    // set up the folder's modseqs: 116–155 ms on this INBOX (the gateway's `examined_ms`
    // in its debug log, against 11–17 ms after), paid once per mailbox, by whichever such
    // client came first. Paid here, untimed, as a mailbox in use has.
    {
        let mut condstore = bare_session(dv, &user, true).await?;
        timeout(
            INDEX_TIMEOUT,
            condstore.run_command_and_check_ok("ENABLE CONDSTORE"),
        )
        .await
        .context("ENABLE CONDSTORE timed out")??;
        timeout(INDEX_TIMEOUT, condstore.examine("INBOX"))
            .await
            .context("CONDSTORE EXAMINE timed out")??;
        let _ = timeout(IMAP_TIMEOUT, condstore.logout()).await;
    }
    report.info(
        P,
        "Dovecot indexing SELECT, dates FETCH and CONDSTORE EXAMINE (untimed setup)",
        secs(t.elapsed()),
    );
    if mb.exists as usize != n {
        bail!("INBOX has {} messages, expected {n}", mb.exists);
    }

    // (a) Baseline: the bare FETCH over one warm connection, plaintext and TLS.
    let [plain_med, plain_min, plain_max] = bare_fetch(&mut plain, n).await?;
    let _ = timeout(IMAP_TIMEOUT, plain.logout()).await;
    report.info(
        P,
        format!("bare UID FETCH 1:* (UID FLAGS), {n} msgs, plaintext"),
        format!(
            "{} (min {}, max {})",
            ms(plain_med),
            ms(plain_min),
            ms(plain_max)
        ),
    );
    let mut tls = bare_session(dv, &user, true).await?;
    timeout(IMAP_TIMEOUT, tls.select("INBOX")).await??;
    while tls.unsolicited_responses.try_recv().is_ok() {}
    let [baseline, tls_min, tls_max] = bare_fetch(&mut tls, n).await?;
    let _ = timeout(IMAP_TIMEOUT, tls.logout()).await;
    report.info(
        P,
        format!("(a) bare UID FETCH 1:* (UID FLAGS), {n} msgs, TLS"),
        format!(
            "{} (min {}, max {})",
            ms(baseline),
            ms(tls_min),
            ms(tls_max)
        ),
    );

    let [whole, whole_min, whole_max] = bare_account_sync(dv, &user).await?;
    report.info(
        P,
        "(a') bare: the sync's conversation (INBOX, LIST, every folder), TLS",
        format!(
            "{} = {:.2}x (a) (min {}, max {})",
            ms(whole),
            whole.as_secs_f64() / baseline.as_secs_f64(),
            ms(whole_min),
            ms(whole_max)
        ),
    );

    // (b) Ours on the embedded store.
    {
        let gw = spawn_gateway(dv, None, &["--service.commandTimeout=900s"]).await;
        let base = gw.base_url();
        let account = format!("bench-sync-{}", support::unique_suffix());
        let t0 = Instant::now();
        register(&base, account_body(dv, &account, &user)).await?;
        let done = wait_synced(&base, &account, SYNC_TIMEOUT).await?;
        let mut spans = vec![sync_span(&gw, &base, &account).await?];
        let rss = gw.pid().and_then(|p| vm_rss_kib(p).ok()).unwrap_or(0);
        spans.extend(more_sync_spans(&gw, dv, &user, &account, SYNC_RUNS - 1).await?);
        sync_rows(report, "embedded", baseline, done - t0, &spans);
        report.info(
            P,
            "embedded: gateway VmRSS after the first sync",
            format!("{:.1} MiB", rss as f64 / 1024.0),
        );
    }

    // (b) Ours on Redis: time, store memory per message, commands per sync. Watched from
    // the store itself (no API polling, whose reads would count as the gateway's commands);
    // the API is asked once for syncTime afterwards.
    {
        let redis = Redis::start().await?;
        let gw = spawn_gateway(
            dv,
            None,
            &[
                &format!("--dbs.redis={}", redis.url),
                "--service.commandTimeout=900s",
            ],
        )
        .await;
        let base = gw.base_url();
        let account = format!("bench-sync-{}", support::unique_suffix());
        // The idle gateway's own traffic (lease renewals, scans), to tell it from the sync's.
        let idle_before = redis.total_commands().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle_rate = redis
            .total_commands()
            .await?
            .saturating_sub(idle_before + 1) as f64
            / 2.0;
        let cmds_before = redis.total_commands().await?;
        let stats_before = redis.command_stats().await?;
        let t0 = Instant::now();
        register(&base, account_body(dv, &account, &user)).await?;
        let watch = watch_store_sync(&redis, &account, SYNC_TIMEOUT).await?;
        let done = wait_synced(&base, &account, SYNC_TIMEOUT).await?;
        let t_end = Instant::now();
        let cmds_after = redis.total_commands().await?;
        let stats_after = redis.command_stats().await?;
        report.info(
            P,
            "redis: register → INBOX committed (read from the store)",
            ms(watch.committed - t0),
        );
        let first_span = sync_span(&gw, &base, &account).await?;

        // Store memory of the account's index hash(es).
        let mut c = redis.conn().await?;
        let pattern = format!("{STORE_PREFIX}:acct:{{{account}}}:idx:*");
        let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query_async(&mut c).await?;
        let mut bytes = 0u64;
        let mut inbox_bytes = 0u64;
        for k in &keys {
            // SAMPLES 0: every field counted, not an estimate from a sample.
            let b: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(k)
                .arg("SAMPLES")
                .arg(0)
                .query_async(&mut c)
                .await?;
            bytes += b.unwrap_or(0);
            if k.ends_with(":idx:INBOX") {
                inbox_bytes = b.unwrap_or(0);
            }
        }
        let per_msg = inbox_bytes as f64 / n as f64;
        report.info(
            P,
            "redis: index keys of the account (all folders)",
            format!("{} keys, {bytes} B", keys.len()),
        );
        report.check(
            P,
            "redis: INBOX index bytes per message",
            format!("{per_msg:.2} B"),
            "< 20 B",
            per_msg < 20.0,
        );

        // The gateway's commands: the server's count less this bench's (the watcher's, and
        // one INFO after `cmds_before` was read), less the idle background over the run.
        let raw = cmds_after.saturating_sub(cmds_before);
        let background = (idle_rate * (t_end - t0).as_secs_f64()).round() as u64;
        let ours = raw.saturating_sub(watch.own_commands + 2 + background);
        let batches = n.div_ceil(5_000);
        let evalsha = stats_after
            .iter()
            .find(|(k, _)| k == "evalsha")
            .map_or(0, |(_, a)| *a)
            .saturating_sub(
                stats_before
                    .iter()
                    .find(|(k, _)| k == "evalsha")
                    .map_or(0, |(_, b)| *b),
            );
        report.check(
            P,
            "redis: commands of the registration + sync",
            format!("{ours} ({:.4} per message)", ours as f64 / n as f64),
            format!("O(batches): {batches} × 5,000"),
            (ours as f64) < (n as f64 / 10.0).max(200.0),
        );
        report.info(
            P,
            "redis: EVALSHA (fenced writes: commits, status, leases)",
            evalsha.to_string(),
        );
        let delta: Vec<String> = stats_after
            .iter()
            .filter_map(|(name, after)| {
                let before = stats_before
                    .iter()
                    .find(|(b, _)| b == name)
                    .map_or(0, |(_, c)| *c);
                (after > &before).then(|| format!("{name} {}", after - before))
            })
            .collect();
        report.note(format!(
            "redis commands from registration to sync end, by command, all clients: {} (the bench's \
             watcher sent {} GET/HGET of them; idle gateway background ~{idle_rate:.1}/s, {background} \
             over the run, subtracted above)",
            delta.join(", "),
            watch.own_commands,
        ));
        if !redis.private {
            report.note(
                "BENCH_REDIS was set: the command counts include other clients of that server",
            );
        }
        // After the counts: the runs that follow are for the time only.
        let mut spans = vec![first_span];
        spans.extend(more_sync_spans(&gw, dv, &user, &account, SYNC_RUNS - 1).await?);
        sync_rows(report, "redis", baseline, done - t0, &spans);
        drop(gw);
    }
    remove_mail(dv, &user);
    report.note(
        "sync: connected → initial sync done is the gateway's own clock on both stores: its \
         `connected` log line (login done) to the `syncTime` it stored (every folder committed). \
         register → … (API polled every 10 ms) includes account pick-up, connect, TLS and LOGIN; \
         (a) does not. Each store syncs the mailbox three times (new account ids), the median \
         compared with (a), itself the median of three. The untimed setup leaves the mailbox \
         as mail clients in use leave it, so that no timed run pays Dovecot's once-per-mailbox \
         work: indexed, dates cached, CONDSTORE's modseqs set up. INBOX is synced first, \
         before the folder list, and NOTIFY is set after the sync (see ingest/src/sync/account.rs `sync_inbox_first`).",
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Part 2: APPEND → webhook
// ---------------------------------------------------------------------------------------

/// A bare IDLE client on INBOX: sends (EXISTS count, when) for every EXISTS until `stop`.
/// `examine`: open INBOX read-only with CONDSTORE, as ingest does, instead of SELECT.
async fn idle_watch(
    mut session: BareSession,
    examine: bool,
    tx: mpsc::UnboundedSender<(u32, Instant)>,
    mut stop: oneshot::Receiver<()>,
    ready: oneshot::Sender<()>,
) -> Result<()> {
    if examine {
        timeout(
            IMAP_TIMEOUT,
            session.run_command_and_check_ok("EXAMINE INBOX (CONDSTORE)"),
        )
        .await??;
    } else {
        timeout(IMAP_TIMEOUT, session.select("INBOX")).await??;
    }
    while session.unsolicited_responses.try_recv().is_ok() {}
    let mut idle = session.idle();
    timeout(IMAP_TIMEOUT, idle.init()).await??;
    let _ = ready.send(());
    loop {
        let (fut, interrupt) = idle.wait_with_timeout(Duration::from_secs(120));
        tokio::select! {
            r = fut => match r? {
                IdleResponse::NewData(d) => {
                    if let Response::MailboxData(MailboxDatum::Exists(n)) = d.parsed() {
                        let _ = tx.send((*n, Instant::now()));
                    }
                }
                // Quiet for two minutes (Dovecot's keepalives reset it): keep waiting.
                IdleResponse::Timeout => {}
                IdleResponse::ManualInterrupt => break,
            },
            _ = &mut stop => {
                drop(interrupt);
                break;
            }
        }
    }
    let _ = timeout(IMAP_TIMEOUT, idle.done()).await;
    Ok(())
}

async fn part_latency(opts: &Opts, report: &Report) -> Result<()> {
    const P: &str = "latency";
    let dv = Dovecot::ensure();
    let user = dv.create_user("bench-lat");
    let gw = spawn_gateway(dv, None, &[]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;

    let mut appender = ImapTestClient::connect(dv, &user).await?;
    appender
        .append("INBOX", &mail("before", "already there"))
        .await?;
    let account = format!("bench-lat-{}", support::unique_suffix());
    register(&base, account_body(dv, &account, &user)).await?;
    wait_connected(&base, &account, Duration::from_secs(60)).await?;
    wait_synced(&base, &account, Duration::from_secs(60)).await?;

    // Two bare IDLE clients: one SELECTs INBOX (what a plain mail client does), one
    // EXAMINEs it with CONDSTORE (what ingest does); Dovecot may announce to them apart.
    let (tx, mut exists) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let idler = tokio::spawn(idle_watch(
        bare_session(dv, &user, true).await?,
        false,
        tx,
        stop_rx,
        ready_tx,
    ));
    timeout(IMAP_TIMEOUT, ready_rx)
        .await
        .context("bare IDLE did not start")??;
    let (tx, mut exists_ro) = mpsc::unbounded_channel();
    let (stop_ro_tx, stop_rx) = oneshot::channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let idler_ro = tokio::spawn(idle_watch(
        bare_session(dv, &user, true).await?,
        true,
        tx,
        stop_rx,
        ready_tx,
    ));
    timeout(IMAP_TIMEOUT, ready_rx)
        .await
        .context("bare EXAMINE IDLE did not start")??;

    let warmup = 3;
    let mut a = Vec::new(); // APPEND → webhook
    let mut b = Vec::new(); // APPEND → bare IDLE EXISTS
    let mut c = Vec::new(); // webhook − bare IDLE
    let mut b_ro = Vec::new(); // APPEND → bare EXAMINE IDLE EXISTS
    let mut c_ro = Vec::new(); // webhook − bare EXAMINE IDLE
    let mut ok_times = Vec::new(); // APPEND command round trip
    for i in 0..warmup + opts.samples {
        // Leftovers of the previous round (other events, extra EXISTS) must not be taken
        // for this round's.
        hook.drain().await;
        while exists.try_recv().is_ok() {}
        while exists_ro.try_recv().is_ok() {}
        let msg = mail(&format!("latency {i}"), "timing");
        let t0 = Instant::now();
        let uid = appender.append("INBOX", &msg).await?;
        let t_ok = Instant::now();
        let acc = account.clone();
        let got = hook
            .wait_for(
                move |r| {
                    r.body["account"] == acc.as_str()
                        && r.event() == Some("messageNew")
                        && r.body["data"]["uid"] == uid
                },
                EVENT_TIMEOUT,
            )
            .await
            .ok_or_else(|| {
                anyhow!("no messageNew webhook for uid {uid} within {EVENT_TIMEOUT:?}")
            })?;
        let (_, idle_at) = timeout(EVENT_TIMEOUT, exists.recv())
            .await
            .context("bare IDLE client saw no EXISTS")?
            .ok_or_else(|| anyhow!("bare IDLE client stopped"))?;
        let (_, idle_ro_at) = timeout(EVENT_TIMEOUT, exists_ro.recv())
            .await
            .context("bare EXAMINE IDLE client saw no EXISTS")?
            .ok_or_else(|| anyhow!("bare EXAMINE IDLE client stopped"))?;
        if i < warmup {
            continue;
        }
        let f = |d: Duration| d.as_secs_f64() * 1000.0;
        a.push(f(got.at.saturating_duration_since(t0)));
        b.push(f(idle_at.saturating_duration_since(t0)));
        c.push(f(got.at.saturating_duration_since(t0)) - f(idle_at.saturating_duration_since(t0)));
        b_ro.push(f(idle_ro_at.saturating_duration_since(t0)));
        c_ro.push(
            f(got.at.saturating_duration_since(t0)) - f(idle_ro_at.saturating_duration_since(t0)),
        );
        ok_times.push(f(t_ok - t0));
    }
    let _ = stop_tx.send(());
    let _ = stop_ro_tx.send(());
    let _ = timeout(Duration::from_secs(30), idler).await;
    let _ = timeout(Duration::from_secs(30), idler_ro).await;
    let _ = appender.logout().await;

    for v in [&mut a, &mut b, &mut c, &mut b_ro, &mut c_ro, &mut ok_times] {
        v.sort_by(f64::total_cmp);
    }
    let n = a.len();
    let line = |v: &[f64]| format!("p50 {:.1} ms, p99 {:.1} ms", pct(v, 50.0), pct(v, 99.0));
    report.info(
        P,
        format!("APPEND command round trip ({n} msgs)"),
        line(&ok_times),
    );
    report.info(P, "(a) APPEND → webhook", line(&a));
    report.info(P, "(b) APPEND → bare IDLE EXISTS", line(&b));
    report.info(P, "(c) webhook − bare IDLE (ours)", line(&c));
    report.check(
        P,
        "(c) ours p50",
        format!("{:.1} ms", pct(&c, 50.0)),
        "< 100 ms",
        pct(&c, 50.0) < 100.0,
    );
    report.info(
        P,
        "(c) ours min / max",
        format!("{:.1} / {:.1} ms", c[0], c[n - 1]),
    );
    report.info(
        P,
        "(b') APPEND → bare EXAMINE (CONDSTORE) IDLE EXISTS",
        line(&b_ro),
    );
    report.info(
        P,
        "(c') webhook − bare EXAMINE IDLE (ours, like for like)",
        line(&c_ro),
    );
    report.check(
        P,
        "(c') ours p50",
        format!("{:.1} ms", pct(&c_ro, 50.0)),
        "< 100 ms",
        pct(&c_ro, 50.0) < 100.0,
    );
    remove_mail(dv, &user);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Part 3: memory per idle account
// ---------------------------------------------------------------------------------------

/// States of all accounts, counted (`GET /v1/accounts`, pages of 1,000).
async fn state_counts(base: &str) -> Result<Vec<(String, usize)>> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut page = 0;
    loop {
        let url = format!("{base}/v1/accounts?pageSize=1000&page={page}");
        let (st, body) = get_json(&url, Duration::from_secs(60))
            .await
            .ok_or_else(|| anyhow!("GET {url} failed"))?;
        if st != 200 {
            bail!("GET {url}: {st} {body}");
        }
        for a in body["accounts"].as_array().into_iter().flatten() {
            let s = a["state"].as_str().unwrap_or("?").to_string();
            match counts.iter_mut().find(|(k, _)| *k == s) {
                Some((_, c)) => *c += 1,
                None => counts.push((s, 1)),
            }
        }
        page += 1;
        if page >= body["pages"].as_u64().unwrap_or(0) {
            return Ok(counts);
        }
    }
}

fn count_of(counts: &[(String, usize)], state: &str) -> usize {
    counts
        .iter()
        .find(|(k, _)| k == state)
        .map_or(0, |(_, c)| *c)
}

async fn part_memory(opts: &Opts, report: &Report) -> Result<()> {
    const P: &str = "memory";
    let n = opts.accounts;
    let dv = Dovecot::ensure();

    // The users and their mail first: neither belongs in the ingest's figures.
    let t = Instant::now();
    let users: Vec<TestUser> = tokio::task::spawn_blocking(move || {
        (0..n)
            .map(|i| {
                let u = dv.create_user("bench-mem");
                dv.fill_maildir(&u.user, "INBOX", 2, |j| small_message(i * 2 + j));
                u
            })
            .collect()
    })
    .await?;
    report.info(
        P,
        "create users + Maildirs (untimed setup)",
        format!("{n} users, {}", secs(t.elapsed())),
    );

    let redis = Redis::start().await?;
    let prefix = format!("bench-{}", support::unique_suffix());
    let args = [
        format!("--dbs.redis={}", redis.url),
        format!("--queue.url={}", opts.amqp),
        format!("--queue.prefix={prefix}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut ingest = spawn_gateway(dv, Some("ingest"), &args).await;
    let api = spawn_gateway(dv, Some("api"), &args).await;
    let base = api.base_url();
    let pid = ingest.pid().ok_or_else(|| anyhow!("ingest not running"))?;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = vm_rss_kib(pid)?;
    report.info(
        P,
        "ingest VmRSS, no accounts",
        format!("{:.1} MiB", before as f64 / 1024.0),
    );

    // Registration, a few requests at a time as a provisioning script would.
    let t = Instant::now();
    // Owned items: a stream of borrowed users inside a spawned task trips the compiler's
    // higher-ranked lifetime check.
    let bodies: Vec<(String, Value)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let id = format!("mem-{i:05}");
            let body = account_body(dv, &id, u);
            (id, body)
        })
        .collect();
    let results: Vec<Result<()>> = futures::stream::iter(bodies)
        .map(|(id, body)| {
            let base = base.clone();
            async move {
                register(&base, body)
                    .await
                    .with_context(|| format!("registering {id}"))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        return Err(e);
    }
    report.info(
        P,
        format!("register {n} accounts (POST, 8 at a time)"),
        secs(t.elapsed()),
    );

    // Until all are connected, or progress stops for a minute (then report how far it got).
    let t = Instant::now();
    let overall = Duration::from_secs(120 + n as u64 / 2);
    let mut best = 0usize;
    let mut last_progress = Instant::now();
    let mut counts = Vec::new();
    while t.elapsed() < overall {
        counts = state_counts(&base).await?;
        let connected = count_of(&counts, "connected");
        if connected > best {
            best = connected;
            last_progress = Instant::now();
        }
        if connected >= n || last_progress.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let all_at = t.elapsed();
    let states = counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    report.check(
        P,
        "accounts connected",
        format!("{best} of {n} in {}", secs(all_at)),
        format!("{n}"),
        best >= n,
    );
    if best < n {
        report.note(format!(
            "not all accounts connected: states {states}; see {} and {}",
            ingest.log_path().display(),
            dv.log_file.display()
        ));
    }

    // Settle: the initial syncs of the other folders and the first IDLE are done, and the
    // allocator has had time to return what the start-up bursts took.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = vm_rss_kib(pid)?;
    let sockets = socket_count(pid);
    let per = (after.saturating_sub(before)) as f64 / best.max(1) as f64;
    report.info(
        P,
        format!("ingest VmRSS, {best} accounts idle"),
        format!("{:.1} MiB", after as f64 / 1024.0),
    );
    report.info(P, "ingest open sockets", sockets.to_string());
    report.check(
        P,
        "ingest RSS per idle account",
        format!("{per:.1} KiB"),
        "< 100 KB",
        per * 1024.0 < 100_000.0,
    );
    let final_counts = state_counts(&base).await?;
    let states = final_counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    report.note(format!("memory: account states at the end: {states}"));

    all_at_once(report, &base, &mut ingest, best).await?;

    drop(api);
    drop(ingest);
    for u in &users {
        remove_mail(dv, u);
    }
    Ok(())
}

/// CPU time (user + system) of process `pid` so far.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("odd /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_millis(ticks * 1000 / hz))
}

/// Every account comes up at once, as after a deployment: ingest stops cleanly (its
/// accounts go `disconnected`) and starts again finding all of them to connect. Connection
/// set-up is throttled with jitter; reports how long until all are connected and the CPU
/// the new process spent on it, on average and at its busiest second.
async fn all_at_once(report: &Report, base: &str, ingest: &mut Gateway, n: usize) -> Result<()> {
    const P: &str = "memory";
    ingest.stop().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_of(&state_counts(base).await?, "connected") > 0 {
        if Instant::now() > deadline {
            report.note(
                "all at once: accounts still `connected` a minute after a clean stop; skipped",
            );
            ingest.start().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let t = Instant::now();
    ingest.start().await;
    let pid = ingest.pid().ok_or_else(|| anyhow!("ingest not running"))?;
    let (mut last_cpu, mut last_at) = (cpu_time(pid)?, Instant::now());
    let mut busiest = 0.0f64;
    let mut connected = 0;
    while t.elapsed() < Duration::from_secs(180) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cpu = cpu_time(pid)?;
        let share = (cpu - last_cpu).as_secs_f64() / last_at.elapsed().as_secs_f64();
        busiest = busiest.max(share);
        (last_cpu, last_at) = (cpu, Instant::now());
        connected = count_of(&state_counts(base).await?, "connected");
        if connected >= n {
            break;
        }
    }
    let took = t.elapsed();
    let spent = cpu_time(pid)?;
    report.check(
        P,
        format!("all {n} at once after a restart: connected"),
        format!("{connected} of {n} in {}", secs(took)),
        "all within 60 s",
        connected >= n && took <= Duration::from_secs(60),
    );
    report.info(
        P,
        "  ingest CPU meanwhile",
        format!(
            "{:.1} s in all ({:.0}% of one core on average, {:.0}% at the busiest second)",
            spent.as_secs_f64(),
            100.0 * spent.as_secs_f64() / took.as_secs_f64(),
            100.0 * busiest
        ),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Part 4: APPEND → webhook in every folder (NOTIFY)
// ---------------------------------------------------------------------------------------

/// The folder kinds of part `folders`: a label for the report and the folder's path.
const FOLDER_KINDS: [(&str, &str); 3] = [
    ("INBOX", "INBOX"),
    ("Sent", "Sent"),
    ("nested", "Projects/Alpha"),
];

/// The folder a bare NOTIFY/IDLE response tells about: EXISTS for the selected INBOX, a
/// `STATUS` for any other folder (RFC 5465 announces those so).
fn notice_folder(r: &Response<'_>) -> Option<String> {
    match r {
        Response::MailboxData(MailboxDatum::Exists(_)) => Some("INBOX".into()),
        Response::MailboxData(MailboxDatum::Status { mailbox, .. }) => Some(mailbox.to_string()),
        _ => None,
    }
}

/// A bare client doing on the wire what the gateway's watching connection does: `NOTIFY
/// SET` for the selected and every personal folder, INBOX examined with CONDSTORE, IDLE.
/// Sends (folder, when) for every notice until `stop`, so its times are Dovecot's own share
/// of the delay in each folder.
async fn notify_watch(
    mut session: BareSession,
    tx: mpsc::UnboundedSender<(String, Instant)>,
    mut stop: oneshot::Receiver<()>,
    ready: oneshot::Sender<()>,
) -> Result<()> {
    timeout(
        IMAP_TIMEOUT,
        session.run_command_and_check_ok(
            "NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) \
             (personal (MessageNew MessageExpunge FlagChange))",
        ),
    )
    .await?
    .context("NOTIFY SET refused")?;
    timeout(
        IMAP_TIMEOUT,
        session.run_command_and_check_ok("EXAMINE INBOX (CONDSTORE)"),
    )
    .await??;
    while session.unsolicited_responses.try_recv().is_ok() {}
    let mut idle = session.idle();
    timeout(IMAP_TIMEOUT, idle.init()).await??;
    let _ = ready.send(());
    loop {
        let (fut, interrupt) = idle.wait_with_timeout(Duration::from_secs(120));
        tokio::select! {
            r = fut => match r? {
                IdleResponse::NewData(d) => {
                    if let Some(folder) = notice_folder(d.parsed()) {
                        let _ = tx.send((folder, Instant::now()));
                    }
                }
                IdleResponse::Timeout => {}
                IdleResponse::ManualInterrupt => break,
            },
            _ = &mut stop => {
                drop(interrupt);
                break;
            }
        }
    }
    let _ = timeout(IMAP_TIMEOUT, idle.done()).await;
    Ok(())
}

/// When the bare client next heard of `folder` (notices of other folders are skipped).
async fn wait_notice(
    rx: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    folder: &str,
) -> Result<Instant> {
    let found = async {
        while let Some((f, at)) = rx.recv().await {
            if f == folder {
                return Ok(at);
            }
        }
        bail!("bare NOTIFY client stopped")
    };
    timeout(EVENT_TIMEOUT, found)
        .await
        .with_context(|| format!("bare NOTIFY client heard nothing of {folder}"))?
}

/// The times of one folder kind, in ms, sorted by [`FolderTimes::sort`].
#[derive(Default)]
struct FolderTimes {
    /// APPEND → webhook.
    hook: Vec<f64>,
    /// APPEND → bare NOTIFY/IDLE notice.
    bare: Vec<f64>,
    /// webhook − bare notice: the gateway's own share.
    ours: Vec<f64>,
}

impl FolderTimes {
    fn sort(&mut self) {
        for v in [&mut self.hook, &mut self.bare, &mut self.ours] {
            v.sort_by(f64::total_cmp);
        }
    }
}

/// What one APPEND to `folder` takes to reach the webhook and the bare client, from t0.
struct Sample {
    hook: Duration,
    bare: Duration,
}

/// APPEND one message to `folder`, then wait for its `messageNew` webhook (that path and
/// uid) and the bare client's notice of that folder.
async fn folder_sample(
    appender: &mut ImapTestClient,
    hook: &WebhookReceiver,
    notices: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    account: &str,
    folder: &str,
    i: usize,
) -> Result<Sample> {
    // Leftovers of the previous round must not be taken for this round's.
    hook.drain().await;
    while notices.try_recv().is_ok() {}
    let msg = mail(&format!("folders {folder} {i}"), "timing");
    let t0 = Instant::now();
    let uid = appender.append(folder, &msg).await?;
    let (acc, path) = (account.to_string(), folder.to_string());
    let got = hook
        .wait_for(
            move |r| {
                r.body["account"] == acc.as_str()
                    && r.event() == Some("messageNew")
                    && r.body["path"] == path.as_str()
                    && r.body["data"]["uid"] == uid
            },
            EVENT_TIMEOUT,
        )
        .await
        .ok_or_else(|| {
            anyhow!("no messageNew webhook for {folder} uid {uid} within {EVENT_TIMEOUT:?}")
        })?;
    let bare_at = wait_notice(notices, folder).await?;
    Ok(Sample {
        hook: got.at.saturating_duration_since(t0),
        bare: bare_at.saturating_duration_since(t0),
    })
}

/// `samples` timed APPENDs to `folder` after a few untimed ones.
async fn folder_times(
    appender: &mut ImapTestClient,
    hook: &WebhookReceiver,
    notices: &mut mpsc::UnboundedReceiver<(String, Instant)>,
    account: &str,
    folder: &str,
    samples: usize,
) -> Result<FolderTimes> {
    let warmup = 3;
    let mut times = FolderTimes::default();
    let f = |d: Duration| d.as_secs_f64() * 1000.0;
    for i in 0..warmup + samples {
        let s = folder_sample(appender, hook, notices, account, folder, i).await?;
        if i < warmup {
            continue;
        }
        times.hook.push(f(s.hook));
        times.bare.push(f(s.bare));
        times.ours.push(f(s.hook) - f(s.bare));
    }
    times.sort();
    Ok(times)
}

/// The report lines of one folder kind, and the goal: the gateway adds under 100 ms (p50)
/// to what Dovecot's NOTIFY itself takes.
fn report_folder(report: &Report, kind: &str, t: &FolderTimes) {
    const P: &str = "folders";
    let line = |v: &[f64]| format!("p50 {:.1} ms, p99 {:.1} ms", pct(v, 50.0), pct(v, 99.0));
    let n = t.hook.len();
    report.info(
        P,
        format!("{kind}: (a) APPEND → webhook ({n} msgs)"),
        line(&t.hook),
    );
    report.info(
        P,
        format!("{kind}: (b) APPEND → bare NOTIFY/IDLE notice"),
        line(&t.bare),
    );
    report.info(
        P,
        format!("{kind}: (c) webhook − bare (ours)"),
        line(&t.ours),
    );
    let p50 = pct(&t.ours, 50.0);
    report.check(
        P,
        format!("{kind}: (c) ours p50"),
        format!("{p50:.1} ms"),
        "< 100 ms",
        p50 < 100.0,
    );
}

/// Starts [`notify_watch`] on a new bare session and waits until it idles.
async fn start_notify_watch(
    dv: &Dovecot,
    user: &TestUser,
) -> Result<(
    mpsc::UnboundedReceiver<(String, Instant)>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<()>>,
)> {
    let (tx, notices) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let watcher = tokio::spawn(notify_watch(
        bare_session(dv, user, true).await?,
        tx,
        stop_rx,
        ready_tx,
    ));
    timeout(IMAP_TIMEOUT, ready_rx)
        .await
        .context("bare NOTIFY/IDLE did not start")??;
    Ok((notices, stop_tx, watcher))
}

async fn part_folders(opts: &Opts, report: &Report) -> Result<()> {
    let dv = Dovecot::ensure();
    let user = dv.create_user("bench-fold");
    let gw = spawn_gateway(dv, None, &[]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;

    let mut appender = ImapTestClient::connect(dv, &user).await?;
    appender.create_mailbox("Projects").await?;
    appender.create_mailbox("Projects/Alpha").await?;
    let account = format!("bench-fold-{}", support::unique_suffix());
    let mut body = account_body(dv, &account, &user);
    // No periodic resync within the run: only NOTIFY/IDLE can explain a fast webhook.
    body["imap"]["resyncDelay"] = serde_json::json!(600);
    register(&base, body).await?;
    wait_connected(&base, &account, Duration::from_secs(60)).await?;
    wait_synced(&base, &account, Duration::from_secs(60)).await?;

    let (mut notices, stop, watcher) = start_notify_watch(dv, &user).await?;
    for (kind, folder) in FOLDER_KINDS {
        let t = folder_times(
            &mut appender,
            &hook,
            &mut notices,
            &account,
            folder,
            opts.samples,
        )
        .await?;
        report_folder(report, kind, &t);
    }
    let _ = stop.send(());
    let _ = timeout(Duration::from_secs(30), watcher).await;
    let _ = appender.logout().await;
    report.note(
        "folders: the account has resyncDelay 600 s, so every webhook came from NOTIFY/IDLE; \
         the bare client sets the gateway's NOTIFY, EXAMINEs INBOX (CONDSTORE) and IDLEs: \
         EXISTS for INBOX, STATUS for the others. Dovecot delays NOTIFY notices per \
         connection, so the gateway's connection may hear first: (c) can be negative",
    );
    remove_mail(dv, &user);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Part 5: registration → first sync
// ---------------------------------------------------------------------------------------

/// One registration, timed from just before `POST /v1/account`: until the account shows
/// `connected` (polled every 10 ms) and until its first `mailboxNew` webhook, which the
/// first sync sends as it lists the folders.
async fn registration_sample(
    dv: &Dovecot,
    base: &str,
    hook: &WebhookReceiver,
    user: &TestUser,
    i: usize,
) -> Result<(Duration, Duration)> {
    let account = format!("bench-reg-{i}-{}", support::unique_suffix());
    hook.drain().await;
    let t0 = Instant::now();
    register(base, account_body(dv, &account, user)).await?;
    let acc = account.clone();
    let first_folder = hook.wait_for(
        move |r| r.body["account"] == acc.as_str() && r.event() == Some("mailboxNew"),
        Duration::from_secs(60),
    );
    let (connected, folder) = tokio::join!(
        wait_connected(base, &account, Duration::from_secs(60)),
        first_folder
    );
    let folder = folder.ok_or_else(|| anyhow!("{account}: no mailboxNew within 60 s"))?;
    Ok((
        connected?.saturating_duration_since(t0),
        folder.at.saturating_duration_since(t0),
    ))
}

async fn part_register(opts: &Opts, report: &Report) -> Result<()> {
    const P: &str = "register";
    let dv = Dovecot::ensure();
    let gw = spawn_gateway(dv, None, &[]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;

    let mut connected = Vec::new();
    let mut first_folder = Vec::new();
    let mut users = Vec::new();
    for i in 0..opts.registrations {
        let user = dv.create_user("bench-reg");
        let sample = registration_sample(dv, &base, &hook, &user, i).await;
        users.push(user);
        let (c, f) = sample?;
        connected.push(c.as_secs_f64() * 1000.0);
        first_folder.push(f.as_secs_f64() * 1000.0);
    }
    // The accounts' sessions end with the gateway, before their mail goes.
    drop(gw);
    for u in &users {
        remove_mail(dv, u);
    }
    for v in [&mut connected, &mut first_folder] {
        v.sort_by(f64::total_cmp);
    }
    let n = connected.len();
    let line = |v: &[f64]| format!("p50 {:.1} ms, max {:.1} ms", pct(v, 50.0), v[n - 1]);
    report.info(
        P,
        format!("POST /v1/account → connected ({n} accounts)"),
        line(&connected),
    );
    report.info(
        P,
        "POST /v1/account → first mailboxNew",
        line(&first_folder),
    );
    report.note(
        "register: one account at a time on a fresh gateway (default ingest.scanInterval; the api \
         tells ingest at once); `connected` is polled every 10 ms",
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

/// Every part, in the order `BENCH_PARTS` lists them by default.
const PARTS: &[&str] = &[
    "sync", "latency", "memory", "folders", "register", "fanin", "watchmem",
];

/// Run the part called `name` (one of [`PARTS`]).
async fn run_named(name: String, o: Arc<Opts>, r: Report) -> Result<()> {
    match name.as_str() {
        "sync" => part_sync(&o, &r).await,
        "latency" => part_latency(&o, &r).await,
        "memory" => part_memory(&o, &r).await,
        "folders" => part_folders(&o, &r).await,
        "register" => part_register(&o, &r).await,
        "fanin" => fanin::part_fanin(&o, &r).await,
        "watchmem" => watchmem::part_watchmem(o.watch_accounts, &r).await,
        other => bail!("unknown part {other:?}"),
    }
}

fn main() {
    if !common::invoked_by_cargo_bench("pipeline") {
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
    runtime.block_on(async {
        // Start Dovecot once, outside the timed parts.
        tokio::task::spawn_blocking(start_dovecot)
            .await
            .expect("Dovecot start");
        for part in opts.parts.clone() {
            if !PARTS.contains(&part.as_str()) {
                report.note(format!(
                    "unknown part {part:?} skipped (known: {})",
                    PARTS.join(", ")
                ));
                continue;
            }
            let o = opts.clone();
            let name = part.clone();
            run_part(part, &report, move |r| run_named(name, o, r)).await;
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(5));

    let header = format!(
        "imapapi pipeline benchmark (issue #2): messages {}, samples {}, accounts {}, parts {}\n\
         machine: {} cores; load average at start {load_start}, at end {}; took {}",
        opts.messages,
        opts.samples,
        opts.accounts,
        opts.parts.join(","),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg(),
        secs(started.elapsed()),
    );
    report.finish("pipeline", &header);
}
