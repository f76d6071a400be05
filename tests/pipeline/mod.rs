//! End-to-end scenarios shared by the all-in-one (embedded) and the distributed
//! (separate processes on Redis + RabbitMQ) test files: each drives the real binary over
//! REST against the real Dovecot and asserts on what a user sees (responses, webhooks).

#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Dovecot, ImapTestClient, Received, TestUser, WebhookReceiver, http};

/// How long Dovecot plus the gateway may take to announce a change as a webhook. Dovecot
/// itself announces an APPEND about 500 ms late; the rest is slack for a loaded CI box.
pub const EVENT_WAIT: Duration = Duration::from_secs(15);

/// A small RFC 5322 message with a UTF-8 encoded-word subject and sender name.
pub fn mail(subject: &str, body: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        "From: =?UTF-8?B?{}?= <peter@example.com>\r\n\
         To: Andris <andris@example.com>\r\n\
         Subject: =?UTF-8?B?{}?=\r\n\
         Message-ID: <{}@example.com>\r\n\
         Date: Mon, 7 Oct 2030 06:05:23 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {}\r\n",
        b64.encode("Peter Põder"),
        b64.encode(subject),
        uuid::Uuid::new_v4().simple(),
        body
    )
    .into_bytes()
}

/// The body of `POST /v1/account` for a rig user.
pub fn account_body(dv: &Dovecot, id: &str, user: &TestUser) -> Value {
    json!({
        "account": id,
        "name": format!("Test {id}"),
        "imap": dv.imap_account_json(user, false),
        "smtp": {"host": "127.0.0.1", "port": 2525, "secure": false,
                 "auth": {"user": user.user, "pass": user.pass}},
    })
}

