//! The test Dovecot: started once per test process through `infra/dovecot/start.sh`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// The running test Dovecot (see `infra/dovecot/start.sh` for its configuration):
/// IMAP with STARTTLS on `imap_port`, implicit TLS on `imaps_port`, hierarchy separator
/// `/`, special-use folders Drafts, Sent, Trash, Junk auto-created for every user.
#[derive(Debug)]
pub struct Dovecot {
    pub host: String,
    pub imap_port: u16,
    pub imaps_port: u16,
    /// PEM file of the CA that signed the server certificate (for 127.0.0.1 and localhost).
    pub ca_cert: PathBuf,
    /// Users' mail lives at `<mail_root>/<user>/Maildir` (Maildir++ layout).
    pub mail_root: PathBuf,
    /// The shared passwd file (for manual use; see `create_user` for why tests do not).
    pub users_file: PathBuf,
    /// One passwd file per user, named after the user; `None` when the running Dovecot
    /// was configured by an older rig script without them.
    pub users_dir: Option<PathBuf>,
    pub log_file: PathBuf,
    mail_uid: u32,
    mail_gid: u32,
}

/// A Dovecot account created for one test.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub user: String,
    pub pass: String,
}

impl Dovecot {
    /// Starts Dovecot (idempotent script) the first time any test asks, then returns the
    /// same handle. Safe to call from many tests at once: `OnceLock` blocks the others
    /// until the first call has finished.
    pub fn ensure() -> &'static Dovecot {
        static DOVECOT: OnceLock<Dovecot> = OnceLock::new();
        DOVECOT.get_or_init(|| {
            let env = super::rig_env::start(
                "dovecot/start.sh",
                "IMAPAPI_DOVECOT_DIR",
                "/tmp/imapapi-dovecot",
            );
            Self::from_env(&env)
        })
    }

    fn from_env(env: &super::rig_env::RigEnv) -> Dovecot {
        Dovecot {
            host: env.get("IMAP_HOST").to_string(),
            imap_port: env.number("IMAP_PORT"),
            imaps_port: env.number("IMAPS_PORT"),
            ca_cert: env.get("CA_CERT").into(),
            mail_root: env.get("MAIL_ROOT").into(),
            users_file: env.get("USERS_FILE").into(),
            users_dir: Self::per_user_passwd_files(env),
            log_file: env.get("DOVECOT_LOG").into(),
            mail_uid: env.number("MAIL_UID"),
            mail_gid: env.number("MAIL_GID"),
        }
    }

    /// The per-user passwd dir, if the running config reads it.
    fn per_user_passwd_files(env: &super::rig_env::RigEnv) -> Option<PathBuf> {
        let dir = PathBuf::from(env.optional("USERS_DIR")?);
        let conf = fs::read_to_string(env.optional("DOVECOT_CONF")?).ok()?;
        conf.contains(&format!("{}/%u", dir.display()))
            .then_some(dir)
    }

    /// A fresh user named `<prefix>-<random>` with a random password, usable at once.
    pub fn create_user(&self, prefix: &str) -> TestUser {
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let user = format!("{prefix}-{}", super::unique_suffix());
        let pass = format!("pw-{}", super::unique_suffix());
        // One passwd file per user (see dovecot.conf.in): Dovecot re-reads a changed
        // passwd file at most once a second, but reads a never-seen path at once.
        // Written under a temp name and renamed so Dovecot never sees a partial line.
        let line = format!("{user}:{{PLAIN}}{pass}::::::\n");
        let Some(users_dir) = &self.users_dir else {
            self.append_shared_user(&line);
            return TestUser { user, pass };
        };
        let tmp = users_dir.join(format!(".{user}.tmp"));
        fs::write(&tmp, line).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", tmp.display()));
        fs::rename(&tmp, users_dir.join(&user))
            .unwrap_or_else(|e| panic!("rename into {}: {e}", users_dir.display()));
        TestUser { user, pass }
    }

    /// For a Dovecot running an older rig config without per-user files: append to the
    /// shared passwd file, then wait for the next wall-clock second, the earliest moment
    /// Dovecot re-checks the file.
    fn append_shared_user(&self, line: &str) {
        // One write() on an O_APPEND file: concurrent tests never interleave lines.
        let mut f = OpenOptions::new()
            .append(true)
            .open(&self.users_file)
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.users_file.display()));
        f.write_all(line.as_bytes())
            .unwrap_or_else(|e| panic!("appending to {}: {e}", self.users_file.display()));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        std::thread::sleep(
            std::time::Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos()))
                + std::time::Duration::from_millis(20),
        );
    }

    /// The Maildir directory of `folder` (`"INBOX"`, `"Sent"`, `"Parent/Child"`).
    pub fn maildir_path(&self, user: &str, folder: &str) -> PathBuf {
        let root = self.mail_root.join(user).join("Maildir");
        if folder.eq_ignore_ascii_case("INBOX") {
            root
        } else {
            // Maildir++: subfolders are dot-prefixed directories with `.` as the on-disk
            // separator; clients see `/`.
            root.join(format!(".{}", folder.replace('/', ".")))
        }
    }

    /// Writes `n` messages straight into the user's Maildir (no IMAP round trips: fast
    /// enough for 100,000 messages). `make(i)` returns the raw RFC 822 bytes of message `i`.
    /// Dovecot assigns UIDs in order of `i` on the next SELECT/STATUS of the folder. The
    /// folder is created on disk if missing. Messages are stored without flags.
    /// Blocking: call it from `spawn_blocking` or before starting async work if it matters.
    pub fn fill_maildir(
        &self,
        user: &str,
        folder: &str,
        n: usize,
        make: impl Fn(usize) -> Vec<u8>,
    ) {
        let user_dir = self.mail_root.join(user);
        let root = user_dir.join("Maildir");
        let dir = self.maildir_path(user, folder);
        for d in [&user_dir, &root] {
            self.mkdir_owned(d);
        }
        if dir != root {
            self.mkdir_owned(&dir);
            // Dovecot marks every Maildir++ subfolder with this file.
            let marker = dir.join("maildirfolder");
            if !marker.exists() {
                self.write_owned(&marker, b"");
            }
        }
        for sub in ["cur", "new", "tmp"] {
            self.mkdir_owned(&dir.join(sub));
        }
        let (tmp, cur) = (dir.join("tmp"), dir.join("cur"));
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let pid = std::process::id();
        let tag = super::unique_suffix();
        for i in 0..n {
            let raw = make(i);
            // Dovecot orders newly found files by the seconds and `M` microseconds in
            // the name, so encode `i` there to get UIDs in order of `i`. `S=` spares
            // Dovecot a stat per file; `:2,` puts the file in `cur/` with no flags.
            // `i` is repeated at the end of the host part on purpose: Dovecot's filename
            // hash weighs the last characters most, and with a constant tail 100,000 names
            // collide so much that the first SELECT took minutes instead of about a second.
            let secs = base + (i / 1_000_000) as u64;
            let micros = i % 1_000_000;
            let name = format!("{secs}.M{micros}P{pid}Q{i}R{tag}.rig{i},S={}:2,", raw.len());
            // Written in tmp/ then renamed: Dovecot never sees a half-written message.
            let tmp_path = tmp.join(&name);
            self.write_owned(&tmp_path, &raw);
            fs::rename(&tmp_path, cur.join(&name))
                .unwrap_or_else(|e| panic!("rename into {}: {e}", cur.display()));
        }
    }

    /// The `imap` object of an account registration (`POST /v1/account`) for this user.
    /// `secure: true` uses implicit TLS on `imaps_port` (the gateway must trust `ca_cert`).
    pub fn imap_account_json(&self, user: &TestUser, secure: bool) -> Value {
        json!({
            "host": self.host,
            "port": if secure { self.imaps_port } else { self.imap_port },
            "secure": secure,
            "auth": { "user": user.user, "pass": user.pass },
        })
    }

    fn mkdir_owned(&self, dir: &Path) {
        if dir.is_dir() {
            return;
        }
        match fs::create_dir(dir) {
            Ok(()) => {}
            // Another test (or Dovecot) created it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return,
            Err(e) => panic!("mkdir {}: {e}", dir.display()),
        }
        // Dovecot runs as the mail user and must write indexes and rename files here.
        chown(dir, Some(self.mail_uid), Some(self.mail_gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", dir.display()));
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
    }

    fn write_owned(&self, path: &Path, data: &[u8]) {
        // Mode set at creation: one syscall fewer per message for the big fills.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        f.write_all(data)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        chown(path, Some(self.mail_uid), Some(self.mail_gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    }
}
