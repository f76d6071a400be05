//! A scripted SMTP server (`infra/scripted-smtp/server.py`, aiosmtpd) for the failures a
//! real Postfix does not produce on demand: temporary refusals for a while, or a permanent
//! one. It keeps what it accepted, so a test can count deliveries.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How the server answers DATA.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// `451` for the first N messages, then `250`.
    TemporaryFirst(u32),
    /// The connection dropped without an answer to the first N messages, then `250`.
    DropFirst(u32),
    /// `554` for every message.
    Permanent,
}

/// A running scripted server; killed when dropped.
pub struct ScriptedSmtp {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl ScriptedSmtp {
    /// Start one on a free port; waits (at most 20 s) until it listens.
    pub fn start(script: Script) -> ScriptedSmtp {
        let installer =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/scripted-smtp/install.sh");
        let ok = Command::new("bash")
            .arg(&installer)
            .status()
            .expect("run install.sh");
        assert!(ok.success(), "{} failed", installer.display());
        let dir = tempfile::tempdir().expect("tempdir");
        let port = super::free_port();
        let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/scripted-smtp/server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&server)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        match script {
            Script::TemporaryFirst(n) => cmd.arg("--temporary").arg(n.to_string()),
            Script::DropFirst(n) => cmd.arg("--drop").arg(n.to_string()),
            Script::Permanent => cmd.arg("--permanent"),
        };
        let mut child = cmd.spawn().expect("start the scripted SMTP server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the scripted SMTP server did not start within 20 s");
        assert_eq!(line.trim(), "ready", "scripted SMTP server: {line}");
        ScriptedSmtp { port, dir, child }
    }

    /// The `smtp` settings of an account sending through it.
    pub fn account_json(&self) -> Value {
        json!({"host": "127.0.0.1", "port": self.port, "secure": false,
               "auth": {"user": "scripted", "pass": "anything"}})
    }

    /// The messages it accepted, oldest first.
    pub fn accepted(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for n in 1.. {
            match std::fs::read(self.dir.path().join(format!("{n}.eml"))) {
                Ok(m) => out.push(m),
                Err(_) => break,
            }
        }
        out
    }

    /// Every answer it gave to DATA, in order.
    pub fn answers(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("answers.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Wait until it gave `n` answers (at most `within`).
    pub fn wait_answers(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let answers = self.answers();
            if answers.len() >= n || Instant::now() > deadline {
                return answers;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for ScriptedSmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
