//! The test Postfix: started once per test process through `infra/postfix/start.sh`, which
//! also starts the test Dovecot that checks its logins and receives its mail.

use std::path::PathBuf;
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
            let env = super::rig_env::start(
                "postfix/start.sh",
                "IMAPAPI_POSTFIX_DIR",
                "/tmp/imapapi-postfix",
            );
            Postfix {
                host: env.get("SMTP_HOST").to_string(),
                smtp_port: env.number("SMTP_PORT"),
                smtps_port: env.number("SMTPS_PORT"),
                ca_cert: PathBuf::from(env.get("CA_CERT")),
                log_file: PathBuf::from(env.get("POSTFIX_LOG")),
            }
        })
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
