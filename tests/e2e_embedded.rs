//! End to end, all roles in one process on the embedded backends (the default a user gets
//! from `cargo run`): the real binary over REST against the real Dovecot.

mod access;
mod deadletters;
mod folder_notices;
mod idle_folders;
mod oauth2;
mod pickup;
mod pipeline;
mod protocol_logs;
mod routes;
mod secrets;
mod sending;
mod support;

use std::time::Duration;

use pipeline::{account_body, expect_event, mail, set_webhooks, wait_state};
use serde_json::json;
use support::{Dovecot, Gateway, ImapTestClient, WebhookReceiver, http};

/// The gateway, trusting the rig's CA: Dovecot offers STARTTLS on its plain port, and the
/// gateway upgrades whenever the server offers it.
async fn spawn(args: &[&str]) -> Gateway {
    let ca = Dovecot::ensure().ca_cert.display().to_string();
    Gateway::spawn(args, &[("IMAPAPI_EXTRA_CA", &ca)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_lifecycle_with_webhooks() {
    let gw = spawn(&[]).await;
    pipeline::account_lifecycle(&gw.base_url(), "example").await;
}

/// Access tokens on a gateway that requires auth and has no basic auth pair: the first
/// token made with `imapapi token`, the others over REST.
/// With a 30 s scan interval, a new, changed or re-registered account still takes effect
/// within seconds: the api tells ingest at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_picked_up_at_once() {
    let gw = spawn(pickup::ARGS).await;
    pickup::changes_are_picked_up_at_once(&gw.base_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_and_scopes() {
    let mut gw = spawn(&["--api.requireAuth=true"]).await;
    let admin = access::first_token(&mut gw, &[]).await;
    access::tokens_and_scopes(&gw, &admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_with_a_bearer_token() {
    let gw = spawn(&[]).await;
    oauth2::bearer_token_logins(&gw.base_url()).await;
}

/// Gmail OAuth2 against the rig's OAuth2 server, with the Gmail servers pointed at the
/// rig's Dovecot (implicit TLS) and Postfix (smtps).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmail_oauth2_consent_and_renewal() {
    let dv = Dovecot::ensure();
    let args = oauth2::gmail_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ca = dv.ca_cert.display().to_string();
    let mut gw = Gateway::spawn(
        &args,
        &[
            ("IMAPAPI_EXTRA_CA", &ca),
            ("IMAPAPI_SECRET", "gmail-test-secret"),
        ],
    )
    .await;
    oauth2::gmail_consent_and_renewal(&gw.base_url()).await;
    // The client secret and the tokens are stored sealed.
    gw.stop().await;
    let store = imapapi_common::store::embedded::EmbeddedStore::open(&gw.data_dir())
        .await
        .unwrap();
    use imapapi_common::store::{AccountStore, SettingsStore};
    let settings = store.get_settings().await.unwrap();
    assert!(
        settings
            .gmail_client_secret
            .unwrap()
            .starts_with("$imapapi$1$")
    );
    let account = store.get_account("gm").await.unwrap().unwrap();
    let refresh = account.oauth2.unwrap().refresh_token.unwrap();
    assert!(refresh.expose().starts_with("$imapapi$1$"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_the_auth_server() {
    let gw = spawn(&[]).await;
    oauth2::auth_server_credentials(&gw.base_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_named() {
    let gw = spawn(&[]).await;
    pipeline::bad_input(&gw.base_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_are_visible() {
    let gw = spawn(&[]).await;
    pipeline::connection_errors(&gw.base_url()).await;
}

/// Per-account IMAP protocol logs: recorded with credentials hidden, reset, capped, and
/// dropped with the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_logs_of_an_account() {
    let gw = spawn(&[]).await;
    protocol_logs::protocol_logs(&gw.base_url()).await;
}

/// SMTP lines in the same logs: sends over implicit TLS and STARTTLS through the real
/// Postfix, recorded in plain text with AUTH and the message hidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_logs_of_sending() {
    let gw = spawn(&[]).await;
    protocol_logs::smtp_lines_in_the_log(&gw.base_url()).await;
}

/// Implicit TLS to Dovecot's imaps port, trusting the rig's CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_over_implicit_tls() {
    let dv = Dovecot::ensure();
    let gw = spawn(&[]).await;
    let user = dv.create_user("tls");
    let mut body = account_body(dv, "tls", &user);
    body["imap"] = dv.imap_account_json(&user, true);
    let (status, _) = http("POST", &gw.url("/v1/account"), Some(body)).await;
    assert_eq!(status, 200);
    wait_state(&gw.base_url(), "tls", "connected", Duration::from_secs(30)).await;
    let (status, page) = http("GET", &gw.url("/v1/account/tls/messages?path=INBOX"), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 0);
}

/// Changes made while the gateway was down are announced when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_up_after_restart() {
    let dv = Dovecot::ensure();
    let mut gw = spawn(&[]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let user = dv.create_user("restart");
    let mut other = ImapTestClient::connect(dv, &user).await.unwrap();
    let a = other.append("INBOX", &mail("one", "1")).await.unwrap();
    let b = other.append("INBOX", &mail("two", "2")).await.unwrap();

    let (status, _) = http(
        "POST",
        &gw.url("/v1/account"),
        Some(account_body(dv, "restart", &user)),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(&base, "restart", "connected", Duration::from_secs(30)).await;
    let c = other.append("INBOX", &mail("three", "3")).await.unwrap();
    expect_event(&hook, "restart", "messageNew", |r| {
        r.body["data"]["uid"] == c
    })
    .await;

    gw.stop().await;
    let d = other
        .append("INBOX", &mail("while down", "4"))
        .await
        .unwrap();
    other.add_flags("INBOX", a, "\\Flagged").await.unwrap();
    other.expunge_uid("INBOX", b).await.unwrap();
    gw.start().await;

    let new = expect_event(&hook, "restart", "messageNew", |r| {
        r.body["data"]["uid"] == d
    })
    .await;
    assert_eq!(new.body["data"]["subject"], "while down");
    let upd = expect_event(&hook, "restart", "messageUpdated", |r| {
        r.body["data"]["uid"] == a
    })
    .await;
    assert_eq!(
        upd.body["data"]["changes"]["flags"]["added"],
        json!(["\\Flagged"])
    );
    expect_event(&hook, "restart", "messageDeleted", |r| {
        r.body["data"]["uid"] == b
    })
    .await;
    // The message announced before the restart is not announced again.
    let again = hook
        .wait_for(
            move |r| r.event() == Some("messageNew") && r.body["data"]["uid"] == c,
            Duration::from_secs(2),
        )
        .await;
    assert!(again.is_none(), "messageNew repeated after restart");
}

/// A failing receiver gets retries; when they run out the event is dead-lettered and
/// listed, never dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_then_dead_letter() {
    let gw = spawn(&["--queue.retryDelay=200ms", "--queue.maxAttempts=3"]).await;
    pipeline::retries_then_dead_letter(&gw.base_url(), "retry").await;
}

/// Dead letters sent again once the receiver is back (one by id, then the rest), or
/// dropped, over REST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadletters_redrive_and_drop() {
    // The breaker's pause kept short: with only two attempts 200 ms apart, a redriven event
    // held back by a pause of seconds would be dead-lettered again before any probe.
    let gw = spawn(&[
        "--queue.retryDelay=200ms",
        "--queue.maxAttempts=2",
        "--webhooks.breakerMaxPause=100ms",
    ])
    .await;
    deadletters::redrive_and_drop(&gw.base_url(), "deadletters").await;
}

/// Even at the most verbose log level, no password reaches a log line or a response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_hold_no_secret() {
    let dv = Dovecot::ensure();
    let ca = dv.ca_cert.display().to_string();
    let gw = Gateway::spawn(
        &["--log.level=trace"],
        &[
            ("IMAPAPI_EXTRA_CA", &ca),
            ("IMAPAPI_SECRET", "an-encryption-key"),
        ],
    )
    .await;
    let user = dv.create_user("secret");
    let (status, _) = http(
        "POST",
        &gw.url("/v1/account"),
        Some(account_body(dv, "secret", &user)),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(
        &gw.base_url(),
        "secret",
        "connected",
        Duration::from_secs(30),
    )
    .await;
    let (status, page) = http(
        "GET",
        &gw.url("/v1/account/secret/messages?path=INBOX"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let (_, accounts) = http("GET", &gw.url("/v1/accounts"), None).await;
    let (_, account) = http("GET", &gw.url("/v1/account/secret"), None).await;
    for body in [&accounts, &account] {
        assert!(
            !body.to_string().contains(&user.pass),
            "password in a response: {body}"
        );
    }
    // Only the gateway's own lines: the rig writes the command it started at the top.
    let log: String = std::fs::read_to_string(gw.log_path())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("=== rig:"))
        .collect();
    assert!(log.len() > 1000, "trace logging produced output");
    assert!(!log.contains(&user.pass), "password in the log");
    assert!(!log.contains("an-encryption-key"), "secret in the log");
}

/// With NOTIFY, a change in any folder reaches the webhook at once, not at the next resync
/// (600 s here): new mail in Sent and in a nested folder, a flag change there, a folder
/// another client created after connect, once mail arrives in it; a folder renamed and one
/// deleted through the api.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_folder_in_real_time() {
    let dv = Dovecot::ensure();
    let gw = spawn(&[]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let user = dv.create_user("everywhere");
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    imap.create_mailbox("Projects").await.unwrap();
    imap.create_mailbox("Projects/Alpha").await.unwrap();
    let mut body = account_body(dv, "everywhere", &user);
    body["imap"]["resyncDelay"] = json!(600);
    let (status, b) = http("POST", &gw.url("/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_state(&base, "everywhere", "connected", Duration::from_secs(30)).await;
    expect_event(&hook, "everywhere", "mailboxNew", |r| {
        r.body["path"] == "INBOX"
    })
    .await;
    while hook.next_within(Duration::from_millis(700)).await.is_some() {}

    let within = Duration::from_secs(3);
    let mut timings = Vec::new();
    let mut timed = async |what: &str, got: Option<support::Received>, at: std::time::Instant| {
        let got = got.unwrap_or_else(|| panic!("{what}: no webhook within {within:?}"));
        timings.push(format!(
            "{what} {} ms",
            got.at.duration_since(at).as_millis()
        ));
        got
    };
    let wait = |event: &'static str, path: &'static str| {
        let hook = &hook;
        async move {
            hook.wait_for(
                move |r| r.event() == Some(event) && r.body["path"] == path,
                within,
            )
            .await
        }
    };

    let at = std::time::Instant::now();
    imap.append("Sent", &mail("sent copy", "x")).await.unwrap();
    timed("Sent messageNew", wait("messageNew", "Sent").await, at).await;

    let at = std::time::Instant::now();
    let uid = imap
        .append("Projects/Alpha", &mail("nested", "y"))
        .await
        .unwrap();
    timed(
        "nested messageNew",
        wait("messageNew", "Projects/Alpha").await,
        at,
    )
    .await;

    let at = std::time::Instant::now();
    imap.add_flags("Projects/Alpha", uid, "\\Flagged")
        .await
        .unwrap();
    let got = timed(
        "nested messageUpdated",
        wait("messageUpdated", "Projects/Alpha").await,
        at,
    )
    .await;
    assert_eq!(
        got.body["data"]["changes"]["flags"]["added"],
        json!(["\\Flagged"])
    );

    let at = std::time::Instant::now();
    imap.create_mailbox("Later").await.unwrap();
    imap.append("Later", &mail("in a new folder", "z"))
        .await
        .unwrap();
    timed(
        "new folder mailboxNew",
        wait("mailboxNew", "Later").await,
        at,
    )
    .await;
    assert!(
        hook.wait_for(
            |r| r.event() == Some("messageNew") && r.body["path"] == "Later",
            within
        )
        .await
        .is_some(),
        "the new folder's mail is announced"
    );

    let at = std::time::Instant::now();
    let (status, r) = http(
        "PUT",
        &gw.url("/v1/account/everywhere/mailbox"),
        Some(json!({"path": "Later", "newPath": ["Renamed"]})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    timed(
        "renamed: old mailboxDeleted",
        wait("mailboxDeleted", "Later").await,
        at,
    )
    .await;
    timed(
        "renamed: new mailboxNew",
        wait("mailboxNew", "Renamed").await,
        at,
    )
    .await;

    let at = std::time::Instant::now();
    let (status, r) = http(
        "DELETE",
        &gw.url("/v1/account/everywhere/mailbox?path=Renamed"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    timed(
        "deleted mailboxDeleted",
        wait("mailboxDeleted", "Renamed").await,
        at,
    )
    .await;
    println!("change -> webhook: {}", timings.join(", "));
    imap.logout().await.ok();
}

/// With NOTIFY, folders another client creates, renames or deletes reach the webhook at
/// once (the resync is 600 s away), and reading NOTIFY's rename announcements does not
/// cost the watching connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_changed_elsewhere_in_real_time() {
    let gw = spawn(&[]).await;
    folder_notices::changed_by_another_client(&gw.base_url(), "renames").await;
}

/// Without NOTIFY (`ingest.notify=false`), a folder in `ingest.idleFolders` gets an IDLE
/// connection of its own: new mail in Sent reaches the webhook at once; a folder not listed
/// waits for the resync (600 s here), INBOX keeps its own IDLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_idle_connections_without_notify() {
    let dv = Dovecot::ensure();
    let gw = spawn(&["--ingest.notify=false", "--ingest.idleFolders=\\Sent"]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let user = dv.create_user("idlers");
    let mut body = account_body(dv, "idlers", &user);
    body["imap"]["resyncDelay"] = json!(600);
    let (status, b) = http("POST", &gw.url("/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_state(&base, "idlers", "connected", Duration::from_secs(30)).await;
    expect_event(&hook, "idlers", "mailboxNew", |r| r.body["path"] == "INBOX").await;
    while hook.next_within(Duration::from_millis(700)).await.is_some() {}

    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    let within = Duration::from_secs(3);
    for folder in ["Sent", "INBOX", "Sent"] {
        let uid = imap.append(folder, &mail("watched", "x")).await.unwrap();
        let got = hook
            .wait_for(
                move |r| {
                    r.event() == Some("messageNew")
                        && r.body["path"] == folder
                        && r.body["data"]["uid"] == uid
                },
                within,
            )
            .await;
        assert!(got.is_some(), "{folder}: no messageNew within {within:?}");
    }
    // Drafts has no connection of its own and NOTIFY is off: nothing until the resync.
    imap.append("Drafts", &mail("unwatched", "y"))
        .await
        .unwrap();
    let early = hook
        .wait_for(|r| r.body["path"] == "Drafts", Duration::from_secs(2))
        .await;
    assert!(
        early.is_none(),
        "Drafts is not watched: {:?}",
        early.map(|r| r.body)
    );
    imap.logout().await.ok();
}

/// Without NOTIFY, an account's own `imap.idleFolders` replaces `ingest.idleFolders`, and a
/// PUT with another list takes effect at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_own_idle_folders() {
    let gw = spawn(idle_folders::ARGS).await;
    idle_folders::per_account_list_replaces_the_global_one(&gw.base_url()).await;
}

/// `POST /v1/webhooks/test` sends one signed test webhook now, to the URL given or to the
/// one in the settings, and answers with what the receiver did; a refusal, an unreachable
/// receiver and a missing or unusable URL are each told apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_webhook_on_demand() {
    use hmac::{Hmac, Mac};
    let gw = spawn(&["--webhooks.signingKey=test-hook-key"]).await;
    let url = gw.url("/v1/webhooks/test");
    // No URL anywhere: the field to fill is named.
    let (status, body) = http("POST", &url, Some(json!({}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["key"], "url", "{body}");
    let (status, body) = http("POST", &url, Some(json!({"url": "ftp://h/x"}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["key"], "url", "{body}");

    // The URL in the settings, signed like every delivery.
    let hook = WebhookReceiver::start().await;
    set_webhooks(&gw.base_url(), &hook).await;
    let (status, reply) = http("POST", &url, Some(json!({}))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["success"], true, "{reply}");
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(
        reply["target"],
        format!("http://{}", hook.addr()),
        "{reply}"
    );
    let got = hook
        .wait_for_event("webhookTest", Duration::from_secs(5))
        .await
        .expect("the test webhook arrived");
    assert_eq!(got.body["id"], reply["id"]);
    assert_eq!(got.header("x-imapapi-event-id"), reply["id"].as_str());
    assert_eq!(got.header("x-imapapi-attempt"), Some("1"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"test-hook-key").unwrap();
    mac.update(&got.raw);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(got.header("x-webhook-signature"), Some(expected.as_str()));

    // A refusal is reported with its status, and not retried.
    hook.fail_next(1, 503);
    let (status, reply) = http("POST", &url, Some(json!({}))).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["success"], false, "{reply}");
    assert_eq!(reply["status"], 503, "{reply}");
    assert_eq!(reply["error"], "receiver answered 503", "{reply}");
    // A URL given in the body wins over the settings; nothing listening there is said so,
    // and the path and query (which may carry a token) are never echoed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (status, reply) = http(
        "POST",
        &url,
        Some(json!({"url": format!("http://127.0.0.1:{port}/in?token=s3cret")})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["success"], false, "{reply}");
    assert!(reply["status"].is_null(), "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .starts_with("request failed"),
        "{reply}"
    );
    assert!(!reply.to_string().contains("s3cret"), "{reply}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later: Vec<_> = hook.drain().await;
    assert_eq!(
        later.len(),
        1,
        "only the refused request: no retry, nothing queued"
    );
}

/// With `webhooks.signingKey`, every webhook carries `X-Webhook-Signature: sha256=<hex>`,
/// the HMAC-SHA256 of its exact body, plus the event id and the attempt number; a retry
/// says it is the second attempt and is signed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed() {
    use hmac::{Hmac, Mac};
    let dv = Dovecot::ensure();
    let key = "whsec-test-key-81f3";
    let gw = spawn(&[
        "--webhooks.signingKey=whsec-test-key-81f3",
        "--queue.retryDelay=100ms",
    ])
    .await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let user = dv.create_user("signed");
    let (status, _) = http(
        "POST",
        &gw.url("/v1/account"),
        Some(account_body(dv, "signed", &user)),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(&base, "signed", "connected", Duration::from_secs(30)).await;
    // The first sync's folder events must be through before the refusal is armed, or one
    // of them takes it instead of the message's first try.
    while hook.next_within(Duration::from_millis(700)).await.is_some() {}
    hook.drain().await;
    // The first try is refused: the retry must carry attempt 2 and a signature of its own.
    hook.fail_next(1, 503);
    let mut other = ImapTestClient::connect(dv, &user).await.unwrap();
    let uid = other
        .append("INBOX", &mail("signed mail", "x"))
        .await
        .unwrap();
    let got = expect_event(&hook, "signed", "messageNew", |r| {
        r.body["data"]["uid"] == uid && r.status == 200
    })
    .await;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(&got.raw);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(got.header("x-webhook-signature"), Some(expected.as_str()));
    assert_eq!(
        got.header("x-imapapi-attempt"),
        Some("2"),
        "the refused try was the first"
    );
    assert_eq!(
        got.header("x-imapapi-event-id"),
        got.body["id"].as_str(),
        "the event id travels as a header too"
    );
    let log = std::fs::read_to_string(gw.log_path()).unwrap();
    let own: String = log.lines().filter(|l| !l.starts_with("=== rig:")).collect();
    assert!(!own.contains(key), "the signing key reached the log");
    other.logout().await.ok();
}

/// The value of the Prometheus sample `name{labels}` (labels as written, in order), or
/// `None` when the text has no such series.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `GET /metrics` speaks Prometheus text and counts what happened: api requests by route
/// and status with durations, events published, webhooks delivered, accounts by state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics() {
    let dv = Dovecot::ensure();
    let gw = spawn(&[]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let user = dv.create_user("metrics");
    let (status, _) = http(
        "POST",
        &gw.url("/v1/account"),
        Some(account_body(dv, "metrics", &user)),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(&base, "metrics", "connected", Duration::from_secs(30)).await;
    let mut other = ImapTestClient::connect(dv, &user).await.unwrap();
    let uid = other.append("INBOX", &mail("counted", "x")).await.unwrap();
    expect_event(&hook, "metrics", "messageNew", |r| {
        r.body["data"]["uid"] == uid
    })
    .await;
    let (status, _) = http("GET", &gw.url("/v1/account/nobody"), None).await;
    assert_eq!(status, 404);
    let (status, _) = http(
        "GET",
        &gw.url("/v1/account/metrics/messages?path=INBOX"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let response = support::request("GET", &gw.url("/metrics"), &[], bytes::Bytes::new(), None)
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    let content_type = response.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = String::from_utf8(response.body.to_vec()).unwrap();
    let at_least = |series: &str, n: f64| {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(v >= n, "{series} = {v}, expected at least {n}");
    };
    at_least(r#"imapapi_accounts{state="connected"}"#, 1.0);
    at_least(
        r#"imapapi_http_requests_total{method="POST",route="/v1/account",status="200"}"#,
        1.0,
    );
    at_least(
        r#"imapapi_http_requests_total{method="GET",route="unmatched",status="404"}"#,
        1.0,
    );
    at_least(r#"imapapi_events_published_total{event="messageNew"}"#, 1.0);
    at_least(
        r#"imapapi_webhooks_total{result="success",event="messageNew"}"#,
        1.0,
    );
    at_least(r#"imapapi_ingest_accounts"#, 1.0);
    // How long delivered events waited in their queue.
    at_least(r#"imapapi_queue_age_seconds_count{queue="events"}"#, 1.0);
    // The queues as the bus counts them at scrape time: nothing dead, nothing to send.
    at_least(
        r#"imapapi_queue_messages{queue="events",state="ready"}"#,
        0.0,
    );
    at_least(
        r#"imapapi_queue_messages{queue="events",state="in_flight"}"#,
        0.0,
    );
    let dead = r#"imapapi_queue_messages{queue="events",state="dead"}"#;
    assert_eq!(sample(&text, dead), Some(0.0), "{text}");
    let submit = r#"imapapi_queue_messages{queue="submit",state="ready"}"#;
    assert_eq!(sample(&text, submit), Some(0.0), "{text}");
    let (status, stats) = http("GET", &gw.url("/v1/stats"), None).await;
    assert_eq!(status, 200, "{stats}");
    for queue in ["events", "submit"] {
        let counts = &stats["queues"][queue];
        assert!(counts["ready"].is_u64(), "{stats}");
        assert!(counts["inFlight"].is_u64(), "{stats}");
        assert_eq!(counts["dead"], 0, "{stats}");
    }
    // The watcher and the command connection of the listing.
    at_least(r#"imapapi_imap_connections"#, 2.0);
    at_least(r#"imapapi_imap_logins_total{result="success"}"#, 2.0);
    at_least(
        r#"imapapi_api_command_duration_seconds_count{command="ListMessages",result="success"}"#,
        1.0,
    );
    assert!(
        text.contains("imapapi_http_request_duration_seconds_bucket{"),
        "durations are histograms"
    );
    assert!(
        !text.contains(&user.pass) && !text.contains("metrics@"),
        "no account data"
    );
    other.logout().await.ok();
}

/// A receiver that is down while mail arrives gets every event once it is back, within a
/// retry delay of its return: delays double up to `queue.maxRetryDelay` and go on at that
/// pace (here 100 ms doubling up to 1 s; by default 2 s up to an hour, over two days).
/// Meanwhile the breaker spares it (one probe per pause, not every retry), and an account
/// with its own webhook URL keeps getting its events at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_outlast_an_outage() {
    let dv = Dovecot::ensure();
    let gw = spawn(&[
        "--queue.retryDelay=100ms",
        "--queue.maxRetryDelay=1s",
        "--webhooks.breakerMaxPause=1s",
    ])
    .await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let user = dv.create_user("outage");
    let (status, _) = http(
        "POST",
        &gw.url("/v1/account"),
        Some(account_body(dv, "outage", &user)),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(&base, "outage", "connected", Duration::from_secs(30)).await;
    // Another account, with a receiver of its own that stays up.
    let own_hook = WebhookReceiver::start().await;
    let own_user = dv.create_user("ownhook");
    let mut own_body = account_body(dv, "ownhook", &own_user);
    own_body["webhooks"] = json!(own_hook.url());
    let (status, b) = http("POST", &gw.url("/v1/account"), Some(own_body)).await;
    assert_eq!(status, 200, "{b}");
    wait_state(&base, "ownhook", "connected", Duration::from_secs(30)).await;
    hook.drain().await;

    hook.fail_next(u32::MAX, 503);
    let mut other = ImapTestClient::connect(dv, &user).await.unwrap();
    let mut uids = Vec::new();
    for i in 0..5 {
        uids.push(
            other
                .append("INBOX", &mail(&format!("during the outage {i}"), "x"))
                .await
                .unwrap(),
        );
    }
    // The other account's events go to its own receiver, unhindered.
    let mut own_client = ImapTestClient::connect(dv, &own_user).await.unwrap();
    let own_uid = own_client
        .append("INBOX", &mail("to my own receiver", "x"))
        .await
        .unwrap();
    let got = own_hook
        .wait_for_event("messageNew", Duration::from_secs(10))
        .await
        .expect("the account's own receiver gets its event during the other's outage");
    assert_eq!(got.body["account"], "ownhook");
    assert_eq!(got.body["data"]["uid"], own_uid);
    own_client.logout().await.ok();
    // Down long enough for the delays to reach their cap.
    tokio::time::sleep(Duration::from_secs(8)).await;
    // Retried all along (see the attempt numbers below), but the failing receiver was
    // only probed: without the breaker it would have seen dozens of requests.
    let tried = hook.failed();
    assert!((3..20).contains(&tried), "requests while down: {tried}");
    // The failing receiver is in the stats, by origin only.
    let origin = format!("http://{}", hook.addr());
    let (_, stats) = http("GET", &gw.url("/v1/stats"), None).await;
    let failing = stats["failingReceivers"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{stats}");
    assert_eq!(failing[0]["target"], origin.as_str(), "{stats}");
    hook.fail_next(0, 200);
    let back = std::time::Instant::now();
    for uid in &uids {
        let got = expect_event(&hook, "outage", "messageNew", |r| {
            r.body["data"]["uid"] == *uid && r.status == 200
        })
        .await;
        let attempt: u32 = got.header("x-imapapi-attempt").unwrap().parse().unwrap();
        assert!(attempt > 4, "attempt {attempt}");
    }
    assert!(
        back.elapsed() < Duration::from_secs(5),
        "all five back {:?} after the receiver",
        back.elapsed()
    );
    let (_, dead) = http("GET", &gw.url("/v1/deadletters"), None).await;
    assert_eq!(dead["events"].as_array().map(Vec::len), Some(0), "{dead}");
    let (_, stats) = http("GET", &gw.url("/v1/stats"), None).await;
    assert_eq!(
        stats["failingReceivers"],
        json!([]),
        "cleared once it answers"
    );
    // Dozens of failed attempts, but one line when the receiver started failing and one
    // when it answered again.
    let log = std::fs::read_to_string(gw.log_path()).unwrap();
    let lines = |what: &str| log.lines().filter(|l| l.contains(what)).count();
    assert_eq!(lines("webhook receiver failing"), 1, "{log}");
    assert_eq!(lines("webhook receiver answers again"), 1, "{log}");
    other.logout().await.ok();
}

/// `--log.format=text` writes readable lines instead of JSON objects, for a terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_for_a_terminal() {
    let gw = spawn(&["--log.format=text"]).await;
    let (status, _) = http("GET", &gw.url("/v1/accounts"), None).await;
    assert_eq!(status, 200);
    let log = std::fs::read_to_string(gw.log_path()).unwrap();
    let started = log
        .lines()
        .find(|l| l.contains("imapapi started"))
        .unwrap_or_else(|| panic!("no start line in {log}"));
    assert!(
        !started.trim_start().starts_with('{'),
        "a JSON line: {started}"
    );
    assert!(started.contains("INFO"), "{started}");
}

/// A process started with another `service.secret` than the one that encrypted the stored
/// passwords, or with none, refuses to start and says why, instead of failing every
/// account one by one; the right secret starts it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_stops_the_start() {
    let dv = Dovecot::ensure();
    let ca = dv.ca_cert.display().to_string();
    let mut gw = Gateway::spawn(
        &[],
        &[
            ("IMAPAPI_EXTRA_CA", &ca),
            ("IMAPAPI_SECRET", "the-first-secret"),
        ],
    )
    .await;
    let user = dv.create_user("sealed");
    let (status, _) = http(
        "POST",
        &gw.url("/v1/account"),
        Some(account_body(dv, "sealed", &user)),
    )
    .await;
    assert_eq!(status, 200);
    gw.stop().await;
    let data = gw.data_dir();
    for (secret, says) in [
        (Some("another-secret"), "does not decrypt"),
        (None, "no service.secret"),
    ] {
        let mut cmd = std::process::Command::new("timeout");
        cmd.arg("60")
            .arg(env!("CARGO_BIN_EXE_imapapi"))
            .arg(format!("--dbs.path={}", data.display()))
            .arg(format!("--api.port={}", support::free_port()))
            .env_remove("IMAPAPI_SECRET");
        if let Some(s) = secret {
            cmd.env("IMAPAPI_SECRET", s);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {secret:?}");
        assert!(err.contains(says), "{secret:?}: {err}");
        assert!(
            !err.contains("the-first-secret") && !err.contains("another-secret"),
            "{err}"
        );
    }
    gw.start().await;
    wait_state(
        &gw.base_url(),
        "sealed",
        "connected",
        Duration::from_secs(30),
    )
    .await;
}

/// `imapapi encrypt`: sealing, rotating, running twice, a tampered ciphertext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypting_and_rotating_stored_secrets() {
    secrets::encrypt_rotate_and_tamper().await;
}

/// Known secrets of every kind, searched for in every output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_output() {
    secrets::no_secret_in_any_output().await;
}

/// Mail that arrives while the first sync is still running is announced (notifyFrom
/// defaults to the registration time); mail from before the registration is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_during_the_first_sync_is_announced() {
    let dv = Dovecot::ensure();
    let gw = spawn(&[]).await;
    let base = gw.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let user = dv.create_user("firstsync");
    let mut other = ImapTestClient::connect(dv, &user).await.unwrap();
    let old = other.append("INBOX", &mail("before", "old")).await.unwrap();
    // INTERNALDATE has whole seconds: register in a later second than the old mail.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = http(
        "POST",
        &gw.url("/v1/account"),
        Some(account_body(dv, "firstsync", &user)),
    )
    .await;
    assert_eq!(status, 200);
    let (_, info) = http("GET", &gw.url("/v1/account/firstsync"), None).await;
    assert!(
        info["notifyFrom"].is_string(),
        "notifyFrom defaults to now: {info}"
    );
    // No waiting for the connection: this lands before or during the first sync.
    let new = other.append("INBOX", &mail("during", "new")).await.unwrap();
    let got = expect_event(&hook, "firstsync", "messageNew", |r| {
        r.body["data"]["uid"] == new
    })
    .await;
    assert_eq!(got.body["data"]["subject"], "during");
    let stale = hook
        .wait_for(
            move |r| r.event() == Some("messageNew") && r.body["data"]["uid"] == old,
            Duration::from_secs(2),
        )
        .await;
    assert!(
        stale.is_none(),
        "mail from before the registration was announced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_messages_and_the_mime_corpus() {
    let gw = spawn(&[]).await;
    routes::reading(&gw.base_url(), "reader").await;
}

/// Listings and details read again show the server's flags now, and never a message of a
/// folder deleted since (ingest's message cache).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_again_shows_what_the_server_has_now() {
    let gw = spawn(&[]).await;
    routes::reading_again(&gw.base_url(), "rereader").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_whole() {
    let gw = spawn(&[]).await;
    routes::large_bodies(&gw.base_url(), "large").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_messages() {
    let gw = spawn(&[]).await;
    routes::changing_messages(&gw.base_url(), "changer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managing_mailboxes() {
    let gw = spawn(&[]).await;
    routes::managing_mailboxes(&gw.base_url(), "folders").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searching() {
    let gw = spawn(&[]).await;
    routes::searching(&gw.base_url(), "searcher").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_feed() {
    let gw = spawn(&[]).await;
    routes::changes_feed(&gw.base_url(), "feed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_by_cursor() {
    let gw = spawn(&[]).await;
    routes::paging_by_cursor(&gw.base_url(), "pager").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_tools() {
    let gw = spawn(&[]).await;
    routes::account_tools(&gw.base_url(), "tools").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_ids_are_not_found() {
    let gw = spawn(&[]).await;
    routes::stale_ids(&gw.base_url(), "stale").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_leave_the_account_usable() {
    let gw = spawn(&["--service.commandTimeout=1s"]).await;
    routes::timeouts_leave_the_account_usable(&gw.base_url(), "slow").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploading_messages() {
    let gw = spawn(&[]).await;
    routes::uploading(&gw.base_url(), "uploader").await;
}

/// A reply goes out through submit and Postfix, arrives in the recipient's INBOX as seen by
/// our own ingest, and leaves its Sent copy and `\\Answered` behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_a_reply() {
    let gw = spawn(&[]).await;
    sending::reply_reaches_the_recipient(&gw.base_url(), "sender", "recipient").await;
}

/// Refused input, a refused login and a cancelled scheduled send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_refusals_and_the_outbox() {
    let gw = spawn(&[]).await;
    sending::refusals_and_the_outbox(&gw.base_url(), "refused").await;
}

/// Temporary refusals are retried with backoff until the server accepts; a permanent one
/// fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_retries_temporary_failures() {
    let gw = spawn(&["--submit.retryDelay=200ms"]).await;
    sending::temporary_failures_are_retried(&gw.base_url(), "flaky").await;
}

/// IMAP connections bind to one of the configured local addresses: Dovecot logs every
/// login of these accounts as coming from 127.0.0.2 or 127.0.0.3. An address that cannot
/// be bound gives its account a connection error that names it, and the gateway keeps
/// serving the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_binds_to_the_local_addresses() {
    let dv = Dovecot::ensure();
    let gw = spawn(&["--service.localAddresses=127.0.0.2,127.0.0.3"]).await;
    let base = gw.base_url();
    let users: Vec<_> = (0..4).map(|_| dv.create_user("bindimap")).collect();
    for (i, u) in users.iter().enumerate() {
        let (status, _) = http(
            "POST",
            &gw.url("/v1/account"),
            Some(account_body(dv, &format!("bind{i}"), u)),
        )
        .await;
        assert_eq!(status, 200);
    }
    for i in 0..users.len() {
        wait_state(
            &base,
            &format!("bind{i}"),
            "connected",
            Duration::from_secs(30),
        )
        .await;
        // A command connection too.
        let (status, _) = http(
            "GET",
            &gw.url(&format!("/v1/account/bind{i}/messages?path=INBOX")),
            None,
        )
        .await;
        assert_eq!(status, 200);
    }
    let log = std::fs::read_to_string(&dv.log_file).unwrap();
    for u in &users {
        let logins: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Login: user=") && l.contains(&format!("user=<{}>", u.user)))
            .collect();
        assert!(
            logins.len() >= 2,
            "watcher and command logins of {}: {logins:?}",
            u.user
        );
        for l in logins {
            assert!(
                l.contains("rip=127.0.0.2,") || l.contains("rip=127.0.0.3,"),
                "a login from elsewhere: {l}"
            );
        }
    }

    // 192.0.2.1 (TEST-NET-1) is no address of this machine: binding fails before any
    // packet leaves, and the account says so.
    let bad = spawn(&["--service.localAddresses=192.0.2.1"]).await;
    let user = dv.create_user("bindbad");
    let (status, _) = http(
        "POST",
        &bad.url("/v1/account"),
        Some(account_body(dv, "unbindable", &user)),
    )
    .await;
    assert_eq!(status, 200);
    let info = wait_state(
        &bad.base_url(),
        "unbindable",
        "connectError",
        Duration::from_secs(30),
    )
    .await;
    let error = info["lastError"].to_string();
    assert!(
        error.contains("192.0.2.1"),
        "the error names the address: {info}"
    );
    let (status, _) = http("GET", &bad.url("/v1/accounts"), None).await;
    assert_eq!(status, 200, "the gateway keeps serving");
}

/// SMTP binds to a configured local address and greets with its hostname.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_from_a_local_address() {
    let gw = spawn(&["--service.localAddresses=127.0.0.2|sender.test.example"]).await;
    sending::sends_from_the_local_address(&gw.base_url()).await;
}
