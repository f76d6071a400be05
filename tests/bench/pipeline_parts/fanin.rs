//! Part `fanin` of the pipeline benchmark: many accounts on one gateway, mail arriving in
//! all of them at a steady rate. `BENCH_FANIN_ACCOUNTS` (100) accounts on one embedded
//! gateway get `BENCH_FANIN_MESSAGES` (1,000) APPENDs to INBOX, paced at
//! `BENCH_FANIN_RATE` (50) per second round robin over the accounts (each APPEND at its
//! own slot on the clock, never in bursts); every change is timed to its `messageNew`
//! webhook. Every tenth account also has a bare IDLE client on INBOX (examined with
//! CONDSTORE, as ingest does), so the same run measures Dovecot's share of the delay under
//! the same load and the gateway's share on top (like part `latency`, one account at a
//! time).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use crate::common::{
    IMAP_TIMEOUT, Report, bare_session, pct, register_all_synced, remove_mail, secs, spawn_gateway,
};
use crate::pipeline::{account_body, mail, set_webhooks};
use crate::support::{self, Dovecot, ImapTestClient, TestUser, WebhookReceiver};
use crate::{Opts, idle_watch};

const P: &str = "fanin";
/// Every this-many-th account also has a bare NOTIFY/IDLE client.
const BARE_EVERY: usize = 10;
/// How long the webhooks may trail the last APPEND.
const TAIL: Duration = Duration::from_secs(60);

/// One APPEND as sent: which account, the uid Dovecot gave it, when it was sent and how
/// long the APPEND command took.
struct Sent {
    account: usize,
    uid: u32,
    at: Instant,
    round_trip: Duration,
    /// How far behind its slot on the clock it was sent.
    late: Duration,
}

/// What to send: how many APPENDs, one per `slot` (`rate` per second).
#[derive(Clone, Copy)]
struct Plan {
    messages: usize,
    slot: Duration,
    rate: usize,
}

/// One account of the run: its id and its IMAP user.
struct Account {
    id: String,
    user: TestUser,
}

/// The bare client of one account: its EXISTS (count, when), and how to stop it.
struct Bare {
    account: usize,
    exists: mpsc::UnboundedReceiver<(u32, Instant)>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<()>>,
}

