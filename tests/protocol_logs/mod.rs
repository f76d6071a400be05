//! End to end for per-account protocol logs (`logs` settings, `GET /v1/logs/:account`): what
//! an operator debugging an account gets, from the real binary against the real Dovecot.
//! Written once against a base URL so that any deployment shape can run it.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::json;

use crate::pipeline::{account_body, mail, wait_state};
use crate::support::{Dovecot, ImapTestClient, RawResponse, http, request, unique_suffix};

/// How long the log writer may take to store what a call caused.
const LOG_WAIT: Duration = Duration::from_secs(15);

async fn get_log(base: &str, account: &str) -> RawResponse {
    request("GET", &format!("{base}/v1/logs/{account}"), &[], "", None)
        .await
        .expect("GET /v1/logs")
}

/// The log once `done` holds for it; panics with the last one.
async fn wait_log(base: &str, account: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + LOG_WAIT;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        let log = get_log(base, account).await;
        assert_eq!(log.status, 200, "{}", log.text());
        last = log.text();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the log of {account} never got there; last:\n{last}");
}

async fn settings(base: &str, logs: serde_json::Value) {
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/settings"),
        Some(json!({ "logs": logs })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn list_inbox(base: &str, account: &str) {
    let url = format!("{base}/v1/account/{account}/messages?path=INBOX");
    let (status, page) = http("GET", &url, None).await;
    assert_eq!(status, 200, "{page}");
}

/// Every line is `<ISO time> <C:|S:> <text>`.
fn assert_format(log: &str) {
    for line in log.lines() {
        let mut parts = line.splitn(3, ' ');
        let at = parts.next().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "time of {line:?}"
        );
        let direction = parts.next().unwrap_or_default();
        assert!(direction == "C:" || direction == "S:", "{line:?}");
    }
}

/// Logs on for one account: its lines in both directions with credentials hidden, none for
/// another account, a reset clears them, `maxLogLines` caps them, deletion drops them.
pub async fn protocol_logs(base: &str) {
    let dv = Dovecot::ensure();
    let logged_user = dv.create_user("logged");
    let quiet_user = dv.create_user("quiet");
    let logged = format!("logged-{}", unique_suffix());
    let quiet = format!("quiet-{}", unique_suffix());
    let mut other = ImapTestClient::connect(dv, &logged_user).await.unwrap();
    other
        .append("INBOX", &mail("Logged", "body"))
        .await
        .unwrap();
    settings(base, json!({ "accounts": [logged] })).await;
    for (id, user) in [(&logged, &logged_user), (&quiet, &quiet_user)] {
        let body = account_body(dv, id, user);
        let (status, body) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
        assert_eq!(status, 200, "{body}");
        wait_state(base, id, "connected", Duration::from_secs(30)).await;
    }
    list_inbox(base, &logged).await;
    list_inbox(base, &quiet).await;

    // Two logins: the watching connection's and the listing's command connection's.
    let log = wait_log(base, &logged, |l| l.matches(" LOGIN ******").count() >= 2).await;
    let response = get_log(base, &logged).await;
    assert!(
        response
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain"),
        "{:?}",
        response.headers
    );
    assert_format(&log);
    assert!(log.contains(" S: * OK"), "the greeting:\n{log}");
    assert!(log.contains(" C: ") && log.contains(" S: "), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains(" C: ") && (l.contains(" SELECT ") || l.contains(" EXAMINE "))),
        "{log}"
    );
    assert!(log.lines().any(|l| l.contains(" S: * 1 FETCH ")), "{log}");
    assert!(
        !log.contains(&logged_user.pass),
        "the password leaked:\n{log}"
    );
    assert!(
        !log.contains(&format!("LOGIN \"{}\"", logged_user.user)),
        "{log}"
    );
    assert!(log.contains(" LOGIN ******"), "{log}");

    let quiet_log = get_log(base, &quiet).await;
    assert_eq!(quiet_log.status, 200);
    assert_eq!(quiet_log.text(), "", "not logged");

    reset_and_cap(base, &logged, &log).await;
    deleted_with_the_account(base, dv, &logged, &logged_user).await;
}

/// `resetLoggedAccounts` clears the log (and reconnects, so that new settings apply);
/// `maxLogLines` caps it.
async fn reset_and_cap(base: &str, account: &str, before: &str) {
    let first = before.lines().next().expect("a line").to_string();
    settings(
        base,
        json!({ "accounts": [account], "maxLogLines": 5, "resetLoggedAccounts": true }),
    )
    .await;
    let (_, stored) = http("GET", &format!("{base}/v1/settings?logs=true"), None).await;
    assert_eq!(
        stored["logs"],
        json!({ "accounts": [account], "maxLogLines": 5 }),
        "the reset is an action, not kept"
    );
    wait_state(base, account, "connected", Duration::from_secs(30)).await;
    list_inbox(base, account).await;
    let log = wait_log(base, account, |l| l.lines().count() == 5).await;
    assert!(!log.contains(&first), "cleared:\n{log}");
    list_inbox(base, account).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = get_log(base, account).await.text();
    assert_eq!(log.lines().count(), 5, "capped:\n{log}");
    assert_format(&log);
}

/// Deleting the account drops its log: 404 while it is gone, and nothing left over when it
/// is registered again.
async fn deleted_with_the_account(
    base: &str,
    dv: &Dovecot,
    account: &str,
    user: &crate::support::TestUser,
) {
    let (status, body) = http("DELETE", &format!("{base}/v1/account/{account}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get_log(base, account).await.status, 404);
    settings(base, json!({ "accounts": [] })).await;
    // Room for the deleted session's logout, whose lines must not bring the log back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let body = account_body(dv, account, user);
    let (status, body) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{body}");
    wait_state(base, account, "connected", Duration::from_secs(30)).await;
    let log = get_log(base, account).await;
    assert_eq!(log.status, 200);
    assert_eq!(log.text(), "", "the old log is gone");
    let _ = http("DELETE", &format!("{base}/v1/account/{account}"), None).await;
}
