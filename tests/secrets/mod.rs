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

/// Every kind of secret the gateway holds, set to known values, then everything a user or
/// operator can see (every answer, the trace-level log, `/metrics`, the webhooks and the
/// events in them) searched for them. Only the token creation answer carries its token.
pub async fn no_secret_in_any_output() {
    use serde_json::json;

    use crate::access::call;
    use crate::support::{WebhookReceiver, request};

    let dv = Dovecot::ensure();
    let user = dv.create_user("known");
    let (api_pass, service_secret, signing_key) =
        ("api-pass-K2x9", "service-secret-K1x9", "signing-key-K3x9");
    let (gmail_secret, hook_pass) = ("gmail-secret-K4x9", "hook-pass-K5x9");
    let ca = dv.ca_cert.display().to_string();
    let gw = Gateway::spawn(
        &[
            "--log.level=trace",
            &format!("--api.auth=admin:{api_pass}"),
            &format!("--webhooks.signingKey={signing_key}"),
        ],
        &[
            ("IMAPAPI_EXTRA_CA", &ca),
            ("IMAPAPI_SECRET", service_secret),
        ],
    )
    .await;
    let basic = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("admin:{api_pass}"));
        format!("Basic {b64}")
    };
    let url = |p: &str| gw.url(p);
    let mut seen: Vec<String> = Vec::new();
    let mut ask = async |method: &str, path: &str, body: Option<serde_json::Value>| {
        let (status, answer) = call(method, &url(path), Some(&basic), body).await;
        assert!(status < 500, "{method} {path}: {answer}");
        seen.push(answer.to_string());
        answer
    };

    let hook = WebhookReceiver::start().await;
    let hook_url = hook
        .url()
        .replace("http://", &format!("http://hook:{hook_pass}@"));
    ask(
        "POST",
        "/v1/settings",
        Some(
            json!({"webhooks": hook_url, "gmailClientSecret": gmail_secret,
                    "gmailClientId": "id", "gmailRedirectUrl": "http://127.0.0.1:1/oauth"}),
        ),
    )
    .await;
    let mut body = account_body(dv, "known", &user);
    body["webhooks"] = json!(hook_url);
    ask("POST", "/v1/account", Some(body)).await;
    // Created tokens are shown once, by design: that answer is not searched.
    let (_, created) = call(
        "POST",
        &url("/v1/tokens"),
        Some(&basic),
        Some(json!({"description": "t", "scopes": ["read"]})),
    )
    .await;
    let token = created["token"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ask("GET", "/v1/account/known", None).await["state"] != "connected" {
        assert!(tokio::time::Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let bearer = format!("Bearer {token}");
    let (status, _) = call("GET", &url("/v1/accounts"), Some(&bearer), None).await;
    assert_eq!(status, 200);
    for path in [
        "/v1/accounts",
        "/v1/settings",
        "/v1/account/known/mailboxes",
        "/v1/account/known/messages?path=INBOX",
        "/v1/stats",
        "/v1/tokens",
        "/v1/outbox",
        "/v1/deadletters",
    ] {
        ask("GET", path, None).await;
    }
    let metrics = request(
        "GET",
        &url("/metrics"),
        &[("authorization", &basic)],
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    seen.push(metrics.text());
    hook.wait_for_event("mailboxNew", Duration::from_secs(20))
        .await
        .expect("webhooks flow");
    for received in hook.drain().await {
        seen.push(String::from_utf8_lossy(&received.raw).into_owned());
        seen.push(format!("{:?}", received.headers));
    }
    let log: String = std::fs::read_to_string(gw.log_path())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("=== rig:"))
        .collect();
    assert!(log.len() > 1000, "trace logging produced output");
    seen.push(log);
    let known = [
        api_pass,
        service_secret,
        signing_key,
        gmail_secret,
        hook_pass,
        &user.pass,
        &token,
    ];
    for text in &seen {
        for secret in known {
            assert!(
                !text.contains(secret),
                "{secret} in an output: {}",
                &text[..text.len().min(300)]
            );
        }
    }
}
