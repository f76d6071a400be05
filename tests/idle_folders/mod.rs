//! An account's own `imap.idleFolders`, on a gateway with NOTIFY off: the folders it names
//! get IDLE connections of their own and are announced at once, whatever the global
//! `ingest.idleFolders` says; a folder only the global list names waits for the resync
//! (600 s here, so within the test: never). A PUT with another list takes effect on the
//! reconnect it causes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::pipeline::{account_body, expect_event, mail, set_webhooks, wait_state};
use crate::support::{Dovecot, ImapTestClient, WebhookReceiver, http};

/// The gateway's arguments: no NOTIFY, and a global list the account overrides.
pub const ARGS: &[&str] = &["--ingest.notify=false", "--ingest.idleFolders=\\Drafts"];

/// How soon a watched folder's mail must be announced: Dovecot's own IDLE delay (about half
/// a second) with slack for a busy machine, far below the 600 s resync.
const AT_ONCE: Duration = Duration::from_secs(5);
/// How long an unwatched folder is watched for an announcement that must not come.
const QUIET: Duration = Duration::from_secs(3);

pub async fn per_account_list_replaces_the_global_one(base: &str) {
    let dv = Dovecot::ensure();
    let user = dv.create_user("ownidle");
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    let id = format!("ownidle-{}", crate::support::unique_suffix());
    let mut body = account_body(dv, &id, &user);
    body["imap"]["resyncDelay"] = json!(600);
    body["imap"]["idleFolders"] = json!(["\\Sent"]);
    let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body.clone())).await;
    assert_eq!(status, 200, "{b}");
    let shown = wait_state(base, &id, "connected", Duration::from_secs(30)).await;
    assert_eq!(shown["imap"]["idleFolders"], json!(["\\Sent"]), "{shown}");
    expect_event(&hook, &id, "mailboxNew", |r| r.body["path"] == "INBOX").await;
    while hook.next_within(Duration::from_millis(700)).await.is_some() {}

    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    announced_at_once(&hook, &mut imap, &id, "Sent").await;
    // Drafts is in the global list only: the account's list replaced it.
    let missed = not_announced(&hook, &mut imap, &id, "Drafts").await;

    // Another list by PUT: Drafts by path now, Sent no more. The reconnect's first sync
    // announces the Drafts message the old session left to the resync: then it is up.
    let mut imap_cfg = body["imap"].clone();
    imap_cfg["idleFolders"] = json!(["Drafts"]);
    let (status, b) = http(
        "PUT",
        &format!("{base}/v1/account/{id}"),
        Some(json!({ "imap": imap_cfg })),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    expect_event(&hook, &id, "messageNew", move |r| {
        r.body["path"] == "Drafts" && r.body["data"]["uid"] == missed
    })
    .await;
    while hook.next_within(Duration::from_millis(700)).await.is_some() {}
    announced_at_once(&hook, &mut imap, &id, "Drafts").await;
    not_announced(&hook, &mut imap, &id, "Sent").await;
    imap.logout().await.ok();
}

/// APPEND to `folder` until its `messageNew` arrives within [`AT_ONCE`] of an APPEND: a
/// watcher that was still connecting when the first came hears the next one, and its sync
/// then announces both. At most three tries.
async fn announced_at_once(
    hook: &WebhookReceiver,
    imap: &mut ImapTestClient,
    account: &str,
    folder: &str,
) {
    let mut uids: Vec<Value> = Vec::new();
    for _ in 0..3 {
        let uid = imap.append(folder, &mail("watched", "x")).await.unwrap();
        uids.push(uid.into());
        let (acc, path, want) = (account.to_string(), folder.to_string(), uids.clone());
        let got = hook
            .wait_for(
                move |r| {
                    r.body["account"] == acc.as_str()
                        && r.event() == Some("messageNew")
                        && r.body["path"] == path.as_str()
                        && want.contains(&r.body["data"]["uid"])
                },
                AT_ONCE,
            )
            .await;
        if got.is_some() {
            return;
        }
    }
    panic!("{folder}: no messageNew within {AT_ONCE:?} of any of three APPENDs");
}

/// APPEND to `folder` and see that nothing of it arrives within [`QUIET`]; its uid.
async fn not_announced(
    hook: &WebhookReceiver,
    imap: &mut ImapTestClient,
    account: &str,
    folder: &str,
) -> u32 {
    let uid = imap.append(folder, &mail("unwatched", "y")).await.unwrap();
    let (acc, path) = (account.to_string(), folder.to_string());
    let early = hook
        .wait_for(
            move |r| r.body["account"] == acc.as_str() && r.body["path"] == path.as_str(),
            QUIET,
        )
        .await;
    assert!(
        early.is_none(),
        "{folder} is not watched: {:?}",
        early.map(|r| r.body)
    );
    uid
}
