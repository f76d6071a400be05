//! The test Postfix: started once per test process through `infra/postfix/start.sh`, which
//! also starts the test Dovecot that checks its logins and receives its mail.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::TestUser;

/// The running test Postfix: submission with STARTTLS on `smtp_port`, implicit TLS on
/// `smtps_port`; the SMTP users are the Dovecot test users, and mail to `user@<any domain>`
/// lands in Dovecot user `user`'s INBOX.
#[derive(Debug)]
pub struct Postfix {
    pub host: String,
    pub smtp_port: u16,
    pub smtps_port: u16,
    /// PEM file of the CA that signed the server certificate.
    pub ca_cert: PathBuf,
    pub log_file: PathBuf,
}

impl Postfix {
    /// Starts Postfix (idempotent script) the first time any test asks, then returns the
    /// same handle.
    pub fn ensure() -> &'static Postfix {
        static POSTFIX: OnceLock<Postfix> = OnceLock::new();
        POSTFIX.get_or_init(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/postfix/start.sh");
            let out = Command::new("bash")
                .arg(&script)
                .output()
                .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
            assert!(
                out.status.success(),
                "{} failed ({}):\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let run_dir = std::env::var("IMAPAPI_POSTFIX_DIR")
                .unwrap_or_else(|_| "/tmp/imapapi-postfix".to_string());
            Self::from_env_file(&Path::new(&run_dir).join("env"))
        })
    }

    fn from_env_file(path: &Path) -> Postfix {
        let text =
            fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let vars: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
        let get = |k: &str| -> &str {
            vars.get(k)
                .copied()
                .unwrap_or_else(|| panic!("{k} missing in {}", path.display()))
        };
        let port = |k: &str| -> u16 {
            get(k)
                .parse()
                .unwrap_or_else(|_| panic!("{k} in {} is not a port", path.display()))
        };
        Postfix {
            host: get("SMTP_HOST").to_string(),
            smtp_port: port("SMTP_PORT"),
            smtps_port: port("SMTPS_PORT"),
            ca_cert: PathBuf::from(get("CA_CERT")),
            log_file: PathBuf::from(get("POSTFIX_LOG")),
        }
    }

    /// The `smtp` settings of an account sending as `user`, in the contract's shape:
    /// implicit TLS when `secure`, else the plain port (upgraded with STARTTLS).
    pub fn smtp_account_json(&self, user: &TestUser, secure: bool) -> Value {
        json!({
            "host": self.host,
            "port": if secure { self.smtps_port } else { self.smtp_port },
            "secure": secure,
            "auth": {"user": user.user, "pass": user.pass},
        })
    }
}
