//! The changes feed as a consumer that was away uses it: take the state of a listing, miss
//! what happens next, then read exactly the missed events from
//! `GET /v1/account/:account/changes`, in pages, with their states; and the errors.

use std::time::Duration;

use serde_json::{Value, json};

use super::{connected_account, entry};
use crate::pipeline::mail;
use crate::support::{Dovecot, ImapTestClient, http};

/// The events after `since`, walked with `limit` per call; (events, final state).
async fn read_all(base: &str, account: &str, since: &str, limit: u32) -> (Vec<Value>, String) {
    let mut state = since.to_string();
    let mut events = Vec::new();
    for _ in 0..100 {
        let url = format!("{base}/v1/account/{account}/changes?since={state}&limit={limit}");
        let (status, page) = http("GET", &url, None).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["oldState"], state.as_str());
        let changes = page["changes"].as_array().unwrap();
        assert!(changes.len() <= limit as usize, "{page}");
        events.extend(changes.iter().cloned());
        state = page["newState"].as_str().unwrap().to_string();
        if page["hasMoreChanges"] != true {
            return (events, state);
        }
    }
    panic!("the feed never ended");
}

/// The feed after `since` once `done` says it holds what is awaited (or after 20 s).
async fn wait_for_feed(
    base: &str,
    account: &str,
    since: &str,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (events, state) = read_all(base, account, since, 100).await;
        if done(&events) || tokio::time::Instant::now() > deadline {
            return (events, state);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The missed events: three new messages and one flag change, exactly, in order.
pub async fn changes_feed(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let list_url = format!("{base}/v1/account/{account}/messages?path=INBOX");
    let (status, list) = http("GET", &list_url, None).await;
    assert_eq!(status, 200, "{list}");
    let since = list["state"]
        .as_str()
        .expect("a listing carries the state")
        .to_string();

    // While the consumer is away: three messages arrive, one is flagged.
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    let mut uids = Vec::new();
    for n in 0..3 {
        uids.push(
            imap.append("INBOX", &mail(&format!("missed {n}"), "x"))
                .await
                .unwrap(),
        );
    }
    imap.logout().await.ok();
    // Flagged once the watcher has seen it arrive (else it arrives flagged).
    wait_for_feed(base, account, &since, |events| {
        events.iter().filter(|e| e["event"] == "messageNew").count() == 3
    })
    .await;
    let flagged = entry(base, account, "INBOX", uids[1]).await;
    let url = format!(
        "{base}/v1/account/{account}/message/{}",
        flagged["id"].as_str().unwrap()
    );
    let (status, r) = http("PUT", &url, Some(json!({"flags": {"add": ["\\Flagged"]}}))).await;
    assert_eq!(status, 200, "{r}");

    // Back: the feed has exactly what was missed, each event with a growing state.
    let (events, state) = wait_for_feed(base, account, &since, |events| {
        events.iter().any(|e| e["event"] == "messageUpdated")
    })
    .await;
    let kinds: Vec<(&str, u64)> = events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap(),
                e["data"]["uid"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(&str, u64)> = uids
        .iter()
        .map(|u| ("messageNew", u64::from(*u)))
        .chain([("messageUpdated", u64::from(uids[1]))])
        .collect();
    assert_eq!(kinds, expected, "exactly the missed events: {events:?}");
    let states: Vec<u64> = events
        .iter()
        .map(|e| e["state"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(states.windows(2).all(|w| w[0] < w[1]), "{states:?}");
    assert_eq!(
        state,
        states.last().unwrap().to_string(),
        "newState is the last one"
    );
    assert_eq!(
        events[3]["data"]["changes"]["flags"]["added"],
        json!(["\\Flagged"])
    );

    // One at a time gives the same events.
    let (one_by_one, last) = read_all(base, account, &since, 1).await;
    assert_eq!(one_by_one, events);
    assert_eq!(last, state);
    // Up to date: nothing more, the state unchanged.
    let (none, same) = read_all(base, account, &state, 10).await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(same, state);
    // A message's details carry the state too.
    let (status, d) = http("GET", &url, None).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["state"], state.as_str(), "{d}");

    // A state the account never had: 410 with the state to follow from.
    let ahead: u64 = state.parse::<u64>().unwrap() + 1000;
    let feed = format!("{base}/v1/account/{account}/changes");
    let (status, gone) = http("GET", &format!("{feed}?since={ahead}"), None).await;
    assert_eq!(status, 410, "{gone}");
    assert_eq!(gone["code"], "cannotCalculateChanges");
    assert_eq!(gone["state"], state.as_str(), "{gone}");
    for bad in ["", "?since=abc", "?since=1&limit=0", "?since=1&other=1"] {
        let (status, e) = http("GET", &format!("{feed}{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {e}");
        assert!(e["fields"][0]["key"].is_string(), "{bad}: {e}");
    }
    let (status, e) = http(
        "GET",
        &format!("{base}/v1/account/nobody-here/changes?since=0"),
        None,
    )
    .await;
    assert_eq!(status, 404, "{e}");
}
