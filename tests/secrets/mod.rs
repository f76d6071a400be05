//! Secrets at rest, end to end: `imapapi encrypt` seals cleartext secrets, rotates them
//! to a new `service.secret`, is safe to run twice, names what it cannot open; a tampered
//! ciphertext fails that one account with a clear error while the others keep working.
//! Nothing secret reaches an output.

use std::path::Path;
use std::time::Duration;

use imapapi_common::store::AccountStore;
use imapapi_common::store::embedded::EmbeddedStore;

use crate::pipeline::{account_body, wait_state};
use crate::support::{Dovecot, Gateway, http};

const SECRET_A: &str = "first-secret-A-0123456789";
const SECRET_B: &str = "second-secret-B-0123456789";

/// `imapapi encrypt` on the store in `dir`; (success, stdout + stderr).
async fn encrypt(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_imapapi"))
        .arg("encrypt")
        .arg(format!("--dbs.path={}", dir.display()))
        .args(args)
        .env_remove("IMAPAPI_SECRET")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("imapapi encrypt timed out")
        .expect("imapapi encrypt ran");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The stored IMAP password of `account`, as stored (sealed or not).
async fn stored_pass(dir: &Path, account: &str) -> String {
    let store = EmbeddedStore::open(dir).await.unwrap();
    let a = store.get_account(account).await.unwrap().unwrap();
    a.imap
        .unwrap()
        .auth
        .unwrap()
        .pass
        .unwrap()
        .expose()
        .to_string()
}

/// Replace the stored IMAP password of `account` by a tampered ciphertext.
async fn tamper(dir: &Path, account: &str) {
    let store = EmbeddedStore::open(dir).await.unwrap();
    let mut a = store.get_account(account).await.unwrap().unwrap();
    let auth = a.imap.as_mut().unwrap().auth.as_mut().unwrap();
    // One character inside the ciphertext (the last one also carries padding bits, and
    // changing it may make the base64 invalid rather than the ciphertext wrong).
    let mut sealed: Vec<char> = auth.pass.as_ref().unwrap().expose().chars().collect();
    let i = sealed.len() - 10;
    sealed[i] = if sealed[i] == 'A' { 'B' } else { 'A' };
    let sealed: String = sealed.into_iter().collect();
    auth.pass = Some(imapapi_common::model::Secret::new(sealed));
    store.put_account(&a).await.unwrap();
}

async fn gateway(dir: &Path, secret: Option<&str>) -> Gateway {
    let ca = Dovecot::ensure().ca_cert.display().to_string();
    let mut env = vec![("IMAPAPI_EXTRA_CA", ca.as_str())];
    if let Some(s) = secret {
        env.push(("IMAPAPI_SECRET", s));
    }
    Gateway::spawn(&[&format!("--dbs.path={}", dir.display())], &env).await
}

pub async fn encrypt_rotate_and_tamper() {
    let dv = Dovecot::ensure();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (ua, ub) = (dv.create_user("seal-a"), dv.create_user("seal-b"));

    // Registered without a secret: stored in clear.
    let mut gw = gateway(dir, None).await;
    for (id, user) in [("seal-a", &ua), ("seal-b", &ub)] {
        let (status, body) = http(
            "POST",
            &gw.url("/v1/account"),
            Some(account_body(dv, id, user)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    gw.stop().await;
    drop(gw);
    assert_eq!(stored_pass(dir, "seal-a").await, ua.pass);

    // Sealed, and a second run changes nothing.
    let secret_a = format!("--service.secret={SECRET_A}");
    let (ok, out) = encrypt(dir, &[&secret_a]).await;
    assert!(ok && out.contains("of 2 account(s); 0 already"), "{out}");
    let (ok, out) = encrypt(dir, &[&secret_a]).await;
    assert!(ok && out.contains("of 0 account(s); 2 already"), "{out}");
    assert!(stored_pass(dir, "seal-a").await.starts_with("$imapapi$1$"));

    // Rotated to B; without --decrypt the old values are named, not guessed.
    let secret_b = format!("--service.secret={SECRET_B}");
    let (ok, out) = encrypt(dir, &[&secret_b]).await;
    assert!(
        !ok && out.contains("seal-a") && out.contains("--decrypt"),
        "{out}"
    );
    let decrypt_a = format!("--decrypt={SECRET_A}");
    let (ok, out) = encrypt(dir, &[&secret_b, &decrypt_a]).await;
    assert!(ok && out.contains("of 2 account(s)"), "{out}");
    let (ok, out) = encrypt(dir, &[&secret_b, &decrypt_a]).await;
    assert!(ok && out.contains("2 already"), "{out}");
    for text in [&out] {
        for s in [SECRET_A, SECRET_B, &ua.pass, &ub.pass] {
            assert!(!text.contains(s), "a secret in the output: {text}");
        }
    }

    // One tampered value: that account fails with a clear error, the other connects.
    tamper(dir, "seal-b").await;
    let gw = gateway(dir, Some(SECRET_B)).await;
    let base = gw.base_url();
    wait_state(&base, "seal-a", "connected", Duration::from_secs(30)).await;
    let failed = wait_state(&base, "seal-b", "connectError", Duration::from_secs(30)).await;
    let why = failed["lastError"]["response"].as_str().unwrap_or_default();
    assert!(
        why.contains("wrong service.secret or tampered data"),
        "{failed}"
    );
    // Only the gateway's own lines: the rig writes the command it started at the top.
    let log: String = std::fs::read_to_string(gw.log_path())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("=== rig:"))
        .collect();
    for s in [SECRET_A, SECRET_B, &ua.pass, &ub.pass] {
        assert!(!log.contains(s), "a secret in the log");
        assert!(!failed.to_string().contains(s), "a secret in a response");
    }
}