/// Poll `GET /v1/account/:id` until its state is `state`; panics with the last answer.
pub async fn wait_state(base: &str, account: &str, state: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        let (status, body) = http("GET", &format!("{base}/v1/account/{account}"), None).await;
        if status == 200 && body["state"] == state {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("account {account} did not reach state {state}; last answer: {last}");
}

/// The first webhook of `event` for `account` (optionally also matching `pred`).
pub async fn expect_event(
    hook: &WebhookReceiver,
    account: &str,
    event: &str,
    pred: impl Fn(&Received) -> bool,
) -> Received {
    let acc = account.to_string();
    let ev = event.to_string();
    let got = hook
        .wait_for(
            move |r| r.body["account"] == acc.as_str() && r.event() == Some(ev.as_str()) && pred(r),
            EVENT_WAIT,
        )
        .await
        .unwrap_or_else(|| panic!("no {event} webhook for {account} within {EVENT_WAIT:?}"));
    crate::support::assert_valid_event(&got.body);
    got
}

/// Point webhooks at `hook` for every event.
pub async fn set_webhooks(base: &str, hook: &WebhookReceiver) {
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/settings"),
        Some(json!({"webhooks": hook.url(), "webhookEvents": ["*"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http("GET", &format!("{base}/v1/settings"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["webhooks"], hook.url());
}

/// The stats once every `(counter, at least)` of `want` is reached: counts reach the store
/// every 2 seconds.
pub async fn wait_counters(base: &str, want: &[(&str, u64)]) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, stats) = http("GET", &format!("{base}/v1/stats"), None).await;
        assert_eq!(status, 200, "{stats}");
        let reached = want
            .iter()
            .all(|(name, min)| stats["counters"][*name].as_u64().unwrap_or(0) >= *min);
        if reached {
            return stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counters did not reach {want:?}: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Usage is counted over a window: events published, webhooks delivered, calls answered
/// (the 404s of the lifecycle included); a window of 0 counts nothing, and a bad window is
/// refused naming the parameter.
async fn usage_is_counted(base: &str) {
    let stats = wait_counters(
        base,
        &[
            ("events:messageNew", 1),
            ("events:authenticationSuccess", 1),
            ("webhooks:success", 2),
            ("apiCall:success", 5),
            ("apiCall:fail", 1),
        ],
    )
    .await;
    assert_eq!(
        stats["counters"].as_object().unwrap().len(),
        16,
        "every counter is listed: {stats}"
    );
    let (status, empty) = http("GET", &format!("{base}/v1/stats?seconds=0"), None).await;
    assert_eq!(status, 200, "{empty}");
    assert!(
        empty["counters"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == 0),
        "{empty}"
    );
    let (status, err) = http("GET", &format!("{base}/v1/stats?seconds=604801"), None).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["fields"][0]["key"], "seconds", "{err}");
}

/// The whole path of an account: register, list, fetch, then changes by another IMAP
/// client arrive as webhooks with their content; delete and re-register starts clean.
pub async fn account_lifecycle(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = dv.create_user("e2e");
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    // Events carry these headers besides the listing's fields (which fetch fewer).
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/settings"),
        Some(json!({"notifyHeaders": ["Content-Type", "MIME-Version"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Mail that was there before the account was registered: listed, but not announced.
    let mut other = ImapTestClient::connect(dv, &user)
        .await
        .expect("second IMAP client");
    let old_uid = other
        .append("INBOX", &mail("Vana kiri", "first body"))
        .await
        .unwrap();
    let keep_uid = other
        .append("INBOX", &mail("Tere Põder", "hello there"))
        .await
        .unwrap();

    let (status, body) = http(
        "POST",
        &format!("{base}/v1/account"),
        Some(account_body(dv, account, &user)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"account": account, "state": "new"}));

    let info = wait_state(base, account, "connected", Duration::from_secs(30)).await;
    assert_eq!(
        info["imap"]["auth"]["pass"], "******",
        "secrets are redacted: {info}"
    );
    assert!(!info.to_string().contains(&user.pass));
    expect_event(&hook, account, "authenticationSuccess", |_| true).await;

    let (status, list) = http("GET", &format!("{base}/v1/accounts"), None).await;
    assert_eq!(status, 200);
    let entry = list["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == account)
        .unwrap_or_else(|| panic!("{account} not in {list}"))
        .clone();
    assert_eq!(entry["state"], "connected");

    let (status, boxes) = http(
        "GET",
        &format!("{base}/v1/account/{account}/mailboxes"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{boxes}");
    let inbox = boxes["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "INBOX")
        .unwrap_or_else(|| panic!("no INBOX in {boxes}"))
        .clone();
    assert_eq!(inbox["messages"], 2, "{inbox}");
    assert_eq!(inbox["specialUse"], "\\Inbox");

    let url = format!("{base}/v1/account/{account}/messages?path=INBOX");
    let (status, page) = http("GET", &url, None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["page"], 0);
    assert_eq!(page["pages"], 1);
    let msgs = page["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    // Newest first, all text decoded to UTF-8.
    assert_eq!(msgs[0]["uid"], keep_uid);
    assert_eq!(msgs[0]["subject"], "Tere Põder");
    assert_eq!(msgs[0]["from"]["name"], "Peter Põder");
    assert_eq!(msgs[0]["from"]["address"], "peter@example.com");
    assert_eq!(msgs[0]["to"][0]["address"], "andris@example.com");
    assert!(
        msgs[0]["messageId"]
            .as_str()
            .unwrap()
            .ends_with("@example.com>")
    );
    assert!(msgs[0]["text"]["id"].is_string());
    assert!(msgs[0]["text"]["encodedSize"]["plain"].as_u64().unwrap() > 0);
    assert_eq!(msgs[1]["uid"], old_uid);

    let (status, page1) = http("GET", &format!("{url}&page=1&pageSize=1"), None).await;
    assert_eq!(status, 200);
    assert_eq!(page1["pages"], 2);
    assert_eq!(page1["messages"][0]["uid"], old_uid);

    let first_id = msgs[0]["id"].as_str().unwrap().to_string();
    let (status, msg) = http(
        "GET",
        &format!("{base}/v1/account/{account}/message/{first_id}?textType=*"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{msg}");
    assert_eq!(msg["subject"], "Tere Põder");
    assert!(
        msg["text"]["plain"]
            .as_str()
            .unwrap()
            .contains("hello there"),
        "{msg}"
    );
    assert!(
        msg["headers"]["subject"].is_array(),
        "headers by name: {msg}"
    );

    // Posting the same id again updates the account and reconnects it.
    let mut renamed = account_body(dv, account, &user);
    renamed["name"] = json!("Renamed");
    let (status, body) = http("POST", &format!("{base}/v1/account"), Some(renamed)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"account": account, "state": "existing"}));
    let info = wait_state(base, account, "connected", Duration::from_secs(30)).await;
    assert_eq!(info["name"], "Renamed");

    // Another client changes the mailbox: each change is a webhook with its content.
    let new_uid = other
        .append("INBOX", &mail("Uus kiri", "brand new"))
        .await
        .unwrap();
    let new = expect_event(&hook, account, "messageNew", |r| {
        r.body["data"]["uid"] == new_uid
    })
    .await;
    assert_eq!(new.body["path"], "INBOX");
    assert_eq!(new.body["data"]["subject"], "Uus kiri");
    assert_eq!(new.body["data"]["from"]["address"], "peter@example.com");
    let headers = new.body["data"]["headers"]
        .as_object()
        .expect("notifyHeaders");
    let names: Vec<String> = headers.keys().map(|k| k.to_ascii_lowercase()).collect();
    assert_eq!(names, ["content-type", "mime-version"], "{}", new.body);
    assert!(
        new.body["id"].is_string(),
        "events carry a unique id: {}",
        new.body
    );
    let new_id = new.body["data"]["id"].as_str().unwrap().to_string();

    // Settings changed while the account is connected apply from the next change on.
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/settings"),
        Some(json!({"notifyHeaders": ["Subject"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let later_uid = other
        .append("INBOX", &mail("Päis", "headers now"))
        .await
        .unwrap();
    let later = expect_event(&hook, account, "messageNew", |r| {
        r.body["data"]["uid"] == later_uid
    })
    .await;
    let names: Vec<String> = later.body["data"]["headers"]
        .as_object()
        .expect("notifyHeaders")
        .keys()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    assert_eq!(names, ["subject"], "{}", later.body);

    other.add_flags("INBOX", new_uid, "\\Seen").await.unwrap();
    let upd = expect_event(&hook, account, "messageUpdated", |r| {
        r.body["data"]["uid"] == new_uid
    })
    .await;
    assert_eq!(upd.body["data"]["id"], new_id.as_str());
    assert_eq!(
        upd.body["data"]["changes"]["flags"]["added"],
        json!(["\\Seen"])
    );

    other
        .remove_flags("INBOX", new_uid, "\\Seen")
        .await
        .unwrap();
    let upd = expect_event(&hook, account, "messageUpdated", |r| {
        r.body["data"]["uid"] == new_uid && r.body["data"]["changes"]["flags"]["deleted"].is_array()
    })
    .await;
    assert_eq!(
        upd.body["data"]["changes"]["flags"]["deleted"],
        json!(["\\Seen"])
    );

    other.expunge_uid("INBOX", old_uid).await.unwrap();
    let del = expect_event(&hook, account, "messageDeleted", |r| {
        r.body["data"]["uid"] == old_uid
    })
    .await;
    assert_eq!(del.body["path"], "INBOX");
    assert!(del.body["data"]["id"].is_string());

    // Delete: connection closed, no more events, the id is gone.
    let (status, body) = http("DELETE", &format!("{base}/v1/account/{account}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], true);
    let (status, _) = http("GET", &format!("{base}/v1/account/{account}"), None).await;
    assert_eq!(status, 404);
    // Give the owner a moment to drop the session, then make a change nobody may report.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = hook.drain().await;
    other
        .append("INBOX", &mail("After delete", "nobody listens"))
        .await
        .unwrap();
    let acc = account.to_string();
    let late = hook
        .wait_for(
            move |r| r.body["account"] == acc.as_str(),
            Duration::from_secs(3),
        )
        .await;
    assert!(
        late.is_none(),
        "event after delete: {:?}",
        late.map(|r| r.body)
    );

    // Registering the same id again starts clean: old ids never resolve to a message.
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/account"),
        Some(account_body(dv, account, &user)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["state"], "new");
    wait_state(base, account, "connected", Duration::from_secs(30)).await;
    let (status, err) = http(
        "GET",
        &format!("{base}/v1/account/{account}/message/{first_id}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "a stale id must not resolve: {err}");
    assert_eq!(err["statusCode"], 404);
    let (status, page) = http("GET", &url, None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        !ids.contains(&first_id.as_str()),
        "new registration reuses an old id: {ids:?}"
    );
    let (status, msg) = http(
        "GET",
        &format!("{base}/v1/account/{account}/message/{}", ids[0]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{msg}");

    let _ = http("DELETE", &format!("{base}/v1/account/{account}"), None).await;
    other.logout().await.ok();
    usage_is_counted(base).await;
    // Every event of the lifecycle, not only those looked at, follows the published schema.
    let rest = hook.drain().await;
    assert!(!rest.is_empty());
    for r in rest {
        crate::support::assert_valid_event(&r.body);
    }
}

/// Bad input is answered with the right status and a JSON error naming the problem.
pub async fn bad_input(base: &str) {
    let dv = Dovecot::ensure();
    let user = dv.create_user("bad");

    let r = crate::support::http_raw(
        "POST",
        &format!("{base}/v1/account"),
        "{\"account\": ",
        "application/json",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["statusCode"], 400);

    let (status, err) = http(
        "POST",
        &format!("{base}/v1/account"),
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["message"].as_str().unwrap().contains("account"),
        "{err}"
    );

    let mut body = account_body(dv, "badport", &user);
    body["imap"]["port"] = json!("993");
    let (status, err) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 400);
    assert!(
        err["message"].as_str().unwrap().contains("imap.port"),
        "{err}"
    );

    let (status, err) = http(
        "POST",
        &format!("{base}/v1/settings"),
        Some(json!({"webhooks": "not a url"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["message"].as_str().unwrap().contains("webhooks"),
        "{err}"
    );

    let (status, err) = http("GET", &format!("{base}/v1/account/nobody-here"), None).await;
    assert_eq!(status, 404, "{err}");
    assert_eq!(err["statusCode"], 404);
    let (status, _) = http(
        "GET",
        &format!("{base}/v1/account/nobody-here/messages?path=INBOX"),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A real, connected account for the id and folder cases.
    let account = format!("bad-{}", crate::support::unique_suffix());
    let (status, _) = http(
        "POST",
        &format!("{base}/v1/account"),
        Some(account_body(dv, &account, &user)),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(base, &account, "connected", Duration::from_secs(30)).await;
    for bad in ["AAAA", "AAAAAQAAAeEAAAAAAA", "!!not-base64!!"] {
        let (status, err) = http(
            "GET",
            &format!("{base}/v1/account/{account}/message/{bad}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{bad}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains("message"),
            "{bad}: {err}"
        );
    }
    let (status, err) = http(
        "GET",
        &format!("{base}/v1/account/{account}/message/AAAAAQAAAeE"),
        None,
    )
    .await;
    assert_eq!(status, 404, "unknown message: {err}");
    let (status, err) = http(
        "GET",
        &format!("{base}/v1/account/{account}/messages?path=No/Such/Folder"),
        None,
    )
    .await;
    assert_eq!(status, 404, "unknown folder: {err}");
    let (status, err) = http(
        "GET",
        &format!("{base}/v1/account/{account}/messages"),
        None,
    )
    .await;
    assert_eq!(status, 400, "missing path: {err}");
    assert!(err["message"].as_str().unwrap().contains("path"), "{err}");
    let _ = http("DELETE", &format!("{base}/v1/account/{account}"), None).await;
}

/// A wrong password and an unreachable host give visible error states and events, and
/// the gateway keeps serving the other accounts.
pub async fn connection_errors(base: &str) {
    let dv = Dovecot::ensure();
    let user = dv.create_user("err");
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;

    let wrong = format!("wrongpass-{}", crate::support::unique_suffix());
    let mut body = account_body(dv, &wrong, &user);
    body["imap"]["auth"]["pass"] = json!("not-the-password");
    let (status, _) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200);
    let info = wait_state(base, &wrong, "authenticationError", Duration::from_secs(30)).await;
    assert!(info["lastError"]["response"].is_string(), "{info}");
    assert!(!info.to_string().contains("not-the-password"));
    expect_event(&hook, &wrong, "authenticationError", |_| true).await;

    let unreachable = format!("unreachable-{}", crate::support::unique_suffix());
    let mut body = account_body(dv, &unreachable, &user);
    body["imap"]["port"] = json!(crate::support::free_port());
    let (status, _) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200);
    wait_state(base, &unreachable, "connectError", Duration::from_secs(30)).await;
    expect_event(&hook, &unreachable, "connectError", |_| true).await;
    let (status, err) = http(
        "GET",
        &format!("{base}/v1/account/{unreachable}/messages?path=INBOX"),
        None,
    )
    .await;
    assert_eq!(status, 503, "no connection: {err}");

    // Everything else still works.
    let good = format!("good-{}", crate::support::unique_suffix());
    let (status, _) = http(
        "POST",
        &format!("{base}/v1/account"),
        Some(account_body(dv, &good, &user)),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(base, &good, "connected", Duration::from_secs(30)).await;
    for a in [&wrong, &unreachable, &good] {
        let _ = http("DELETE", &format!("{base}/v1/account/{a}"), None).await;
    }
}

/// A failing receiver gets retries; when they run out the event is dead-lettered and
/// listed, never dropped. The gateway at `base` runs with `queue.retryDelay=200ms` and
/// `queue.maxAttempts=3`.
pub async fn retries_then_dead_letter(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    let user = dv.create_user("retry");
    let (status, _) = http(
        "POST",
        &format!("{base}/v1/account"),
        Some(account_body(dv, account, &user)),
    )
    .await;
    assert_eq!(status, 200);
    wait_state(base, account, "connected", Duration::from_secs(30)).await;
    expect_event(&hook, account, "authenticationSuccess", |_| true).await;
    let mut other = ImapTestClient::connect(dv, &user).await.unwrap();

    // Two failures, then success on the third attempt.
    hook.fail_next(2, 500);
    let uid = other.append("INBOX", &mail("retried", "x")).await.unwrap();
    let ok = expect_event(&hook, account, "messageNew", |r| {
        r.body["data"]["uid"] == uid && r.status == 200
    })
    .await;
    let event_id = ok.body["id"].as_str().unwrap().to_string();

    // Every attempt fails: after 3 the event is in the dead-letter list.
    hook.fail_next(1000, 503);
    let uid = other.append("INBOX", &mail("doomed", "y")).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, dl) = http("GET", &format!("{base}/v1/deadletters"), None).await;
        assert_eq!(status, 200, "{dl}");
        let found = dl["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"]["data"]["uid"] == uid)
            .cloned();
        if let Some(e) = found {
            assert_eq!(e["event"]["event"], "messageNew");
            assert_eq!(e["event"]["data"]["subject"], "doomed");
            assert_ne!(e["id"], event_id.as_str());
            assert_eq!(
                e["attempts"], 3,
                "dead-lettered after its three attempts: {e}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not dead-lettered: {dl}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let attempts = hook
        .drain()
        .await
        .into_iter()
        .filter(|r| r.event() == Some("messageNew") && r.body["data"]["uid"] == uid)
        .count();
    // Each attempt is a request unless the receiver's breaker held it back: three refusals
    // in a row (folder events meeting the refusals count too) open it, and an attempt
    // falling in its pause is handed back without a request, so all three may be held.
    assert!(
        attempts <= 3,
        "at most three requests before dead-lettering: {attempts}"
    );

    // Each failed request is counted (as many as the receiver refused: at least the three
    // above), each event once however often it was tried.
    assert!(hook.failed() >= 3, "{}", hook.failed());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let stats = loop {
        let stats = wait_counters(base, &[("events:messageNew", 2)]).await;
        if stats["counters"]["webhooks:fail"] == hook.failed() {
            break stats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "webhooks:fail never matched the {} refusals: {stats}",
            hook.failed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(stats["counters"]["events:messageNew"], 2, "{stats}");
}
