//! Part `watchmem` of the pipeline benchmark: what it costs the gateway to watch every
//! folder of an account. `BENCH_WATCH_ACCOUNTS` (50) accounts of five folders each (INBOX,
//! Drafts, Sent, Trash, Junk; two messages in each) on one embedded gateway, twice, each
//! time on a fresh gateway: with NOTIFY (one connection per account hears of every folder)
//! and with NOTIFY off and `imap.idleFolders` naming every folder (INBOX on the watching
//! connection, one IDLE connection of its own for each other folder). Reports the
//! gateway's VmRSS growth per account and the IMAP connections it holds per account,
//! counted from its own established TCP connections to Dovecot's IMAP port.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};

use crate::common::{
    Report, register_all_synced, remove_mail, secs, small_message, spawn_gateway, vm_rss_kib,
};
use crate::pipeline::account_body;
use crate::support::{Dovecot, TestUser};

const P: &str = "watchmem";
/// The folders of every account: the five the rig's Dovecot creates for each user.
const FOLDERS: [&str; 5] = ["INBOX", "Drafts", "Sent", "Trash", "Junk"];
/// Left to the gateway after the last connection is up, so start-up allocations settle.
const SETTLE: Duration = Duration::from_secs(15);

/// How one run watches: its label, the gateway's arguments, the account's
/// `imap.idleFolders` and the IMAP connections expected per account.
struct Mode {
    label: &'static str,
    args: &'static [&'static str],
    idle_folders: Option<&'static [&'static str]>,
    connections: usize,
}

const MODES: [Mode; 2] = [
    Mode {
        label: "NOTIFY",
        args: &[],
        idle_folders: None,
        connections: 1,
    },
    Mode {
        label: "no NOTIFY, idleFolders = every folder",
        args: &["--ingest.notify=false"],
        idle_folders: Some(&FOLDERS),
        connections: FOLDERS.len(),
    },
];

/// What one run measured.
struct Figures {
    accounts: usize,
    /// Gateway VmRSS before any account and with every account watched, in KiB.
    before: u64,
    after: u64,
    connections: usize,
}

impl Figures {
    fn per_account_kib(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / self.accounts.max(1) as f64
    }
}

pub async fn part_watchmem(accounts: usize, report: &Report) -> Result<()> {
    let dv = Dovecot::ensure();
    let t = Instant::now();
    let users: Vec<TestUser> = tokio::task::spawn_blocking(move || {
        (0..accounts)
            .map(|i| {
                let u = dv.create_user("bench-watch");
                for (f, folder) in FOLDERS.iter().enumerate() {
                    dv.fill_maildir(&u.user, folder, 2, |j| small_message(i * 10 + f * 2 + j));
                }
                u
            })
            .collect()
    })
    .await?;
    report.info(
        P,
        "create users + Maildirs (untimed setup)",
        format!(
            "{accounts} users × {} folders, {}",
            FOLDERS.len(),
            secs(t.elapsed())
        ),
    );
    let mut figures = Vec::new();
    let mut outcome = Ok(());
    for mode in &MODES {
        match run_mode(dv, &users, mode).await {
            Ok(f) => {
                report_mode(report, mode, &f);
                figures.push(f);
            }
            Err(e) => {
                outcome = Err(e.context(mode.label));
                break;
            }
        }
    }
    if let [notify, idle] = figures.as_slice() {
        report_extra_connection(report, notify, idle);
    }
    for u in &users {
        remove_mail(dv, u);
    }
    outcome
}