pub async fn part_fanin(opts: &Opts, report: &Report) -> Result<()> {
    let plan = Plan {
        messages: opts.fanin_messages,
        slot: Duration::from_secs_f64(1.0 / opts.fanin_rate as f64),
        rate: opts.fanin_rate,
    };
    let dv = Dovecot::ensure();
    let gw = spawn_gateway(dv, None, &[]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;

    let suffix = support::unique_suffix();
    let accounts: Vec<Account> = (0..opts.fanin_accounts)
        .map(|i| Account {
            id: format!("fanin-{i:03}-{suffix}"),
            user: dv.create_user("bench-fanin"),
        })
        .collect();
    let result = run(report, dv, &base, &hook, &accounts, plan).await;
    // The accounts' sessions end with the gateway, before their mail goes.
    drop(gw);
    for a in &accounts {
        remove_mail(dv, &a.user);
    }
    result
}

async fn run(
    report: &Report,
    dv: &Dovecot,
    base: &str,
    hook: &WebhookReceiver,
    accounts: &[Account],
    plan: Plan,
) -> Result<()> {
    let t = Instant::now();
    connect_all(dv, base, accounts).await?;
    report.info(
        P,
        format!(
            "{} accounts registered and synced (untimed setup)",
            accounts.len()
        ),
        secs(t.elapsed()),
    );
    let mut appenders = Vec::with_capacity(accounts.len());
    for a in accounts {
        appenders.push(ImapTestClient::connect(dv, &a.user).await?);
    }
    let mut bares = start_bares(dv, accounts).await?;

    // One untimed round (one APPEND per account), so first-use costs stay out of the figures.
    let (appenders, warm) = paced(appenders, accounts.len(), accounts.len(), plan.slot).await?;
    collect(hook, accounts, &warm, Instant::now() + TAIL).await?;
    hook.drain().await;
    for b in &mut bares {
        while b.exists.try_recv().is_ok() {}
    }

    let (appenders, sent) = paced(appenders, accounts.len(), plan.messages, plan.slot).await?;
    let last_sent = sent.iter().map(|s| s.at).max().unwrap_or_else(Instant::now);
    let hooks = collect(hook, accounts, &sent, last_sent + TAIL).await?;
    for c in appenders {
        let _ = c.logout().await;
    }
    let bare = bare_delays(&mut bares, &sent);
    for b in bares {
        let _ = b.stop.send(());
        let _ = timeout(Duration::from_secs(30), b.task).await;
    }
    report_pacing(report, &sent, plan.rate);
    report_latency(report, &sent, &hooks, &bare);
    Ok(())
}

/// Register every account and wait until each has finished its first sync.
async fn connect_all(dv: &Dovecot, base: &str, accounts: &[Account]) -> Result<()> {
    let bodies: Vec<(String, Value)> = accounts
        .iter()
        .map(|a| {
            let mut body = account_body(dv, &a.id, &a.user);
            // No periodic resync within the run: only NOTIFY/IDLE can explain a webhook.
            body["imap"]["resyncDelay"] = serde_json::json!(600);
            (a.id.clone(), body)
        })
        .collect();
    register_all_synced(base, bodies, Duration::from_secs(120)).await
}

/// A bare IDLE client on every [`BARE_EVERY`]th account, each idling when this returns.
async fn start_bares(dv: &Dovecot, accounts: &[Account]) -> Result<Vec<Bare>> {
    let mut bares = Vec::new();
    for (i, a) in accounts.iter().enumerate().step_by(BARE_EVERY) {
        let (tx, exists) = mpsc::unbounded_channel();
        let (stop, stop_rx) = oneshot::channel();
        let (ready_tx, ready) = oneshot::channel();
        let session = bare_session(dv, &a.user, true).await?;
        let task = tokio::spawn(idle_watch(session, true, tx, stop_rx, ready_tx));
        timeout(IMAP_TIMEOUT, ready)
            .await
            .context("bare IDLE did not start")??;
        bares.push(Bare {
            account: i,
            exists,
            stop,
            task,
        });
    }
    Ok(bares)
}

/// `n` APPENDs, message `k` at `start + k × slot` to account `k mod accounts`: each
/// account's client sends its own messages, one every `accounts × slot`, so the rate is
/// the clock's, not the round trip's. Gives the clients back with what was sent.
async fn paced(
    clients: Vec<ImapTestClient>,
    accounts: usize,
    n: usize,
    slot: Duration,
) -> Result<(Vec<ImapTestClient>, Vec<Sent>)> {
    // Far enough ahead that every task is waiting for its first slot.
    let start = Instant::now() + Duration::from_millis(500);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(account, mut client)| {
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for k in (account..n).step_by(accounts) {
                    let due = start + slot.mul_f64(k as f64);
                    tokio::time::sleep_until(due.into()).await;
                    let at = Instant::now();
                    let msg = mail(&format!("fanin {k}"), "paced");
                    // Bounded by the client's own IMAP timeout.
                    let uid = client.append("INBOX", &msg).await?;
                    sent.push(Sent {
                        account,
                        uid,
                        at,
                        round_trip: at.elapsed(),
                        late: at.saturating_duration_since(due),
                    });
                }
                Ok::<_, anyhow::Error>((client, sent))
            })
        })
        .collect();
    let mut clients = Vec::new();
    let mut all = Vec::new();
    for t in tasks {
        let (client, sent) = t.await??;
        clients.push(client);
        all.extend(sent);
    }
    Ok((clients, all))
}

/// The arrival of each sent message's `messageNew` webhook, by (account, uid), until all
/// are in or `deadline`.
async fn collect(
    hook: &WebhookReceiver,
    accounts: &[Account],
    sent: &[Sent],
    deadline: Instant,
) -> Result<HashMap<(usize, u32), Instant>> {
    let index: HashMap<&str, usize> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let want: std::collections::HashSet<(usize, u32)> =
        sent.iter().map(|s| (s.account, s.uid)).collect();
    let mut got = HashMap::new();
    while got.len() < want.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Some(r) = hook.next_within(left.min(Duration::from_secs(1))).await else {
            continue;
        };
        if r.event() != Some("messageNew") {
            continue;
        }
        let account = r.body["account"].as_str().and_then(|a| index.get(a));
        let uid = r.body["data"]["uid"]
            .as_u64()
            .and_then(|u| u32::try_from(u).ok());
        if let (Some(&account), Some(uid)) = (account, uid)
            && want.contains(&(account, uid))
        {
            got.entry((account, uid)).or_insert(r.at);
        }
    }
    if got.is_empty() && !want.is_empty() {
        bail!("no messageNew webhook at all for {} APPENDs", want.len());
    }
    Ok(got)
}

