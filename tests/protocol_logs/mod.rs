//! End to end for per-account protocol logs (`logs` settings, `GET /v1/logs/:account`): what
//! an operator debugging an account gets, from the real binary against the real Dovecot.
//! Written once against a base URL so that any deployment shape can run it.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::json;

use crate::pipeline::{account_body, mail, wait_state};
use crate::sending::poll;
use crate::support::{
    Dovecot, ImapTestClient, Postfix, RawResponse, TestUser, http, request, unique_suffix,
};

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

/// List the INBOX, waiting out a reconnect: `resetLoggedAccounts` reconnects the account,
/// and its state may still read `connected` from before while it does (503 meanwhile).
async fn list_inbox(base: &str, account: &str) {
    let url = format!("{base}/v1/account/{account}/messages?path=INBOX");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, page) = http("GET", &url, None).await;
        if status != 503 || tokio::time::Instant::now() > deadline {
            assert_eq!(status, 200, "{page}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

/// Logs on for two accounts sending through the real Postfix, one over implicit TLS (2465)
/// and one upgrading with STARTTLS (2587): the log shows each SMTP conversation in plain
/// text, tagged `[smtp]`, with the AUTH payload as `******`, the message as one
/// `[message: N bytes]` entry and the server's answer to it; neither the password nor its
/// base64 nor the message body appear anywhere.
pub async fn smtp_lines_in_the_log(base: &str) {
    let dv = Dovecot::ensure();
    let implicit_user = dv.create_user("smtps");
    let starttls_user = dv.create_user("starttls");
    let implicit = format!("smtps-{}", unique_suffix());
    let starttls = format!("starttls-{}", unique_suffix());
    settings(base, json!({ "accounts": [implicit, starttls] })).await;
    for (id, user, secure) in [
        (&implicit, &implicit_user, true),
        (&starttls, &starttls_user, false),
    ] {
        let mut body = account_body(dv, id, user);
        body["smtp"] = Postfix::ensure().smtp_account_json(user, secure);
        let (status, body) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
        assert_eq!(status, 200, "{body}");
        wait_state(base, id, "connected", Duration::from_secs(30)).await;
    }
    for (id, user) in [(&implicit, &implicit_user), (&starttls, &starttls_user)] {
        let body_marker = format!("body-{}", unique_suffix());
        send_one(base, id, user, &body_marker).await;
        let log = wait_log(base, id, |l| {
            smtp_lines(l).iter().any(|l| l.contains("C: [smtp] QUIT"))
        })
        .await;
        assert_format(&log);
        assert_no_secret(&log, user);
        let smtp = smtp_lines(&log);
        // Only the SMTP lines: the IMAP ones fetch the message where it arrived.
        assert!(
            !smtp.iter().any(|l| l.contains(&body_marker)),
            "the message body was logged:\n{smtp:#?}"
        );
        assert_conversation(&smtp, user);
        let upgraded = smtp.iter().any(|l| l.ends_with("C: [smtp] STARTTLS"));
        assert_eq!(upgraded, id == &starttls, "{smtp:#?}");
    }
    let _ = http("DELETE", &format!("{base}/v1/account/{implicit}"), None).await;
    let _ = http("DELETE", &format!("{base}/v1/account/{starttls}"), None).await;
    settings(base, json!({ "accounts": [] })).await;
}

/// Send one message from `account` to `user` themself, and wait until it left the outbox.
async fn send_one(base: &str, account: &str, user: &TestUser, body_marker: &str) {
    let address = format!("{}@example.com", user.user);
    let submit = json!({
        "from": {"address": address},
        "to": [{"address": address}],
        "subject": "Logged send",
        "text": format!("{body_marker}\n"),
    });
    let url = format!("{base}/v1/account/{account}/submit");
    let (status, queued) = http("POST", &url, Some(submit)).await;
    assert_eq!(status, 200, "{queued}");
    let queue_id = queued["queueId"].as_str().unwrap();
    let done = format!("{base}/v1/outbox/{queue_id}");
    poll(&done, "the send leaving the outbox", |s, _| s == 404).await;
}

/// The log's SMTP entries, without their time.
fn smtp_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" [smtp] "))
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_string())
        .collect()
}

/// Greeting, EHLO, AUTH hidden, envelope, the message as one entry, its answer, QUIT.
fn assert_conversation(smtp: &[String], user: &TestUser) {
    let at = |what: &str| {
        smtp.iter()
            .position(|l| l.starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} in {smtp:#?}"))
    };
    assert!(smtp[0].starts_with("S: [smtp] 220 "), "{smtp:#?}");
    let ehlo = at("C: [smtp] EHLO ");
    let auth = at("C: [smtp] AUTH ");
    assert!(
        smtp[auth] == "C: [smtp] AUTH PLAIN ******"
            || (smtp[auth] == "C: [smtp] AUTH LOGIN" && smtp[auth + 2] == "C: [smtp] ******"),
        "{smtp:#?}"
    );
    assert!(at("S: [smtp] 235 ") > auth, "{smtp:#?}");
    let mail = at(&format!("C: [smtp] MAIL FROM:<{}@example.com>", user.user));
    let rcpt = at(&format!("C: [smtp] RCPT TO:<{}@example.com>", user.user));
    let data = at("C: [smtp] DATA");
    assert!(smtp[data + 1].starts_with("S: [smtp] 354 "), "{smtp:#?}");
    let message = &smtp[data + 2];
    let size: u64 = message
        .strip_prefix("C: [smtp] [message: ")
        .and_then(|m| m.strip_suffix(" bytes]"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no message entry after 354: {smtp:#?}"));
    assert!(size > 100, "{message}");
    assert!(smtp[data + 3].starts_with("S: [smtp] 250 "), "{smtp:#?}");
    assert!(ehlo < auth && auth < mail && mail < rcpt && rcpt < data);
    assert!(at("C: [smtp] QUIT") > data, "{smtp:#?}");
}

/// Neither the password nor any base64 it travels as made it to the log.
fn assert_no_secret(log: &str, user: &TestUser) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let plain = b64.encode(format!("\0{}\0{}", user.user, user.pass));
    for secret in [user.pass.clone(), plain, b64.encode(&user.pass)] {
        assert!(!log.contains(&secret), "{secret:?} leaked:\n{log}");
    }
}
