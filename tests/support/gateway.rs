//! The real `imapapi` binary as a child process of the test.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::free_port;
use super::http::request;

/// How long a gateway may take to answer `GET /v1/settings` after start.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop (SIGTERM) may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `imapapi` process with its own temp data dir (`--dbs.path`) and API port
/// (`--api.port`). Killed on drop; if the test is panicking, the tail of its log is
/// printed and the temp dir (with `gateway.log`) is kept for inspection.
pub struct Gateway {
    child: Option<Child>,
    role: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dir: TempDir,
    port: u16,
    /// Set when a start-up failure already printed the log, so drop does not repeat it.
    log_shown: bool,
}

impl Gateway {
    /// `imapapi <args>`: all roles in one process. Waits until the API answers.
    pub async fn spawn(args: &[&str], env: &[(&str, &str)]) -> Gateway {
        Self::spawn_inner(None, args, env).await
    }

    /// `imapapi <role> <args>` for `api`, `ingest`, `dispatch`, `submit`. For `api`, waits
    /// until the API answers; other roles serve no API, so it only checks that the
    /// process is still alive after a moment.
    pub async fn spawn_role(role: &str, args: &[&str], env: &[(&str, &str)]) -> Gateway {
        Self::spawn_inner(Some(role), args, env).await
    }

    async fn spawn_inner(role: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let dir = tempfile::Builder::new()
            .prefix("imapapi-gw-")
            .tempdir()
            .expect("temp data dir");
        std::fs::create_dir(dir.path().join("data")).expect("mkdir data");
        let mut gw = Gateway {
            child: None,
            role: role.map(str::to_string),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            dir,
            port: free_port(),
            log_shown: false,
        };
        gw.start().await;
        gw
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url()` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory passed as `--dbs.path`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// stdout and stderr of every run of this gateway (restarts append).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }

    /// Starts the process again after `stop`/`kill` (same args, env, data dir and port).
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "gateway already running");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open gateway log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapapi"));
        if let Some(role) = &self.role {
            cmd.arg(role);
        }
        // The caller's own --dbs.path/--api.port win; passing one twice would be a CLI error.
        let has = |key: &str| {
            self.args
                .iter()
                .any(|a| a == key || a.starts_with(&format!("{key}=")))
        };
        if !has("--dbs.path") {
            cmd.arg(format!("--dbs.path={}", self.data_dir().display()));
        }
        if !has("--api.port") {
            cmd.arg(format!("--api.port={}", self.port));
        }
        cmd.args(&self.args);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        writeln!(log, "=== rig: starting {cmd:?}").expect("write gateway log");
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", env!("CARGO_BIN_EXE_imapapi")));
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let serves_api = matches!(self.role.as_deref(), None | Some("api"));
        let deadline = tokio::time::Instant::now()
            + if serves_api {
                READY_TIMEOUT
            } else {
                Duration::from_millis(500)
            };
        let url = self.url("/v1/settings");
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                self.log_shown = true;
                panic!(
                    "gateway exited during start-up ({status}); log {}:\n{}",
                    self.log_path().display(),
                    self.log_tail(80)
                );
            }
            if serves_api {
                // Any HTTP answer (even 401 with api.auth set) means it is serving.
                let probe = tokio::time::timeout(
                    Duration::from_secs(2),
                    request("GET", &url, &[], Vec::new(), None),
                );
                if let Ok(Ok(_)) = probe.await {
                    return;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                if !serves_api {
                    return;
                }
                self.kill();
                self.log_shown = true;
                panic!(
                    "gateway did not answer GET {url} within {READY_TIMEOUT:?}; log {}:\n{}",
                    self.log_path().display(),
                    self.log_tail(80)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Graceful stop: SIGTERM, then SIGKILL if it has not exited within 10 s.
    pub async fn stop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid; the child is not reaped yet, so the
        // pid cannot have been reused.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("rig: gateway ignored SIGTERM for {STOP_TIMEOUT:?}; killing it");
        self.kill();
    }

    /// Hard kill (SIGKILL), e.g. to simulate a crash. Returns once the process is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Graceful stop then start with the same data dir and port; waits until ready.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // Keep the data dir and log around for a post-mortem.
            self.dir.disable_cleanup(true);
            if self.log_shown {
                return;
            }
            eprintln!(
                "---- rig: gateway log {} (last 60 lines) ----\n{}\n---- end of gateway log ----",
                self.log_path().display(),
                self.log_tail(60)
            );
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    // Only the end of a possibly huge trace log is of interest.
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(256 * 1024);
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