/// For each message sent to an account with a bare client: when that client first saw an
/// EXISTS that counts it. Only APPENDs reach these fresh INBOXes, so the message of uid `u`
/// is the `u`th, counted by the first EXISTS of `u` or more. Keyed like [`collect`].
fn bare_delays(bares: &mut [Bare], sent: &[Sent]) -> HashMap<(usize, u32), Instant> {
    let mut out = HashMap::new();
    for b in bares {
        let mut exists = Vec::new();
        while let Ok(e) = b.exists.try_recv() {
            exists.push(e);
        }
        for s in sent.iter().filter(|s| s.account == b.account) {
            let heard = exists.iter().find(|(n, at)| *n >= s.uid && *at >= s.at);
            if let Some(&(_, at)) = heard {
                out.insert((s.account, s.uid), at);
            }
        }
    }
    out
}

fn ms_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn line(v: &[f64]) -> String {
    match v.last() {
        Some(max) => format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {max:.1} ms",
            pct(v, 50.0),
            pct(v, 99.0)
        ),
        None => "no samples".into(),
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn report_pacing(report: &Report, sent: &[Sent], rate: usize) {
    let first = sent.iter().map(|s| s.at).min();
    let last = sent.iter().map(|s| s.at).max();
    let span = match (first, last) {
        (Some(f), Some(l)) => l - f,
        _ => Duration::ZERO,
    };
    let achieved = (sent.len().saturating_sub(1)) as f64 / span.as_secs_f64().max(1e-9);
    let late = sorted(sent.iter().map(|s| ms_of(s.late)).collect());
    report.info(
        P,
        format!("{} APPENDs sent, paced at {rate}/s", sent.len()),
        format!("over {} = {achieved:.1}/s", secs(span)),
    );
    report.info(P, "  APPEND start behind its slot", line(&late));
    let rtt = sorted(sent.iter().map(|s| ms_of(s.round_trip)).collect());
    report.info(P, "  APPEND command round trip", line(&rtt));
}

fn report_latency(
    report: &Report,
    sent: &[Sent],
    hooks: &HashMap<(usize, u32), Instant>,
    bare: &HashMap<(usize, u32), Instant>,
) {
    let key = |s: &Sent| (s.account, s.uid);
    let hook_ms = |s: &Sent| {
        hooks
            .get(&key(s))
            .map(|at| ms_of(at.saturating_duration_since(s.at)))
    };
    let a = sorted(sent.iter().filter_map(hook_ms).collect());
    report.check(
        P,
        "messageNew webhooks received",
        format!("{} of {}", a.len(), sent.len()),
        format!("{}", sent.len()),
        a.len() == sent.len(),
    );
    report.info(P, "(a) APPEND → webhook", line(&a));
    let (mut b, mut c) = (Vec::new(), Vec::new());
    for s in sent {
        if let (Some(h), Some(at)) = (hook_ms(s), bare.get(&key(s))) {
            let bare_ms = ms_of(at.saturating_duration_since(s.at));
            b.push(bare_ms);
            c.push(h - bare_ms);
        }
    }
    let (b, c) = (sorted(b), sorted(c));
    report.info(
        P,
        format!("(b) APPEND → bare IDLE EXISTS ({} msgs)", b.len()),
        line(&b),
    );
    report.info(P, "(c) webhook − bare, same msgs (ours)", line(&c));
    if let Some(p99) = (!c.is_empty()).then(|| pct(&c, 99.0)) {
        report.check(
            P,
            "(c) ours p99",
            format!("{p99:.1} ms"),
            "< 100 ms",
            p99 < 100.0,
        );
    }
    report.note(format!(
        "fanin: APPENDs round robin over the accounts at fixed slots on the clock; every \
         {BARE_EVERY}th account also has a bare IDLE client on INBOX (EXAMINE with CONDSTORE, \
         as ingest), heard under the same load: (b) is Dovecot's own delay, to compare with \
         the one-account figures of part latency (b'); resyncDelay 600 s, so every webhook \
         came from NOTIFY/IDLE"
    ));
}
