//! End-to-end scenarios for every message and mailbox route, shared by the embedded and
//! the distributed test files: the real binary over REST against the real Dovecot, with a
//! second IMAP client to put mail in place and to check what the gateway changed.

#![allow(dead_code)]

mod changes_feed;
pub mod corpus;
mod reading_again;

use std::time::Duration;

pub use changes_feed::changes_feed;
pub use reading_again::reading_again;

use serde_json::{Value, json};

use crate::pipeline::{account_body, mail, wait_state};
use crate::support::request;
use crate::support::{Dovecot, ImapTestClient, Postfix, TestUser, http};

/// Register `id` for a fresh rig user (other folders polled every 2 s, so folders made
/// through the API get ids quickly) and wait until it is connected.
pub async fn connected_account(base: &str, id: &str) -> TestUser {
    let dv = Dovecot::ensure();
    let user = dv.create_user(id);
    let mut body = account_body(dv, id, &user);
    body["imap"]["resyncDelay"] = json!(2);
    let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_synced(base, id).await;
    user
}

/// Wait until the account's first sync is done (`syncTime` set), so its folders have ids.
pub async fn wait_synced(base: &str, id: &str) {
    for _ in 0..150 {
        let state = wait_state(base, id, "connected", Duration::from_secs(30)).await;
        if state["syncTime"].is_string() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("account {id} never finished its first sync");
}

/// The listing entry of `uid` in `path`, once the gateway lists it.
pub async fn entry(base: &str, account: &str, path: &str, uid: u32) -> Value {
    let url = format!(
        "{base}/v1/account/{account}/messages?path={}&pageSize=1000",
        urlencode(path)
    );
    for _ in 0..100 {
        let (status, page) = http("GET", &url, None).await;
        assert_eq!(status, 200, "{page}");
        if let Some(m) = page["messages"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["uid"] == uid))
        {
            return m.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("uid {uid} never listed in {path}");
}

/// An id of the right shape that names no message.
pub const MISSING_ID: &str = "AAAAAQAA__8";

fn assert_error(status: u16, body: &Value, want: u16) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["statusCode"], want, "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
}

/// Details, text, attachments and source of every message of the MIME corpus read back as
/// sent; and 404/400 for what does not exist or is malformed.
pub async fn reading(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    for case in corpus::cases() {
        let uid = imap.append("INBOX", &case.raw).await.unwrap();
        let e = entry(base, account, "INBOX", uid).await;
        let id = e["id"].as_str().unwrap().to_string();
        let what = case.name;
        assert_eq!(e["subject"], case.subject, "{what}: {e}");

        let url = format!("{base}/v1/account/{account}/message/{id}");
        let (status, d) = http("GET", &url, None).await;
        assert_eq!(status, 200, "{what}: {d}");
        assert!(
            d.get("text").is_none() || d["text"].get("plain").is_none(),
            "{what}: text only with textType: {d}"
        );
        let (status, d) = http("GET", &format!("{url}?textType=*"), None).await;
        assert_eq!(status, 200, "{what}: {d}");
        if let Some(p) = case.plain {
            let got = d["text"]["plain"].as_str().unwrap_or_default();
            assert!(got.contains(p), "{what}: plain {got:?} lacks {p:?}");
        }
        if let Some(h) = case.html {
            let got = d["text"]["html"].as_str().unwrap_or_default();
            assert!(got.contains(h), "{what}: html {got:?} lacks {h:?}");
        }

        // The text route, partially fetched.
        if let Some(text_id) = e["text"]["id"].as_str() {
            let t_url = format!("{base}/v1/account/{account}/text/{text_id}");
            let (status, t) = http("GET", &format!("{t_url}?textType=*"), None).await;
            assert_eq!(status, 200, "{what}: {t}");
            if let Some(p) = case.plain {
                assert!(
                    t["plain"].as_str().unwrap_or_default().contains(p),
                    "{what}: {t}"
                );
            }
            if let Some(h) = case.html {
                assert!(
                    t["html"].as_str().unwrap_or_default().contains(h),
                    "{what}: {t}"
                );
            }
            assert_eq!(t["hasMore"], false, "{what}: {t}");
            if let Some(p) = case.plain {
                let (status, t) =
                    http("GET", &format!("{t_url}?textType=plain&maxBytes=4"), None).await;
                assert_eq!(status, 200, "{what}: {t}");
                let got = t["plain"].as_str().unwrap();
                assert!(got.len() <= 4 && p.starts_with(got), "{what}: {got:?}");
                assert_eq!(t["hasMore"], true, "{what}: {t}");
                assert!(t.get("html").is_none(), "{what}: {t}");
            }
        }

        // Attachments, decoded, with their names.
        let atts = d["attachments"].as_array().cloned().unwrap_or_default();
        assert_eq!(atts.len(), case.attachments.len(), "{what}: {d}");
        for (att, (filename, ctype, bytes)) in atts.iter().zip(&case.attachments) {
            match filename {
                Some(f) => assert_eq!(att["filename"], *f, "{what}: {att}"),
                None => assert!(!att["filename"].is_string(), "{what}: {att}"),
            }
            let a_url = format!(
                "{base}/v1/account/{account}/attachment/{}",
                att["id"].as_str().unwrap()
            );
            let r = request("GET", &a_url, &[], Vec::new(), None).await.unwrap();
            assert_eq!(r.status, 200, "{what}: {}", r.text());
            assert_eq!(
                r.body.as_ref(),
                bytes.as_slice(),
                "{what}: attachment bytes"
            );
            let ct = r.header("content-type").unwrap_or_default();
            assert!(ct.starts_with(ctype), "{what}: content-type {ct}");
            if let Some(f) = filename {
                let cd = r
                    .header("content-disposition")
                    .unwrap_or_default()
                    .to_string();
                if f.is_ascii() {
                    assert!(cd.contains(&format!("filename=\"{f}\"")), "{what}: {cd}");
                } else {
                    assert!(cd.contains("filename*=UTF-8''"), "{what}: {cd}");
                }
            }
        }

        // The source, byte for byte.
        let r = request("GET", &format!("{url}/source"), &[], Vec::new(), None)
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body.as_ref(), case.raw.as_slice(), "{what}: source");
    }

    // Missing and malformed ids.
    for path in [
        format!("message/{MISSING_ID}"),
        format!("message/{MISSING_ID}/source"),
        "attachment/AAAAAQAA__8y".to_string(),
        "text/AAAAAQAA__90".to_string(),
    ] {
        let (status, body) =
            http("GET", &format!("{base}/v1/account/{account}/{path}"), None).await;
        assert_error(status, &body, 404);
    }
    let (status, body) = http(
        "GET",
        &format!("{base}/v1/account/{account}/attachment/!!"),
        None,
    )
    .await;
    assert_error(status, &body, 400);
    assert_eq!(body["fields"][0]["key"], "attachment", "{body}");
    let (status, body) = http(
        "GET",
        &format!("{base}/v1/account/nobody/message/{MISSING_ID}"),
        None,
    )
    .await;
    assert_error(status, &body, 404);
    imap.logout().await.unwrap();
}

