//! Folders another IMAP client creates, renames or deletes reach the webhook through NOTIFY
//! (`MailboxName`) long before the periodic resync (600 s here), and the watching
//! connection reads NOTIFY's rename announcements (LIST responses with extended data)
//! without dropping: it connects once. Shared by the embedded and distributed suites.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::pipeline::{account_body, expect_event, set_webhooks, wait_state};
use crate::support::{Dovecot, ImapTestClient, Received, WebhookReceiver, http};

/// How long each event may take: Dovecot's notify delay is about half a second, the
/// resync is 600 s away; generous for a loaded machine.
const WITHIN: Duration = Duration::from_secs(10);

/// The folder events of one change, each as (event, path).
type Expected = [(&'static str, &'static str)];

pub async fn changed_by_another_client(base: &str, account: &str) {
    let dv = Dovecot::ensure();
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    // Dispatch (distributed) reads the settings through a cache of up to 1 s.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let user = dv.create_user(account);
    let mut imap = ImapTestClient::connect(dv, &user).await.unwrap();
    for folder in ["Doomed", "Old Name", "Parent", "Parent/Kid"] {
        imap.create_mailbox(folder).await.unwrap();
    }
    let mut body = account_body(dv, account, &user);
    body["imap"]["resyncDelay"] = json!(600);
    let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{b}");
    wait_state(base, account, "connected", Duration::from_secs(30)).await;
    expect_event(&hook, account, "authenticationSuccess", |_| true).await;
    for path in ["INBOX", "Doomed", "Old Name", "Parent", "Parent/Kid"] {
        expect_event(&hook, account, "mailboxNew", |r| r.body["path"] == path).await;
    }
    let mut seen = Vec::new();
    while let Some(r) = hook.next_within(Duration::from_millis(700)).await {
        seen.push(r);
    }

    let mut timings = Vec::new();
    let at = Instant::now();
    imap.create_mailbox("Fresh").await.unwrap();
    timings.push(arrive(&hook, account, "created", at, &[("mailboxNew", "Fresh")]).await);

    let at = Instant::now();
    imap.rename_mailbox("Old Name", "New Name").await.unwrap();
    let renamed = [("mailboxDeleted", "Old Name"), ("mailboxNew", "New Name")];
    timings.push(arrive(&hook, account, "renamed", at, &renamed).await);

    let at = Instant::now();
    imap.delete_mailbox("Doomed").await.unwrap();
    timings.push(
        arrive(
            &hook,
            account,
            "deleted",
            at,
            &[("mailboxDeleted", "Doomed")],
        )
        .await,
    );

    // A folder with a child: Dovecot announces the parent gone and the child renamed.
    let at = Instant::now();
    imap.rename_mailbox("Parent", "Moved").await.unwrap();
    let moved = [
        ("mailboxDeleted", "Parent"),
        ("mailboxDeleted", "Parent/Kid"),
        ("mailboxNew", "Moved"),
        ("mailboxNew", "Moved/Kid"),
    ];
    timings.push(arrive(&hook, account, "parent renamed", at, &moved).await);
    println!("folder change -> webhook: {}", timings.join(", "));

    // Nothing of this came from a reconnect's first sync: one login, no error.
    tokio::time::sleep(Duration::from_secs(1)).await;
    seen.extend(hook.drain().await);
    let reconnects: Vec<_> = seen
        .iter()
        .filter(|r| r.body["account"] == account)
        .filter_map(Received::event)
        .filter(|e| {
            [
                "authenticationSuccess",
                "connectError",
                "authenticationError",
            ]
            .contains(e)
        })
        .collect();
    assert!(
        reconnects.is_empty(),
        "the watching connection dropped: {reconnects:?}"
    );
    let info = wait_state(base, account, "connected", Duration::from_secs(1)).await;
    assert!(info["lastError"].is_null(), "{info}");
    imap.logout().await.ok();
}

/// Wait for every event of `expected` after a change made at `at`; "what: N ms" for the
/// slowest.
async fn arrive(
    hook: &WebhookReceiver,
    account: &str,
    what: &str,
    at: Instant,
    expected: &Expected,
) -> String {
    let mut slowest = Duration::ZERO;
    for &(event, path) in expected {
        let got = hook
            .wait_for(
                |r| {
                    r.body["account"] == account
                        && r.event() == Some(event)
                        && r.body["path"] == path
                },
                WITHIN,
            )
            .await
            .unwrap_or_else(|| panic!("{what}: no {event} for {path} within {WITHIN:?}"));
        crate::support::assert_valid_event(&got.body);
        slowest = slowest.max(got.at.duration_since(at));
    }
    format!("{what} {} ms", slowest.as_millis())
}
