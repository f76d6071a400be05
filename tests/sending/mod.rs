//! Sending scenarios, shared by the embedded and distributed end-to-end tests: through the
//! api, the submit role and the real Postfix into the real Dovecot, where the gateway's own
//! ingest sees the mail arrive.

use std::time::Duration;

use serde_json::{Value, json};

use crate::pipeline::{account_body, expect_event, mail, set_webhooks, wait_state};
use crate::routes::{entry, wait_synced};
use crate::support::{
    Dovecot, ImapTestClient, Postfix, Script, ScriptedSmtp, TestUser, WebhookReceiver, http,
    request,
};

/// Register `id` for `user`, sending through the test Postfix, and wait for its first sync.
pub async fn sending_account(base: &str, id: &str, user: &TestUser) {
    let dv = Dovecot::ensure();
    let mut body = account_body(dv, id, user);
    body["smtp"] = Postfix::ensure().smtp_account_json(user, false);
    let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_synced(base, id).await;
}

/// The raw bytes of the message with `message_id` in `user`'s INBOX Maildir, once there.
async fn maildir_message(dv: &Dovecot, user: &str, message_id: &str) -> Vec<u8> {
    let inbox = dv.maildir_path(user, "INBOX");
    let needle = format!("Message-ID: {message_id}");
    for _ in 0..150 {
        for sub in ["new", "cur"] {
            let Ok(dir) = std::fs::read_dir(inbox.join(sub)) else {
                continue;
            };
            for file in dir.flatten() {
                let raw = std::fs::read(file.path()).unwrap_or_default();
                if String::from_utf8_lossy(&raw).contains(&needle) {
                    return raw;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{message_id} never reached {user}'s INBOX");
}

/// Poll until `check` finds what it wants in a GET of `url`.
pub async fn poll(url: &str, what: &str, check: impl Fn(u16, &Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        let (status, body) = http("GET", url, None).await;
        if check(status, &body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} never happened; last answer: {last}");
}

/// A reply sent through the api reaches the recipient's INBOX (announced by our own ingest
/// as `messageNew`), is reported with `messageSent`, leaves a copy in the sender's Sent
/// folder and `\Answered` on the original, and leaves the outbox.
pub async fn reply_reaches_the_recipient(base: &str, sender: &str, recipient: &str) {
    let dv = Dovecot::ensure();
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    let from = dv.create_user(sender);
    let to = dv.create_user(recipient);
    let hidden = dv.create_user("hidden");
    sending_account(base, sender, &from).await;
    sending_account(base, recipient, &to).await;

    // The message to reply to, in the sender's INBOX.
    let mut other = ImapTestClient::connect(dv, &from).await.unwrap();
    let uid = other
        .append("INBOX", &mail("Küsimus", "kas sa tuled?"))
        .await
        .unwrap();
    let original = entry(base, sender, "INBOX", uid).await;
    let original_id = original["id"].as_str().unwrap().to_string();

    let submit = json!({
        "reference": {"message": original_id, "action": "reply"},
        "from": {"name": "Saatja Põder", "address": format!("{}@example.com", from.user)},
        "to": [{"name": "Saaja", "address": format!("{}@example.com", to.user)}],
        "bcc": [{"address": format!("{}@example.com", hidden.user)}],
        "text": "Jah, tulen.",
        "html": "<p>Jah, tulen.</p>",
        "attachments": [{"filename": "märkmed.txt", "content": "aGVsbG8="}],
    });
    let (status, queued) = http(
        "POST",
        &format!("{base}/v1/account/{sender}/submit"),
        Some(submit),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let message_id = queued["messageId"].as_str().unwrap().to_string();
    let queue_id = queued["queueId"].as_str().unwrap().to_string();
    assert!(
        message_id.starts_with('<') && message_id.ends_with('>'),
        "{queued}"
    );

    let arrived = expect_event(&hook, recipient, "messageNew", |r| {
        r.body["data"]["messageId"] == message_id.as_str()
    })
    .await;
    assert_eq!(arrived.body["path"], "INBOX");
    assert_eq!(arrived.body["data"]["subject"], "Re: Küsimus");
    assert_eq!(arrived.body["data"]["from"]["name"], "Saatja Põder");
    assert_eq!(
        arrived.body["data"]["inReplyTo"], original["messageId"],
        "{}",
        arrived.body
    );
    assert_eq!(
        arrived.body["data"]["attachments"][0]["filename"],
        "märkmed.txt"
    );
    let sent = expect_event(&hook, sender, "messageSent", |r| {
        r.body["data"]["queueId"] == queue_id.as_str()
    })
    .await;
    assert_eq!(sent.body["data"]["messageId"], message_id.as_str());
    assert!(
        sent.body["data"]["response"]
            .as_str()
            .is_some_and(|r| r.starts_with("250")),
        "{}",
        sent.body
    );

    // Follow-ups: the Sent copy (seen) and the flag on the original.
    let sent_list = format!("{base}/v1/account/{sender}/messages?path=Sent");
    let copies = poll(&sent_list, "the Sent copy", |s, b| {
        s == 200
            && b["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["messageId"] == message_id.as_str()))
    })
    .await;
    let copy = copies["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["messageId"] == message_id.as_str())
        .unwrap();
    assert_eq!(copy["unseen"], false, "the copy is seen: {copy}");
    // Byte for byte: what arrived is the Sent copy behind the servers' trace headers, and
    // the Bcc recipient got it without a Bcc header anywhere.
    let copy_id = copy["id"].as_str().unwrap();
    let source_url = format!("{base}/v1/account/{sender}/message/{copy_id}/source");
    let sent_bytes = crate::support::http_raw("GET", &source_url, Vec::new(), "text/plain")
        .await
        .body;
    assert!(!sent_bytes.is_empty());
    // Dovecot keeps Maildir files with LF line ends and serves CRLF, and SMTP ends the
    // data with a line break: compare in LF, without trailing line breaks.
    let lf = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace("\r\n", "\n")
            .trim_end_matches('\n')
            .to_string()
    };
    let sent_text = lf(&sent_bytes);
    for user in [&to, &hidden] {
        let delivered = maildir_message(dv, &user.user, &message_id).await;
        assert!(
            lf(&delivered).ends_with(&sent_text),
            "delivered to {} differs from the Sent copy",
            user.user
        );
        let text = String::from_utf8_lossy(&delivered).to_ascii_lowercase();
        assert!(
            !text.contains("\nbcc:"),
            "a Bcc header reached {}",
            user.user
        );
    }
    assert_eq!(copy["flags"], json!(["\\Seen"]), "{copy}");
    let flagged = format!("{base}/v1/account/{sender}/message/{original_id}");
    poll(&flagged, "\\Answered on the original", |s, b| {
        s == 200
            && b["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == "\\Answered"))
    })
    .await;
    let done = format!("{base}/v1/outbox/{queue_id}");
    poll(&done, "the send leaving the outbox", |s, _| s == 404).await;

    // A forward carries the original whole, as an attached message, and flags it.
    let forward = json!({
        "reference": {"message": original_id, "action": "forward"},
        "from": {"address": format!("{}@example.com", from.user)},
        "to": [{"address": format!("{}@example.com", to.user)}],
        "text": "Vaata seda.",
    });
    let (status, queued) = http(
        "POST",
        &format!("{base}/v1/account/{sender}/submit"),
        Some(forward),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let forwarded_id = queued["messageId"].as_str().unwrap().to_string();
    let arrived = expect_event(&hook, recipient, "messageNew", |r| {
        r.body["data"]["messageId"] == forwarded_id.as_str()
    })
    .await;
    assert_eq!(arrived.body["data"]["subject"], "Fwd: Küsimus");
    let attached = &arrived.body["data"]["attachments"][0];
    assert_eq!(
        attached["contentType"], "message/rfc822",
        "{}",
        arrived.body
    );
    assert_eq!(attached["filename"], "Küsimus.eml", "{}", arrived.body);
    poll(&flagged, "$Forwarded on the original", |s, b| {
        s == 200
            && b["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == "$Forwarded"))
    })
    .await;

    // With `inline`, a forward quotes the original's text instead of attaching it.
    let inline = json!({
        "reference": {"message": original_id, "action": "forward", "inline": true},
        "from": {"address": format!("{}@example.com", from.user)},
        "to": [{"address": format!("{}@example.com", to.user)}],
        "text": "Vaata allpool.",
    });
    let (status, queued) = http(
        "POST",
        &format!("{base}/v1/account/{sender}/submit"),
        Some(inline),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let inline_id = queued["messageId"].as_str().unwrap().to_string();
    let arrived = expect_event(&hook, recipient, "messageNew", |r| {
        r.body["data"]["messageId"] == inline_id.as_str()
    })
    .await;
    assert_eq!(arrived.body["data"]["subject"], "Fwd: Küsimus");
    assert!(
        arrived.body["data"]["attachments"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{}",
        arrived.body
    );
    let url = format!(
        "{base}/v1/account/{recipient}/message/{}?textType=plain",
        arrived.body["data"]["id"].as_str().unwrap()
    );
    let (status, message) = http("GET", &url, None).await;
    assert_eq!(status, 200, "{message}");
    let text = message["text"]["plain"].as_str().unwrap_or_default();
    assert!(text.starts_with("Vaata allpool."), "{text}");
    assert!(
        text.contains("---------- Forwarded message ----------"),
        "{text}"
    );
    assert!(text.contains("Subject: Küsimus"), "{text}");
    assert!(text.contains("kas sa tuled?"), "{text}");

    // Scheduled two seconds ahead: it goes out then, not before.
    let wait = Duration::from_secs(2);
    let at = chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap();
    let scheduled = json!({
        "from": {"address": format!("{}@example.com", from.user)},
        "to": [{"address": format!("{}@example.com", to.user)}],
        "subject": "hiljem", "text": "x",
        "sendAt": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    let started = std::time::Instant::now();
    let (status, queued) = http(
        "POST",
        &format!("{base}/v1/account/{sender}/submit"),
        Some(scheduled),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let later_id = queued["messageId"].as_str().unwrap().to_string();
    expect_event(&hook, recipient, "messageNew", |r| {
        r.body["data"]["messageId"] == later_id.as_str()
    })
    .await;
    assert!(
        started.elapsed() + Duration::from_millis(100) >= wait,
        "arrived after {:?}, scheduled {wait:?} ahead",
        started.elapsed()
    );
    other.logout().await.ok();
}

/// Bad input is refused before anything is queued; a refused login fails the send for
/// good (`messageFailed`, the entry `failed` in the outbox until deleted); a scheduled send
/// waits in the outbox and can be cancelled.
pub async fn refusals_and_the_outbox(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    let user = dv.create_user(account);
    let mut body = account_body(dv, account, &user);
    let mut smtp = Postfix::ensure().smtp_account_json(&user, false);
    smtp["auth"]["pass"] = json!("not the password");
    body["smtp"] = smtp;
    let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_state(base, account, "connected", Duration::from_secs(30)).await;
    let url = format!("{base}/v1/account/{account}/submit");
    let from = json!({"address": format!("{}@example.com", user.user)});
    let to = json!([{"address": "nobody@example.com"}]);

    for (bad, key) in [
        (json!({"from": from, "text": "x"}), "to"),
        (json!({"from": from, "to": to, "sendAt": "soon"}), "sendAt"),
        (json!({"from": from, "to": to, "surprise": 1}), "surprise"),
        (
            json!({"from": from, "to": to, "headers": {"X-Evil": "a\r\nBcc: x@example.com"}}),
            "headers.X-Evil",
        ),
        (
            json!({"from": from, "to": to, "reference": {"message": "nope", "action": "reply"}}),
            "reference.message",
        ),
    ] {
        let (status, err) = http("POST", &url, Some(bad)).await;
        assert_eq!(status, 400, "{err}");
        assert!(
            err["fields"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["key"] == key)),
            "{key} not named: {err}"
        );
    }
    let missing = json!({"from": from, "to": to,
        "reference": {"message": crate::routes::MISSING_ID, "action": "reply"}});
    let (status, err) = http("POST", &url, Some(missing)).await;
    assert_eq!(
        status, 404,
        "a reply to a missing message is not sent: {err}"
    );
    let (status, list) = http("GET", &format!("{base}/v1/outbox"), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 0, "nothing refused was queued: {list}");

    // The server refuses the login: failed for good, at once.
    let (status, queued) = http(
        "POST",
        &url,
        Some(json!({"from": from, "to": to, "subject": "never", "text": "x"})),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let queue_id = queued["queueId"].as_str().unwrap().to_string();
    let failed = expect_event(&hook, account, "messageFailed", |r| {
        r.body["data"]["queueId"] == queue_id.as_str()
    })
    .await;
    assert!(
        failed.body["data"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("535")),
        "{}",
        failed.body
    );
    assert!(!failed.body.to_string().contains("not the password"));
    let entry_url = format!("{base}/v1/outbox/{queue_id}");
    let entry = poll(&entry_url, "the failed entry", |s, b| {
        s == 200 && b["state"] == "failed"
    })
    .await;
    assert_eq!(entry["attempts"], 1, "{entry}");
    let (status, gone) = http("DELETE", &entry_url, None).await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["deleted"], true);

    // Scheduled an hour ahead: listed as queued, and cancelled before it is sent. Sent
    // twice with one idempotency key: queued once, the second answer the first's.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let scheduled = json!({"from": from, "to": to, "text": "later", "sendAt": later});
    let once = || async {
        let body = serde_json::to_vec(&scheduled).unwrap();
        let r = request(
            "POST",
            &url,
            &[("Idempotency-Key", "order-42")],
            body,
            Some("application/json"),
        )
        .await
        .unwrap();
        let replayed = r.header("idempotent-replayed").map(str::to_string);
        (
            r.status,
            serde_json::from_slice::<Value>(&r.body).unwrap(),
            replayed,
        )
    };
    let (status, queued, replayed) = once().await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(replayed, None);
    assert!(queued["sendAt"].is_string(), "{queued}");
    let (status, again, replayed) = once().await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, queued, "the second answer is the first");
    assert_eq!(replayed.as_deref(), Some("true"));
    let queue_id = queued["queueId"].as_str().unwrap();
    let (status, list) = http("GET", &format!("{base}/v1/outbox"), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1, "queued once: {list}");
    assert_eq!(list["messages"][0]["queueId"], queue_id, "{list}");
    assert_eq!(list["messages"][0]["state"], "queued", "{list}");
    let entry_url = format!("{base}/v1/outbox/{queue_id}");
    let (status, gone) = http("DELETE", &entry_url, None).await;
    assert_eq!(status, 200, "{gone}");
    let (status, _) = http("GET", &entry_url, None).await;
    assert_eq!(status, 404);
    let (status, _) = http("DELETE", &entry_url, None).await;
    assert_eq!(status, 404);
}

/// Register `id` sending through a scripted SMTP server.
async fn scripted_account(base: &str, id: &str, server: &ScriptedSmtp) -> TestUser {
    let dv = Dovecot::ensure();
    let user = dv.create_user(id);
    let mut body = account_body(dv, id, &user);
    body["smtp"] = server.account_json();
    let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_synced(base, id).await;
    user
}

/// Queue one message from `user` and return its queue id.
async fn queue_one(base: &str, account: &str, user: &TestUser, subject: &str) -> String {
    let submit = json!({
        "from": {"address": format!("{}@example.com", user.user)},
        "to": [{"address": "somebody@example.com"}],
        "subject": subject, "text": "x"});
    let url = format!("{base}/v1/account/{account}/submit");
    let (status, queued) = http("POST", &url, Some(submit)).await;
    assert_eq!(status, 200, "{queued}");
    queued["queueId"].as_str().unwrap().to_string()
}

/// A server that answers 451 twice: each refusal is a `messageDeliveryError`, the third
/// attempt goes through (`messageSent`), and the server got the message once. A server
/// that answers 554 fails the send at once (`messageFailed`, no retry). The gateway runs
/// with a short `submit.retryDelay`.
pub async fn temporary_failures_are_retried(base: &str, account: &str) {
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    // Dispatch reads the settings through a cache of up to 1 s: the first refusal comes
    // within that, and would go to the receiver set before this one.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let flaky = ScriptedSmtp::start(Script::TemporaryFirst(2));
    let user = scripted_account(base, account, &flaky).await;
    let queue_id = queue_one(base, account, &user, "retried").await;
    for attempt in [1, 2] {
        let failed = expect_event(&hook, account, "messageDeliveryError", |r| {
            r.body["data"]["queueId"] == queue_id.as_str() && r.body["data"]["attempt"] == attempt
        })
        .await;
        assert!(
            failed.body["data"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("451")),
            "{}",
            failed.body
        );
    }
    let sent = expect_event(&hook, account, "messageSent", |r| {
        r.body["data"]["queueId"] == queue_id.as_str()
    })
    .await;
    assert_eq!(sent.body["data"]["response"], "250 2.0.0 Accepted as 1");
    let accepted = flaky.accepted();
    assert_eq!(accepted.len(), 1, "sent once");
    assert!(String::from_utf8_lossy(&accepted[0]).contains("Subject: retried"));
    assert_eq!(flaky.answers().len(), 3, "{:?}", flaky.answers());
    let entry_url = format!("{base}/v1/outbox/{queue_id}");
    poll(&entry_url, "the send leaving the outbox", |s, _| s == 404).await;

    // A connection dropped before the answer is a temporary failure too.
    let dropping = ScriptedSmtp::start(Script::DropFirst(1));
    let other = format!("{account}-dropped");
    let user = scripted_account(base, &other, &dropping).await;
    let queue_id = queue_one(base, &other, &user, "dropped").await;
    expect_event(&hook, &other, "messageDeliveryError", |r| {
        r.body["data"]["queueId"] == queue_id.as_str()
    })
    .await;
    expect_event(&hook, &other, "messageSent", |r| {
        r.body["data"]["queueId"] == queue_id.as_str()
    })
    .await;
    assert_eq!(dropping.accepted().len(), 1, "{:?}", dropping.answers());

    let refusing = ScriptedSmtp::start(Script::Permanent);
    let other = format!("{account}-refused");
    let user = scripted_account(base, &other, &refusing).await;
    let queue_id = queue_one(base, &other, &user, "refused").await;
    let failed = expect_event(&hook, &other, "messageFailed", |r| {
        r.body["data"]["queueId"] == queue_id.as_str()
    })
    .await;
    assert!(
        failed.body["data"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("554")),
        "{}",
        failed.body
    );
    // No retry follows a permanent refusal.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(refusing.answers().len(), 1, "{:?}", refusing.answers());
    let (status, entry) = http("GET", &format!("{base}/v1/outbox/{queue_id}"), None).await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["state"], "failed");
}

/// With `service.localAddresses=127.0.0.2|sender.test.example` the SMTP connection comes
/// from that address and greets with that name: Postfix's Received header says so. The
/// account has `copy: false`: no Sent copy is stored.
pub async fn sends_from_the_local_address(base: &str) {
    let dv = Dovecot::ensure();
    let from = dv.create_user("bound");
    let to = dv.create_user("bound-to");
    let mut body = account_body(dv, "bound", &from);
    body["smtp"] = Postfix::ensure().smtp_account_json(&from, false);
    body["copy"] = json!(false);
    let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_synced(base, "bound").await;
    let submit = json!({
        "from": {"address": format!("{}@example.com", from.user)},
        "to": [{"address": format!("{}@example.com", to.user)}],
        "subject": "from a chosen address", "text": "x"});
    let (status, queued) = http(
        "POST",
        &format!("{base}/v1/account/bound/submit"),
        Some(submit),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let new = dv.maildir_path(&to.user, "INBOX").join("new");
    let mut raw = String::new();
    for _ in 0..150 {
        if let Some(file) = std::fs::read_dir(&new).ok().and_then(|mut d| d.next()) {
            raw = std::fs::read_to_string(file.unwrap().path()).unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let smtp_hop = raw
        .lines()
        .find(|l| l.starts_with("Received: from sender.test.example"))
        .unwrap_or_else(|| panic!("no Received header from the EHLO name: {raw}"));
    assert!(smtp_hop.contains("[127.0.0.2]"), "{raw}");
    let entry_url = format!("{base}/v1/outbox/{}", queued["queueId"].as_str().unwrap());
    poll(&entry_url, "the send leaving the outbox", |s, _| s == 404).await;
    let sent = format!("{base}/v1/account/bound/messages?path=Sent");
    let (status, list) = http("GET", &sent, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 0, "copy: false stores no Sent copy: {list}");
}
