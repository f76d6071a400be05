//! What the benchmarks (`tests/bench/*.rs`) share: options from the environment, the
//! result table, bare IMAP sessions, gateway start and account helpers, process memory,
//! the private Dovecot and the runner of one part. Each bench declares
//! `#[path = "../support/mod.rs"] mod support;` and `mod common;` at its root.

// Each bench uses a different subset.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::{self, Dovecot, Gateway, TestUser, http, tls_client_config};

/// Bound of any single IMAP command of the bench's own clients.
pub const IMAP_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------

/// A number from the environment (`_` and `,` allowed as separators), or `default`.
pub fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => parse_num(name, &v),
        Err(_) => default,
    }
}

/// A comma separated list of numbers from the environment (`10000,100000`; `_` allowed
/// as a separator), or `default`.
pub fn env_nums(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_num(name, s))
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn parse_num(name: &str, v: &str) -> usize {
    v.replace(['_', ','], "")
        .parse()
        .unwrap_or_else(|e| panic!("{name}={v}: {e}"))
}

/// `BENCH_PARTS` as a lowercase list, or `default` (comma separated).
pub fn env_parts(default: &str) -> Vec<String> {
    std::env::var("BENCH_PARTS")
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

/// One line of the result table.
struct Row {
    part: String,
    metric: String,
    value: String,
    target: String,
    verdict: &'static str,
}

/// The figures of a run, shared by its parts.
#[derive(Default, Clone)]
pub struct Report {
    rows: Arc<Mutex<Vec<Row>>>,
    notes: Arc<Mutex<Vec<String>>>,
}

impl Report {
    /// A figure without a target.
    pub fn info(&self, part: &str, metric: impl Into<String>, value: impl Into<String>) {
        self.push(part, metric.into(), value.into(), String::new(), "");
    }

    /// A figure checked against a target.
    pub fn check(
        &self,
        part: &str,
        metric: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        ok: bool,
    ) {
        let verdict = if ok { "ok" } else { "MISS" };
        self.push(part, metric.into(), value.into(), target.into(), verdict);
    }

    fn push(
        &self,
        part: &str,
        metric: String,
        value: String,
        target: String,
        verdict: &'static str,
    ) {
        println!("  {part}: {metric} = {value} {target} {verdict}");
        self.rows.lock().unwrap().push(Row {
            part: part.to_string(),
            metric,
            value,
            target,
            verdict,
        });
    }

    pub fn note(&self, text: impl Into<String>) {
        let text = text.into();
        println!("  note: {text}");
        self.notes.lock().unwrap().push(text);
    }

    pub fn render(&self, header: &str) -> String {
        let rows = self.rows.lock().unwrap();
        let w = |f: &dyn Fn(&Row) -> usize, title: &str| {
            rows.iter()
                .map(f)
                .max()
                .unwrap_or(0)
                .max(title.chars().count())
        };
        let wp = w(&|r| r.part.chars().count(), "part");
        let wm = w(&|r| r.metric.chars().count(), "metric");
        let wv = w(&|r| r.value.chars().count(), "value");
        let wt = w(&|r| r.target.chars().count(), "target");
        let mut out = String::new();
        let _ = writeln!(out, "{header}");
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:wp$}  {:wm$}  {:>wv$}  {:wt$}  verdict",
            "part", "metric", "value", "target"
        );
        let _ = writeln!(out, "{}", "-".repeat(wp + wm + wv + wt + 15));
        for r in rows.iter() {
            let _ = writeln!(
                out,
                "{:wp$}  {:wm$}  {:>wv$}  {:wt$}  {}",
                r.part, r.metric, r.value, r.target, r.verdict
            );
        }
        let notes = self.notes.lock().unwrap();
        if !notes.is_empty() {
            let _ = writeln!(out);
            for n in notes.iter() {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }

    /// Prints the table under `header` and writes it to `target/bench-<name>.txt`.
    pub fn finish(&self, name: &str, header: &str) {
        let table = self.render(header);
        println!("\n{table}");
        let out = target_dir().join(format!("bench-{name}.txt"));
        match std::fs::write(&out, &table) {
            Ok(()) => println!("written to {}", out.display()),
            Err(e) => eprintln!("cannot write {}: {e}", out.display()),
        }
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Nearest-rank percentile of sorted values.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Load of the machine, to read the figures by.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------------------------------
// Bare IMAP sessions
// ---------------------------------------------------------------------------------------

/// The transport of the bench's own IMAP clients (plain TCP or TLS), boxed so that both
/// give one session type.
pub trait BenchIo:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug> BenchIo
    for T
{
}

pub type BareSession = async_imap::Session<Box<dyn BenchIo>>;

/// A logged-in async-imap session of the bench's own (bare) client. With `tls`, implicit
/// TLS on the imaps port: the gateway always upgrades with STARTTLS when Dovecot offers it,
/// so a fair baseline pays for TLS too.
pub async fn bare_session(dv: &Dovecot, user: &TestUser, tls: bool) -> Result<BareSession> {
    let port = if tls { dv.imaps_port } else { dv.imap_port };
    let tcp = timeout(IMAP_TIMEOUT, TcpStream::connect((dv.host.as_str(), port)))
        .await
        .context("connect timed out")??;
    tcp.set_nodelay(true)?;
    let stream: Box<dyn BenchIo> = if tls {
        let connector = tokio_rustls::TlsConnector::from(tls_client_config(&dv.ca_cert));
        let name = rustls::pki_types::ServerName::try_from(dv.host.clone())?;
        Box::new(
            timeout(IMAP_TIMEOUT, connector.connect(name, tcp))
                .await
                .context("TLS handshake timed out")??,
        )
    } else {
        Box::new(tcp)
    };
    let mut client = async_imap::Client::new(stream);
    // async-imap leaves the greeting to the caller.
    timeout(IMAP_TIMEOUT, client.read_response())
        .await
        .context("greeting timed out")??
        .ok_or_else(|| anyhow!("closed before the greeting"))?;
    timeout(IMAP_TIMEOUT, client.login(&user.user, &user.pass))
        .await
        .context("LOGIN timed out")?
        .map_err(|(e, _)| anyhow!("LOGIN: {e}"))
}

// ---------------------------------------------------------------------------------------
// Gateway and accounts
// ---------------------------------------------------------------------------------------

/// Environment of every gateway process: trust the rig's CA, since ingest upgrades to TLS
/// with STARTTLS whenever Dovecot offers it.
pub fn gateway_env(dv: &Dovecot) -> [(&'static str, String); 1] {
    [("IMAPAPI_EXTRA_CA", dv.ca_cert.display().to_string())]
}

/// `imapapi <args>` (all roles, embedded backends) or `imapapi <role> <args>`.
pub async fn spawn_gateway(dv: &Dovecot, role: Option<&str>, args: &[&str]) -> Gateway {
    let env = gateway_env(dv);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match role {
        None => Gateway::spawn(args, &env).await,
        Some(r) => Gateway::spawn_role(r, args, &env).await,
    }
}

/// GET with a long bound of our own (the rig's `http` gives up after 30 s, shorter than a
/// big sync). `None` on transport failure or timeout.
pub async fn get_json(url: &str, within: Duration) -> Option<(u16, Value)> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();
    let req = hyper::Request::get(url)
        .body(Full::new(Bytes::new()))
        .ok()?;
    let fut = async {
        let resp = client.request(req).await.ok()?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    };
    timeout(within, fut).await.ok().flatten()
}

/// `POST /v1/account` with `body`; an error unless the gateway accepted it.
pub async fn register(base: &str, body: Value) -> Result<()> {
    let (st, answer) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    if st != 200 {
        bail!("POST /v1/account: {st} {answer}");
    }
    Ok(())
}

/// Registers every account of `bodies` (id, body), 8 requests at a time as a provisioning
/// script would, and waits until each has finished its first sync (each within `within`).
pub async fn register_all_synced(
    base: &str,
    bodies: Vec<(String, Value)>,
    within: Duration,
) -> Result<()> {
    use futures::StreamExt;
    let results: Vec<Result<()>> = futures::stream::iter(bodies)
        .map(|(id, body)| async move {
            register(base, body)
                .await
                .with_context(|| format!("registering {id}"))?;
            wait_connected(base, &id, within).await?;
            wait_synced(base, &id, within).await?;
            Ok(())
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Polls `GET /v1/account/:id` until `state` is `connected`: login done, the initial sync
/// starts (returned as an instant).
pub async fn wait_connected(base: &str, account: &str, within: Duration) -> Result<Instant> {
    let deadline = Instant::now() + within;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Some((200, body)) = get_json(
            &format!("{base}/v1/account/{account}"),
            Duration::from_secs(10),
        )
        .await
        {
            if body["state"] == "connected" {
                return Ok(Instant::now());
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{account} not connected within {within:?}; last answer {last}")
}

/// The end of the initial sync as the gateway shows it: ingest sets `syncTime` when the
/// initial sync of every folder is committed (polled every 10 ms).
pub async fn wait_synced(base: &str, account: &str, within: Duration) -> Result<Instant> {
    let deadline = Instant::now() + within;
    let url = format!("{base}/v1/account/{account}");
    let mut last = None;
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        match get_json(&url, left).await {
            Some((200, body)) if body["syncTime"].is_string() => return Ok(Instant::now()),
            other => last = other,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bail!("{account}: initial sync not done within {within:?}; last answer {last:?}")
}

// ---------------------------------------------------------------------------------------
// Processes, mail, Dovecot
// ---------------------------------------------------------------------------------------

/// Resident memory of a process in KiB (`VmRSS` of /proc/PID/status).
pub fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))
}

/// A small message, numbered, as the 100,000-message INBOX holds.
pub fn small_message(i: usize) -> Vec<u8> {
    format!(
        "From: Bench Sender <sender{}@example.com>\r\n\
         To: Bench <bench@example.com>\r\n\
         Subject: bench message {i}\r\n\
         Message-ID: <bench-{i}@example.com>\r\n\
         Date: Mon, 7 Oct 2030 06:05:23 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Body of message {i}.\r\n",
        i % 97
    )
    .into_bytes()
}

/// Removes a rig user's mail from disk (a 100,000-message Maildir is ~400 MB of blocks).
pub fn remove_mail(dv: &Dovecot, user: &TestUser) {
    let _ = std::fs::remove_dir_all(dv.mail_root.join(&user.user));
}

/// The runtime every bench runs on: two workers, as the 2-core machines the figures are
/// recorded on.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Whether this run is `cargo bench`'s. `cargo test --all-targets` runs bench binaries
/// too, in a debug build whose figures would mean nothing: there the bench only says how
/// to run it (and returns false).
pub fn invoked_by_cargo_bench(name: &str) -> bool {
    if std::env::args().any(|a| a == "--bench") {
        return true;
    }
    println!("{name} benchmark: run it with `cargo bench --bench {name}` (see its doc)");
    false
}

/// Points the rig at the private bench Dovecot (`/tmp/imapapi-bench-dovecot`, ports
/// 11143/11993) unless `IMAPAPI_DOVECOT_DIR` names another.
///
/// # Safety
/// Sets environment variables: call it while the process has a single thread (before the
/// runtime or any other thread starts).
pub unsafe fn use_private_dovecot() {
    if std::env::var_os("IMAPAPI_DOVECOT_DIR").is_some() {
        return;
    }
    // SAFETY: the caller guarantees that no other thread exists yet.
    unsafe {
        std::env::set_var("IMAPAPI_DOVECOT_DIR", "/tmp/imapapi-bench-dovecot");
        if std::env::var_os("IMAPAPI_IMAP_PORT").is_none() {
            std::env::set_var("IMAPAPI_IMAP_PORT", "11143");
        }
        if std::env::var_os("IMAPAPI_IMAPS_PORT").is_none() {
            std::env::set_var("IMAPAPI_IMAPS_PORT", "11993");
        }
    }
}

/// Runs the rig's start script with its output going to a file, then `Dovecot::ensure`.
///
/// A Dovecot master started by the script keeps the script's stderr open for good, so
/// `Dovecot::ensure` (which captures the script's output and waits for its end) never
/// returns when it is the one that starts Dovecot. Started here first, with the output in
/// a file, `ensure` finds it running and returns at once.
pub fn start_dovecot() -> &'static Dovecot {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("infra/dovecot/start.sh");
    let log_path = target_dir().join("bench-dovecot-start.log");
    let log = std::fs::File::create(&log_path).expect("start log");
    let mut child = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .spawn()
        .expect("running infra/dovecot/start.sh");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        match child.try_wait().expect("waiting for start.sh") {
            Some(st) if st.success() => break,
            Some(st) => panic!("start.sh failed ({st}); see {}", log_path.display()),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!(
                    "start.sh did not finish within 300 s; see {}",
                    log_path.display()
                );
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    Dovecot::ensure()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Runs one part; a failure (error or panic) is reported and does not stop the others.
/// Returns what the part returned, `None` when it failed.
pub async fn run_part<T, F, Fut>(name: impl Into<String>, report: &Report, f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(Report) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let name = name.into();
    println!("== {name} (load {})", loadavg());
    let t = Instant::now();
    let res = tokio::spawn(f(report.clone())).await;
    let (value, outcome) = match res {
        Ok(Ok(v)) => (Some(v), format!("done in {}", secs(t.elapsed()))),
        Ok(Err(e)) => (None, format!("FAILED after {}: {e:#}", secs(t.elapsed()))),
        Err(e) => (
            None,
            format!("FAILED (panic) after {}: {e}", secs(t.elapsed())),
        ),
    };
    println!("== {name}: {outcome}");
    report.note(format!(
        "part {name}: {outcome}; load average after: {}",
        loadavg()
    ));
    value
}

/// A unique name for this run's resources (`<prefix>-<random>`).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", support::unique_suffix())
}