/// A large message: its text is cut at maxBytes without fetching all of it, and its
/// attachment and source stream whole.
pub async fn large_bodies(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    let blob = corpus::binary_blob(5 << 20);
    let text = "0123456789".repeat(50_000);
    let mut raw = b"From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    raw.extend_from_slice(text.as_bytes());
    raw.extend_from_slice(b"\r\n--b\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    use base64::Engine;
    let enc = base64::engine::general_purpose::STANDARD.encode(&blob);
    for line in enc.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--b--\r\n");
    let uid = imap.append("INBOX", &raw).await.unwrap();
    let e = entry(base, account, "INBOX", uid).await;
    let (status, t) = http(
        "GET",
        &format!(
            "{base}/v1/account/{account}/text/{}?textType=plain&maxBytes=1000",
            e["text"]["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["plain"].as_str().unwrap(), &text[..1000]);
    assert_eq!(t["hasMore"], true);
    let att = e["attachments"][0]["id"].as_str().unwrap();
    let r = request(
        "GET",
        &format!("{base}/v1/account/{account}/attachment/{att}"),
        &[],
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body.as_ref() == blob.as_slice(),
        "5 MB attachment decoded intact ({} bytes)",
        r.body.len()
    );
    let id = e["id"].as_str().unwrap();
    let r = request(
        "GET",
        &format!("{base}/v1/account/{account}/message/{id}/source"),
        &[],
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    assert!(
        r.body.as_ref() == raw.as_slice(),
        "source intact ({} bytes)",
        r.body.len()
    );
    imap.logout().await.unwrap();
}

/// Flags, move, delete (to Trash and for good) as another IMAP client sees them.
pub async fn changing_messages(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    let uid = imap.append("INBOX", &mail("flags", "body")).await.unwrap();
    let id = entry(base, account, "INBOX", uid).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{base}/v1/account/{account}/message/{id}");

    let (status, r) = http(
        "PUT",
        &url,
        Some(json!({"flags": {"add": ["\\Flagged", "$Label1"]}})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["flags"]["add"], true, "{r}");
    let flags = imap.flags("INBOX", uid).await.unwrap();
    assert!(
        flags.contains(&"\\Flagged".to_string()) && flags.contains(&"$Label1".to_string()),
        "{flags:?}"
    );
    let (status, r) = http(
        "PUT",
        &url,
        Some(json!({"flags": {"delete": ["\\Flagged"]}})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert!(
        !imap
            .flags("INBOX", uid)
            .await
            .unwrap()
            .contains(&"\\Flagged".to_string())
    );
    let (status, r) = http("PUT", &url, Some(json!({"flags": {"set": ["\\Seen"]}}))).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        imap.flags("INBOX", uid).await.unwrap(),
        vec!["\\Seen".to_string()]
    );
    let (status, r) = http("PUT", &url, Some(json!({"flags": {"add": ["bad flag)"]}}))).await;
    assert_error(status, &r, 400);
    assert!(
        r["fields"][0]["key"]
            .as_str()
            .unwrap()
            .starts_with("flags.add"),
        "{r}"
    );
    let (status, r) = http(
        "PUT",
        &format!("{base}/v1/account/{account}/message/{MISSING_ID}"),
        Some(json!({"flags": {"add": ["\\Seen"]}})),
    )
    .await;
    assert_error(status, &r, 404);

    // Move into a folder made through the API, with a Unicode name.
    let (status, r) = http(
        "POST",
        &format!("{base}/v1/account/{account}/mailbox"),
        Some(json!({"path": ["Archiv", "Grüße"]})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["created"], true, "{r}");
    let folder = r["path"].as_str().unwrap().to_string();
    assert_eq!(folder, "Archiv/Gr&APwA3w-e", "modified UTF-7 on the wire");
    let (status, r) = http("PUT", &format!("{url}/move"), Some(json!({"path": folder}))).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["path"], folder.as_str());
    let moved_uid = r["uid"].as_u64().unwrap() as u32;
    assert!(imap.uids("INBOX").await.unwrap().is_empty());
    assert_eq!(imap.uids(&folder).await.unwrap(), vec![moved_uid]);
    let moved = entry(base, account, &folder, moved_uid).await;
    let (status, d) = http(
        "GET",
        &format!(
            "{base}/v1/account/{account}/message/{}",
            moved["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["subject"], "flags");
    let (status, r) = http(
        "PUT",
        &format!("{url}/move"),
        Some(json!({"path": "Nowhere"})),
    )
    .await;
    assert_error(status, &r, 404);

    // Delete: to Trash first, then for good from Trash; force skips Trash.
    let moved_url = format!(
        "{base}/v1/account/{account}/message/{}",
        moved["id"].as_str().unwrap()
    );
    let (status, r) = http("DELETE", &moved_url, None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["moved"]["destination"], "Trash", "{r}");
    let trash_uids = imap.uids("Trash").await.unwrap();
    assert_eq!(trash_uids.len(), 1);
    let in_trash = entry(base, account, "Trash", trash_uids[0]).await;
    let (status, r) = http(
        "DELETE",
        &format!(
            "{base}/v1/account/{account}/message/{}",
            in_trash["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["deleted"], true, "{r}");
    assert!(imap.uids("Trash").await.unwrap().is_empty());
    let uid = imap.append("INBOX", &mail("force", "body")).await.unwrap();
    let e = entry(base, account, "INBOX", uid).await;
    let (status, r) = http(
        "DELETE",
        &format!(
            "{base}/v1/account/{account}/message/{}?force=true",
            e["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["deleted"], true, "{r}");
    assert!(imap.uids("INBOX").await.unwrap().is_empty());
    assert!(imap.uids("Trash").await.unwrap().is_empty());
    imap.logout().await.unwrap();
}

/// Create, rename and delete folders; the listing shows decoded names.
pub async fn managing_mailboxes(base: &str, account: &str) {
    connected_account(base, account).await;
    let mb = format!("{base}/v1/account/{account}/mailbox");
    let (status, r) = http("POST", &mb, Some(json!({"path": ["Été"]}))).await;
    assert_eq!(status, 200, "{r}");
    let path = r["path"].as_str().unwrap().to_string();
    let (status, r) = http("POST", &mb, Some(json!({"path": ["Été"]}))).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["created"], false, "creating twice is no error: {r}");
    let (_, list) = http(
        "GET",
        &format!("{base}/v1/account/{account}/mailboxes"),
        None,
    )
    .await;
    let found = list["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == path.as_str())
        .cloned();
    assert_eq!(found.expect("listed")["name"], "Été", "{list}");
    let (status, r) = http(
        "PUT",
        &mb,
        Some(json!({"path": path, "newPath": ["Hiver ❄"]})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let renamed = r["newPath"].as_str().unwrap().to_string();
    let (status, r) = http(
        "DELETE",
        &format!("{mb}?path={}", urlencode(&renamed)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["deleted"], true);
    let (status, r) = http(
        "DELETE",
        &format!("{mb}?path={}", urlencode(&renamed)),
        None,
    )
    .await;
    assert_error(status, &r, 404);
    let (status, r) = http("POST", &mb, Some(json!({"path": []}))).await;
    assert_error(status, &r, 400);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Search by every kind of criterion; values never become IMAP syntax.
pub async fn searching(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    let a = imap
        .append("INBOX", &mail("alpha report", "first body"))
        .await
        .unwrap();
    let b = imap
        .append_with_flags(
            "INBOX",
            &mail("beta Grüße", "second body"),
            &["\\Seen", "\\Flagged"],
        )
        .await
        .unwrap();
    let search = |q: Value| {
        let url = format!("{base}/v1/account/{account}/search?path=INBOX");
        async move { http("POST", &url, Some(json!({"search": q}))).await }
    };
    let uids = |r: &Value| -> Vec<u64> {
        r["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["uid"].as_u64().unwrap())
            .collect()
    };
    let (status, r) = search(json!({"subject": "alpha"})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(uids(&r), vec![u64::from(a)]);
    assert_eq!(r["total"], 1);
    let (_, r) = search(json!({"subject": "Grüße"})).await;
    assert_eq!(uids(&r), vec![u64::from(b)], "UTF-8 criteria: {r}");
    let (_, r) = search(json!({"unseen": true})).await;
    assert_eq!(uids(&r), vec![u64::from(a)]);
    let (_, r) = search(json!({"flagged": true, "seen": true})).await;
    assert_eq!(uids(&r), vec![u64::from(b)]);
    let (_, r) = search(json!({"from": "peter@example.com"})).await;
    assert_eq!(uids(&r), vec![u64::from(b), u64::from(a)], "newest first");
    let (_, r) = search(json!({"body": "second"})).await;
    assert_eq!(uids(&r), vec![u64::from(b)]);
    let (_, r) = search(json!({"uid": format!("{a}")})).await;
    assert_eq!(uids(&r), vec![u64::from(a)]);
    let (_, r) = search(json!({"since": "2000-01-01", "header": {"Message-ID": true}})).await;
    assert_eq!(r["total"], 2, "{r}");
    let (_, r) = search(json!({"subject": "x\") UID 1:* (\""})).await;
    assert_eq!(r["total"], 0, "injection matched nothing: {r}");
    let (status, r) = search(json!({"seq": "1 OR 2"})).await;
    assert_error(status, &r, 400);
    assert_eq!(r["fields"][0]["key"], "search.seq");
    let (status, r) = search(json!({"nope": 1})).await;
    assert_error(status, &r, 400);
    let (status, r) = http(
        "POST",
        &format!("{base}/v1/account/{account}/search?path=Nope"),
        Some(json!({"search": {}})),
    )
    .await;
    assert_error(status, &r, 404);
    imap.logout().await.unwrap();
}

/// The uids of a listing or search page, in its order.
fn page_uids(page: &Value) -> Vec<u32> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {page}"))
        .iter()
        .map(|m| m["uid"].as_u64().unwrap() as u32)
        .collect()
}

/// Follow `nextCursor` from `first` to the last page (which has none); every uid seen, in
/// order. `get` answers one page for a `cursor`.
async fn walk_cursor<F, Fut>(first: &Value, get: F) -> Vec<u32>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (u16, Value)>,
{
    let mut seen = page_uids(first);
    let mut next = first["nextCursor"].as_str().map(String::from);
    let mut pages = 1;
    while let Some(cursor) = next {
        let (status, page) = get(cursor).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page_uids(&page));
        next = page["nextCursor"].as_str().map(String::from);
        assert!(next.is_some() || page.get("nextCursor").is_none(), "{page}");
        pages += 1;
        assert!(pages < 20, "the cursor walk does not end: {page}");
    }
    seen
}

/// Paging by cursor: mail arriving between pages, and the cursor's own message expunged,
/// neither shift nor repeat the next page (paging by number does shift); the search pages
/// by cursor too; a cursor beside `page`, a malformed one (400 naming `cursor`) and one from
/// another UIDVALIDITY (404 `FolderReset`) are refused.
pub async fn paging_by_cursor(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    let mut older = Vec::new();
    for i in 0..25 {
        let raw = mail(&format!("older {i}"), "paged");
        older.push(imap.append("INBOX", &raw).await.unwrap());
    }
    let newest_first = |uids: &[u32]| uids.iter().rev().copied().collect::<Vec<_>>();
    let list = |query: String| {
        let url = format!("{base}/v1/account/{account}/messages?path=INBOX&pageSize=10{query}");
        async move { http("GET", &url, None).await }
    };

    let (status, first) = list(String::new()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(page_uids(&first), newest_first(&older[15..]));
    assert_eq!(
        (first["total"].as_u64(), first["pages"].as_u64()),
        (Some(25), Some(3))
    );
    assert!(first["nextCursor"].is_string(), "{first}");
    let (_, second_by_number) = list("&page=1".into()).await;
    assert_eq!(page_uids(&second_by_number), newest_first(&older[5..15]));

    for i in 0..5 {
        imap.append(
            "INBOX",
            &mail(&format!("newer {i}"), "arrived while paging"),
        )
        .await
        .unwrap();
    }
    let (_, shifted) = list("&page=1".into()).await;
    assert_eq!(
        page_uids(&shifted),
        newest_first(&older[10..20]),
        "page=1 shifts by the 5 new messages"
    );
    // The cursor names the lowest uid of the first page: gone, its place is still found.
    imap.expunge_uid("INBOX", older[15]).await.unwrap();

    let (status, second) = list(format!("&cursor={}", first["nextCursor"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        page_uids(&second),
        newest_first(&older[5..15]),
        "no shift by cursor"
    );
    assert_eq!(
        (second["total"].as_u64(), second["page"].as_u64()),
        (Some(29), Some(1))
    );
    let seen = walk_cursor(&first, |c| list(format!("&cursor={c}"))).await;
    assert_eq!(seen, newest_first(&older), "nothing skipped or repeated");

    let search = |query: String| {
        let url = format!("{base}/v1/account/{account}/search?path=INBOX&pageSize=7{query}");
        async move { http("POST", &url, Some(json!({"search": {"subject": "older"}}))).await }
    };
    let (status, matches) = search(String::new()).await;
    assert_eq!(status, 200, "{matches}");
    assert_eq!(matches["total"], 24, "{matches}");
    imap.append("INBOX", &mail("older still, but new", "x"))
        .await
        .unwrap();
    let found = walk_cursor(&matches, |c| search(format!("&cursor={c}"))).await;
    let mut left = older.clone();
    left.retain(|u| *u != older[15]);
    assert_eq!(found, newest_first(&left), "the search by cursor");

    cursor_refusals(
        base,
        account,
        &mut imap,
        first["nextCursor"].as_str().unwrap(),
    )
    .await;
    imap.logout().await.unwrap();
}

/// The refused cursors of [`paging_by_cursor`]: beside `page`, malformed, from another
/// UIDVALIDITY.
async fn cursor_refusals(base: &str, account: &str, imap: &mut ImapTestClient, cursor: &str) {
    let url = |query: &str| format!("{base}/v1/account/{account}/messages?path=INBOX{query}");
    let validity = imap.select("INBOX").await.unwrap().uid_validity.unwrap();
    let foreign = imapapi_common::command::ListCursor {
        uid_validity: validity.wrapping_add(1),
        below: 10,
    }
    .encode();
    for (query, status) in [
        (format!("&page=1&cursor={cursor}"), 400),
        ("&cursor=not-a-cursor".to_string(), 400),
        ("&cursor=".to_string(), 400),
        (format!("&cursor={cursor}A"), 400),
        (format!("&cursor={foreign}"), 404),
    ] {
        let (got, body) = http("GET", &url(&query), None).await;
        assert_error(got, &body, status);
        if status == 400 {
            assert_eq!(body["fields"][0]["key"], "cursor", "{query}: {body}");
        } else {
            assert_eq!(body["code"], "FolderReset", "{query}: {body}");
        }
    }
    let search_url =
        format!("{base}/v1/account/{account}/search?path=INBOX&page=2&cursor={cursor}");
    let (got, body) = http("POST", &search_url, Some(json!({"search": {}}))).await;
    assert_error(got, &body, 400);
    assert_eq!(body["fields"][0]["key"], "cursor", "{body}");
}

/// Reconnect, stats and verifyAccount.
pub async fn account_tools(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let (status, r) = http(
        "PUT",
        &format!("{base}/v1/account/{account}/reconnect"),
        Some(json!({"reconnect": true})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["reconnect"], true);
    wait_state(base, account, "connected", Duration::from_secs(30)).await;
    // The reconnect is answered once the session took it, before the state changes: wait
    // for the account to be back.
    let mut r = Value::Null;
    for _ in 0..150 {
        let (status, stats) = http("GET", &format!("{base}/v1/stats"), None).await;
        assert_eq!(status, 200, "{stats}");
        r = stats;
        // Other scenarios may share this gateway: every account back to connected.
        if r["accounts"].as_u64() >= Some(1) && r["connections"]["connected"] == r["accounts"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(r["version"].is_string(), "{r}");
    assert!(
        r["uptime"].is_u64(),
        "seconds since the api process started: {r}"
    );
    assert_eq!(r["connections"]["connected"], r["accounts"], "{r}");

    let imap = dv.imap_account_json(&user, false);
    let (status, r) = http(
        "POST",
        &format!("{base}/v1/verifyAccount"),
        Some(json!({"mailboxes": true, "imap": imap})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["imap"]["success"], true, "{r}");
    assert!(
        r["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["path"] == "INBOX"),
        "{r}"
    );
    let mut wrong = imap.clone();
    wrong["auth"]["pass"] = json!("wrong password");
    let (status, r) = http(
        "POST",
        &format!("{base}/v1/verifyAccount"),
        Some(json!({"imap": wrong})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["imap"]["success"], false);
    assert_eq!(
        r["imap"]["code"], "AUTHENTICATIONFAILED",
        "the server's own code: {r}"
    );
    let closed = crate::support::free_port();
    let smtp = json!({"host": "127.0.0.1", "port": closed, "secure": false, "auth": {"user": "u", "pass": "p"}});
    let (status, r) = http(
        "POST",
        &format!("{base}/v1/verifyAccount"),
        Some(json!({"smtp": smtp})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["smtp"]["success"], false);
    assert_eq!(r["smtp"]["code"], "ConnectError", "{r}");
    verify_smtp_against_postfix(base, &user).await;
    let (status, r) = http("POST", &format!("{base}/v1/verifyAccount"), Some(json!({}))).await;
    assert_error(status, &r, 400);
}

/// verifyAccount's SMTP check against the real Postfix: both TLS modes log in, a wrong
/// password is the server's refusal, and IMAP and SMTP are checked in one call.
async fn verify_smtp_against_postfix(base: &str, user: &TestUser) {
    let pf = Postfix::ensure();
    let dv = Dovecot::ensure();
    for secure in [false, true] {
        let smtp = pf.smtp_account_json(user, secure);
        let (status, r) = http(
            "POST",
            &format!("{base}/v1/verifyAccount"),
            Some(json!({"imap": dv.imap_account_json(user, false), "smtp": smtp})),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["imap"]["success"], true, "{r}");
        assert_eq!(r["smtp"]["success"], true, "secure={secure}: {r}");
    }
    let mut wrong = pf.smtp_account_json(user, false);
    wrong["auth"]["pass"] = json!("not the password");
    let (status, r) = http(
        "POST",
        &format!("{base}/v1/verifyAccount"),
        Some(json!({"smtp": wrong})),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["smtp"]["success"], false, "{r}");
    assert_eq!(r["smtp"]["code"], "AuthenticationError", "{r}");
    assert!(
        !r.to_string().contains("not the password"),
        "no secret in the answer: {r}"
    );
}

/// An id made before its folder's UIDVALIDITY changed names nothing any more.
pub async fn stale_ids(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    imap.create_mailbox("Stale").await.unwrap();
    let uid = imap.append("Stale", &mail("old", "x")).await.unwrap();
    let old = entry(base, account, "Stale", uid).await;
    imap.delete_mailbox("Stale").await.unwrap();
    imap.create_mailbox("Stale").await.unwrap();
    let again = imap.append("Stale", &mail("new", "y")).await.unwrap();
    assert_eq!(again, uid, "same uid in the new folder");
    let (status, r) = http(
        "GET",
        &format!(
            "{base}/v1/account/{account}/message/{}",
            old["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_error(status, &r, 404);
    imap.logout().await.unwrap();
}

/// A command that runs past `service.commandTimeout` answers 504, and the account still
/// answers the next call (the timed-out connection is dropped, not reused). The gateway at
/// `base` must run with a short command timeout (`--service.commandTimeout=1s`).
pub async fn timeouts_leave_the_account_usable(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let user = dv.create_user(account);
    let name = user.user.clone();
    // A body search through 40,000 messages of 4 KB takes Dovecot seconds: well past the
    // timeout.
    let filler = "lorem ipsum dolor sit amet ".repeat(150);
    tokio::task::spawn_blocking(move || {
        Dovecot::ensure().fill_maildir(&name, "Big", 40_000, |i| mail(&format!("m{i}"), &filler))
    })
    .await
    .unwrap();
    let mut body = account_body(dv, account, &user);
    body["path"] = json!("INBOX");
    let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_state(base, account, "connected", Duration::from_secs(30)).await;
    let url = format!("{base}/v1/account/{account}/search?path=Big");
    let (status, r) = http("POST", &url, Some(json!({"search": {"body": "needle"}}))).await;
    assert_error(status, &r, 504);
    // The next call opens a new connection (the timed-out one is gone); on a loaded machine
    // that may itself take a moment, so allow a few tries.
    let url = format!("{base}/v1/account/{account}/messages?path=INBOX");
    let mut last = Value::Null;
    for _ in 0..5 {
        let (status, r) = http("GET", &url, None).await;
        if status == 200 {
            return;
        }
        last = r;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the account no longer answers: {last}");
}

/// Build and upload messages: what is read back is what was posted; a reply gets the
/// threading headers; a body over `api.maxSize` is refused with 413 and stores nothing.
pub async fn uploading(base: &str, account: &str) {
    use base64::Engine;
    let dv = Dovecot::ensure();
    let user = connected_account(base, account).await;
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    let blob = corpus::binary_blob(2000);
    let post = format!("{base}/v1/account/{account}/message");
    let body = json!({
        "path": "INBOX",
        "flags": ["\\Seen"],
        "from": {"name": "Peter Põder", "address": "peter@example.com"},
        "to": [{"name": "日本語", "address": "nihongo@example.com"}],
        "subject": "Upload ✓",
        "text": "plain text",
        "html": "<p>html text</p>",
        "headers": {"X-Custom": "yes"},
        "attachments": [{"filename": "blob.bin", "content": base64::engine::general_purpose::STANDARD.encode(&blob)}]
    });
    let (status, r) = http("POST", &post, Some(body)).await;
    assert_eq!(status, 200, "{r}");
    let uid = r["uid"].as_u64().unwrap() as u32;
    assert_eq!(imap.uids("INBOX").await.unwrap(), vec![uid]);
    assert!(
        imap.flags("INBOX", uid)
            .await
            .unwrap()
            .contains(&"\\Seen".to_string())
    );
    let id = r["id"]
        .as_str()
        .expect("id of the uploaded message")
        .to_string();
    let (status, d) = http(
        "GET",
        &format!("{base}/v1/account/{account}/message/{id}?textType=*"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["subject"], "Upload ✓");
    assert_eq!(d["from"]["name"], "Peter Põder");
    assert_eq!(d["to"][0]["name"], "日本語");
    assert_eq!(d["headers"]["x-custom"][0], "yes");
    assert!(
        d["text"]["plain"].as_str().unwrap().contains("plain text"),
        "{d}"
    );
    assert!(
        d["text"]["html"].as_str().unwrap().contains("html text"),
        "{d}"
    );
    let att = d["attachments"][0]["id"].as_str().unwrap();
    let got = request(
        "GET",
        &format!("{base}/v1/account/{account}/attachment/{att}"),
        &[],
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    assert!(got.body.as_ref() == blob.as_slice());
    let message_id = d["messageId"].as_str().unwrap().to_string();

    // A reply to it threads.
    let reply = json!({
        "path": "INBOX",
        "reference": {"message": id, "action": "reply"},
        "from": {"address": "me@example.com"},
        "to": [{"address": "peter@example.com"}],
        "text": "answer"
    });
    let (status, r) = http("POST", &post, Some(reply)).await;
    assert_eq!(status, 200, "{r}");
    let (_, d) = http(
        "GET",
        &format!(
            "{base}/v1/account/{account}/message/{}",
            r["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(d["subject"], "Re: Upload ✓", "{d}");
    assert_eq!(d["inReplyTo"], message_id.as_str(), "{d}");
    let missing = json!({"path": "INBOX", "reference": {"message": MISSING_ID}, "from": {"address": "me@example.com"}});
    let (status, r) = http("POST", &post, Some(missing)).await;
    assert_error(status, &r, 404);
    let (status, r) = http(
        "POST",
        &post,
        Some(json!({"path": "Nowhere", "from": {"address": "me@example.com"}})),
    )
    .await;
    assert_error(status, &r, 404);

    // Over api.maxSize (5 MB by default): 413, nothing stored. The gateway answers as soon
    // as the announced length is too large and closes; a client still sending may see the
    // connection close before it reads the answer.
    let big = json!({"path": "INBOX", "from": {"address": "me@example.com"}, "text": "x".repeat(6 << 20)});
    let bytes = serde_json::to_vec(&big).unwrap();
    match request("POST", &post, &[], bytes, Some("application/json")).await {
        Ok(r) => assert_error(r.status, &r.json(), 413),
        Err(e) => assert!(
            format!("{e:#}").contains("Broken pipe") || format!("{e:#}").contains("reset"),
            "{e:#}"
        ),
    }
    assert_eq!(imap.uids("INBOX").await.unwrap().len(), 2);
    imap.logout().await.unwrap();
}
