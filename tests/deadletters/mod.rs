//! End to end: what an operator does with dead letters once the webhook receiver is fixed,
//! over REST against the real binary: send them again (one by id, then the rest) or drop
//! them for good, and a bad id is refused naming its field. Events are made dead letters
//! by a receiver that refuses everything while mail arrives in Dovecot; the gateway is
//! expected to run with a short retry schedule (`--queue.maxAttempts=2
//! --queue.retryDelay=200ms`) and a short breaker pause (`--webhooks.breakerMaxPause=100ms`),
//! so that a redriven event reaches the receiver instead of being held back again.

use std::time::Duration;

use serde_json::{Value, json};

use crate::pipeline::{account_body, expect_event, mail, set_webhooks, wait_state};
use crate::support::{Dovecot, ImapTestClient, WebhookReceiver, http};

/// How long events may take to run out of attempts, or to arrive once sent again.
const WAIT: Duration = Duration::from_secs(30);
/// How long we watch for a delivery that must not happen.
const QUIET: Duration = Duration::from_millis(1500);

/// The whole scenario on the gateway at `base`, with a new account `account`.
pub async fn redrive_and_drop(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    let user = dv.create_user(account);
    let url = format!("{base}/v1/account");
    let (status, body) = http("POST", &url, Some(account_body(dv, account, &user))).await;
    assert_eq!(status, 200, "{body}");
    wait_state(base, account, "connected", WAIT).await;
    expect_event(&hook, account, "authenticationSuccess", |_| true).await;
    let mut other = ImapTestClient::connect(dv, &user).await.unwrap();

    bad_ids_are_named(base).await;

    let doomed = bury(base, &hook, &mut other, &["first", "second", "third"]).await;
    redrive_one(base, &hook, &doomed[0], &doomed[1..]).await;
    redrive_the_rest(base, &hook, &doomed[1..]).await;

    let doomed = bury(base, &hook, &mut other, &["fourth", "fifth"]).await;
    drop_them(base, &hook, &doomed).await;
}

/// The dead letters as listed (`{id, attempts, event}`, oldest first).
async fn listed(base: &str) -> Vec<Value> {
    let (status, body) = http("GET", &format!("{base}/v1/deadletters?limit=1000"), None).await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().cloned().unwrap_or_default()
}

fn ids_of(letters: &[Value]) -> Vec<&str> {
    letters.iter().filter_map(|l| l["id"].as_str()).collect()
}

/// Appends one mail per subject while the receiver refuses everything, and waits until
/// each one's `messageNew` is a dead letter; returns those dead letters, in that order.
/// The receiver answers 200 again, with what it got so far forgotten.
async fn bury(
    base: &str,
    hook: &WebhookReceiver,
    other: &mut ImapTestClient,
    subjects: &[&str],
) -> Vec<Value> {
    hook.fail_next(u32::MAX, 503);
    let mut uids = Vec::new();
    for subject in subjects {
        uids.push(other.append("INBOX", &mail(subject, "x")).await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    let found = loop {
        let letters = listed(base).await;
        let found: Vec<Value> = uids
            .iter()
            .filter_map(|uid| {
                letters
                    .iter()
                    .find(|l| {
                        l["event"]["event"] == "messageNew" && l["event"]["data"]["uid"] == *uid
                    })
                    .cloned()
            })
            .collect();
        if found.len() == uids.len() {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all dead-lettered: {letters:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(found.iter().all(|l| l["attempts"] == 2), "{found:?}");
    hook.fail_next(0, 200);
    hook.drain().await;
    found
}

/// Waits for the delivery of `letter`'s event and checks it is the event as published,
/// on its first attempt again.
async fn expect_delivery(hook: &WebhookReceiver, letter: &Value) {
    let event_id = letter["event"]["id"].clone();
    let got = hook
        .wait_for(|r| r.body["id"] == event_id && r.status == 200, WAIT)
        .await
        .unwrap_or_else(|| panic!("{event_id} not delivered again within {WAIT:?}"));
    assert_eq!(got.body, letter["event"], "the same event");
    // Attempts start over: 1, or 2 when the receiver's breaker, still open from the
    // refusals, held the first back (a redrive that kept counting would start at 3).
    let attempt = got.header("x-imapapi-attempt");
    assert!(
        matches!(attempt, Some("1" | "2")),
        "attempts start over: {attempt:?}"
    );
}

/// Nothing of `letters` reaches the receiver for a while.
async fn expect_no_delivery(hook: &WebhookReceiver, letters: &[Value]) {
    tokio::time::sleep(QUIET).await;
    let events: Vec<&Value> = letters.iter().map(|l| &l["event"]["id"]).collect();
    let late: Vec<Value> = hook
        .drain()
        .await
        .into_iter()
        .filter(|r| events.contains(&&r.body["id"]))
        .map(|r| r.body)
        .collect();
    assert!(late.is_empty(), "delivered though not asked for: {late:?}");
}

/// Redriving one id sends exactly that event, which leaves the dead letters.
async fn redrive_one(base: &str, hook: &WebhookReceiver, letter: &Value, others: &[Value]) {
    let url = format!("{base}/v1/deadletters/redrive");
    let (status, body) = http("POST", &url, Some(json!({"ids": [letter["id"]]}))).await;
    assert_eq!((status, &body), (200, &json!({"redriven": 1})));
    expect_delivery(hook, letter).await;
    expect_no_delivery(hook, others).await;
    let left = listed(base).await;
    assert!(
        !ids_of(&left).contains(&letter["id"].as_str().unwrap()),
        "{left:?}"
    );
    for other in ids_of(others) {
        assert!(
            ids_of(&left).contains(&other),
            "{other} left the dead letters: {left:?}"
        );
    }
}

/// Redriving without ids sends every dead letter, and the listing is empty.
async fn redrive_the_rest(base: &str, hook: &WebhookReceiver, letters: &[Value]) {
    let before = listed(base).await.len();
    assert!(before >= letters.len());
    let url = format!("{base}/v1/deadletters/redrive");
    let (status, body) = http("POST", &url, Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redriven"], before, "{body}");
    for letter in letters {
        expect_delivery(hook, letter).await;
    }
    assert_eq!(listed(base).await, Vec::<Value>::new());
}

/// Deleting by id drops that one, deleting without drops the rest; none is delivered.
async fn drop_them(base: &str, hook: &WebhookReceiver, letters: &[Value]) {
    let first = letters[0]["id"].as_str().unwrap();
    let url = format!("{base}/v1/deadletters?id={first}");
    let (status, body) = http("DELETE", &url, None).await;
    assert_eq!((status, &body), (200, &json!({"deleted": 1})));
    let left = listed(base).await;
    assert!(!ids_of(&left).contains(&first), "{left:?}");
    let (status, body) = http("DELETE", &format!("{base}/v1/deadletters"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], left.len(), "{body}");
    assert_eq!(listed(base).await, Vec::<Value>::new());
    expect_no_delivery(hook, letters).await;
}

/// A bad id is refused, naming where it was; nothing is touched.
async fn bad_ids_are_named(base: &str) {
    let url = format!("{base}/v1/deadletters/redrive");
    let (status, err) = http("POST", &url, Some(json!({"ids": ["not-a-uuid"]}))).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["fields"][0]["key"], "ids[0]", "{err}");
    let (status, err) = http("DELETE", &format!("{base}/v1/deadletters?id=nope"), None).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["fields"][0]["key"], "id", "{err}");
    let (status, err) = http("DELETE", &format!("{base}/v1/deadletters?limit=1"), None).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["fields"][0]["key"], "limit", "{err}");
}