/// One fresh gateway watching every user's account the way `mode` says.
async fn run_mode(dv: &'static Dovecot, users: &[TestUser], mode: &Mode) -> Result<Figures> {
    let gw = spawn_gateway(dv, None, mode.args).await;
    let base = gw.base_url();
    let pid = gw.pid().ok_or_else(|| anyhow!("gateway not running"))?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = vm_rss_kib(pid)?;

    let bodies: Vec<(String, Value)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let id = format!("watch-{i:04}");
            let mut body = account_body(dv, &id, u);
            if let Some(list) = mode.idle_folders {
                body["imap"]["idleFolders"] = json!(list);
            }
            (id, body)
        })
        .collect();
    register_all_synced(&base, bodies, Duration::from_secs(120)).await?;

    let want = users.len() * mode.connections;
    let connections = wait_connections(pid, dv.imap_port, want, Duration::from_secs(120)).await?;
    tokio::time::sleep(SETTLE).await;
    let after = vm_rss_kib(pid)?;
    // Connections again after the settling: a watcher that failed and retries shows here.
    let connections = imap_connections(pid, dv.imap_port).unwrap_or(connections);
    drop(gw);
    Ok(Figures {
        accounts: users.len(),
        before,
        after,
        connections,
    })
}

/// Until the gateway holds `want` IMAP connections (the extra IDLE connections start after
/// each account's first sync), or `within`; the last count.
async fn wait_connections(pid: u32, port: u16, want: usize, within: Duration) -> Result<usize> {
    let deadline = Instant::now() + within;
    loop {
        let n = imap_connections(pid, port)?;
        if n >= want || Instant::now() > deadline {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Established TCP connections of process `pid` to `port` on this machine: its socket
/// inodes matched against /proc/net/tcp and tcp6.
fn imap_connections(pid: u32, port: u16) -> Result<usize> {
    let inodes: HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("reading /proc/{pid}/fd"))?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect();
    let mut n = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        n += text
            .lines()
            .skip(1)
            .filter(|l| established_to(l, port).is_some_and(|inode| inodes.contains(&inode)))
            .count();
    }
    Ok(n)
}

/// The socket inode of a /proc/net/tcp line when it is an established connection to
/// `port` (remote side).
fn established_to(line: &str, port: u16) -> Option<u64> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (_, remote_port) = f.get(2)?.rsplit_once(':')?;
    let established = *f.get(3)? == "01";
    if !established || u16::from_str_radix(remote_port, 16).ok()? != port {
        return None;
    }
    f.get(9)?.parse().ok()
}

fn report_mode(report: &Report, mode: &Mode, f: &Figures) {
    let label = mode.label;
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    report.info(
        P,
        format!("{label}: gateway VmRSS, no accounts"),
        mib(f.before),
    );
    report.info(
        P,
        format!("{label}: gateway VmRSS, {} accounts watched", f.accounts),
        mib(f.after),
    );
    report.info(
        P,
        format!("{label}: RSS growth per account"),
        format!("{:.1} KiB", f.per_account_kib()),
    );
    let per = f.connections as f64 / f.accounts.max(1) as f64;
    report.check(
        P,
        format!("{label}: IMAP connections per account"),
        format!("{per:.2} ({} in all)", f.connections),
        format!("{}", mode.connections),
        f.connections == f.accounts * mode.connections,
    );
}

/// What one more IDLE connection costs the gateway, from the difference of the two runs.
fn report_extra_connection(report: &Report, notify: &Figures, idle: &Figures) {
    let extra = idle.connections as f64 / idle.accounts.max(1) as f64
        - notify.connections as f64 / notify.accounts.max(1) as f64;
    if extra <= 0.0 {
        report.note("watchmem: no extra connections without NOTIFY; nothing to divide by");
        return;
    }
    let per = (idle.per_account_kib() - notify.per_account_kib()) / extra;
    report.info(
        P,
        "gateway RSS per extra IDLE connection",
        format!("{per:.1} KiB"),
    );
    report.note(
        "watchmem: VmRSS of the whole embedded gateway (all roles) before any account and 15 s \
         after the last connection is up, on a fresh gateway per run; connections are its \
         established TCP connections to Dovecot's IMAP port. Each connection also costs \
         Dovecot an imap process, not counted here",
    );
}
