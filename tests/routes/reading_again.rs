//! Reading the same messages again: listings and details of mail read before come from
//! ingest's message cache with flags fetched fresh (ingest/src/message_cache.rs). What a
//! user sees must be what the server has now: flags changed by another client, messages
//! expunged or added between two reads, and a folder deleted and made again under the
//! same name (new UIDVALIDITY, UIDs from 1 again) never show what was read before.
//! Details read again by many callers at once have their flags read in one FETCH
//! (ingest/src/flag_reads.rs): each caller still gets its own message's flags.

use std::time::Duration;

use serde_json::Value;

use super::{connected_account, entry, urlencode};
use crate::pipeline::mail;
use crate::support::{Dovecot, ImapTestClient, http};

async fn page(base: &str, account: &str, path: &str) -> Value {
    let url = format!(
        "{base}/v1/account/{account}/messages?path={}&pageSize=50",
        urlencode(path)
    );
    let (status, page) = http("GET", &url, None).await;
    assert_eq!(status, 200, "{page}");
    page
}

fn by_uid(page: &Value, uid: u32) -> Option<&Value> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["uid"] == uid)
}

async fn details(base: &str, account: &str, id: &str, query: &str) -> Value {
    let (status, d) = http(
        "GET",
        &format!("{base}/v1/account/{account}/message/{id}{query}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{d}");
    d
}

/// The listing entry with only what flags decide taken out.
fn without_flags(e: &Value) -> Value {
    let mut e = e.clone();
    for k in ["flags", "unseen", "flagged", "answered", "draft", "labels"] {
        e.as_object_mut().unwrap().remove(k);
    }
    e
}

pub async fn reading_again(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    let first = imap.append("INBOX", &mail("first", "one")).await.unwrap();
    let second = imap.append("INBOX", &mail("second", "two")).await.unwrap();
    entry(base, account, "INBOX", second).await;

    // Read once (fills the cache), change flags behind the gateway's back, read again.
    let before = page(base, account, "INBOX").await;
    let id = by_uid(&before, first).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let d1 = details(base, account, &id, "?textType=*").await;
    assert_eq!(d1["unseen"], true, "{d1}");
    imap.add_flags("INBOX", first, "\\Seen \\Flagged $Project")
        .await
        .unwrap();
    let after = page(base, account, "INBOX").await;
    let e = by_uid(&after, first).unwrap();
    assert_eq!(e["unseen"], false, "{e}");
    assert_eq!(e["flagged"], true, "{e}");
    let flags: Vec<&str> = e["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(flags.contains(&"$Project"), "{flags:?}");
    assert_eq!(
        without_flags(e),
        without_flags(by_uid(&before, first).unwrap()),
        "what never changes reads the same"
    );
    let d2 = details(base, account, &id, "?textType=*").await;
    assert_eq!(d2["flagged"], true, "{d2}");
    assert_eq!(d2["text"], d1["text"], "the text reads the same");
    assert_eq!(d2["headers"], d1["headers"]);
    assert_eq!(d2["subject"], "first");
    let plain = details(base, account, &id, "").await;
    assert!(plain.get("text").is_none_or(Value::is_null), "{plain}");
    imap.remove_flags("INBOX", first, "\\Flagged")
        .await
        .unwrap();
    let d3 = details(base, account, &id, "").await;
    assert_eq!(d3["flagged"], false, "{d3}");

    // Expunged and added between reads.
    imap.expunge_uid("INBOX", second).await.unwrap();
    let third = imap.append("INBOX", &mail("third", "three")).await.unwrap();
    let now = page(base, account, "INBOX").await;
    assert!(
        by_uid(&now, second).is_none(),
        "expunged mail is gone: {now}"
    );
    assert_eq!(by_uid(&now, third).unwrap()["subject"], "third");
    assert_eq!(by_uid(&now, first).unwrap()["subject"], "first");

    many_at_once(base, account, &mut imap).await;

    // Same name, new folder: once the gateway has seen the new one (until then it may
    // answer from its selection of the old one, as any IMAP client holding it would),
    // nothing read from the old one shows again.
    imap.create_mailbox("Reused").await.unwrap();
    let old = imap
        .append("Reused", &mail("old folder", "x"))
        .await
        .unwrap();
    assert_eq!(
        entry(base, account, "Reused", old).await["subject"],
        "old folder"
    );
    imap.delete_mailbox("Reused").await.unwrap();
    imap.create_mailbox("Reused").await.unwrap();
    let new = imap
        .append("Reused", &mail("new folder", "y"))
        .await
        .unwrap();
    assert_eq!(new, old, "UIDs start over in the new folder");
    let url = format!("{base}/v1/account/{account}/messages?path=Reused");
    let subjects = |p: &Value| -> Vec<String> {
        p["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["subject"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        // A 404 while the gateway learns of the swap is fine.
        let (status, p) = http("GET", &url, None).await;
        assert!(status == 200 || status == 404, "{status} {p}");
        if subjects(&p) == ["new folder"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..5 {
        let p = page(base, account, "Reused").await;
        assert_eq!(subjects(&p), ["new folder"], "{p}");
        let id = p["messages"][0]["id"].as_str().unwrap();
        assert_eq!(
            details(base, account, id, "").await["subject"],
            "new folder"
        );
    }
    imap.logout().await.unwrap();
}

/// Twelve messages read once, each given a keyword of its own (one expunged), then all
/// read again at once, twice each: every answer has its own message's keyword and no
/// other's, and the expunged one is a 404 for both of its callers.
async fn many_at_once(base: &str, account: &str, imap: &mut ImapTestClient) {
    let mut uids = Vec::new();
    for i in 0..12 {
        let raw = mail(&format!("batch {i}"), "b");
        uids.push(imap.append("INBOX", &raw).await.unwrap());
    }
    entry(base, account, "INBOX", *uids.last().unwrap()).await;
    let listed = page(base, account, "INBOX").await;
    let mut ids = Vec::new();
    for (i, uid) in uids.iter().enumerate() {
        let id = by_uid(&listed, *uid).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(details(base, account, &id, "").await["unseen"], true);
        imap.add_flags("INBOX", *uid, &format!("$Batch{i}"))
            .await
            .unwrap();
        ids.push(id);
    }
    let gone = 5;
    imap.expunge_uid("INBOX", uids[gone]).await.unwrap();
    let count = ids.len();
    let calls = ids.iter().chain(ids.iter()).enumerate().map(|(n, id)| {
        let url = format!("{base}/v1/account/{account}/message/{id}");
        async move { (n % count, http("GET", &url, None).await) }
    });
    for (i, (status, d)) in futures::future::join_all(calls).await {
        if i == gone {
            assert_eq!(status, 404, "expunged: {d}");
            continue;
        }
        assert_eq!(status, 200, "{d}");
        assert_eq!(d["subject"], format!("batch {i}"), "{d}");
        let keywords: Vec<&str> = d["flags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f.as_str().filter(|f| f.starts_with("$Batch")))
            .collect();
        assert_eq!(keywords, [format!("$Batch{i}")], "{d}");
    }
}
