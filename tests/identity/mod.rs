//! Event identity: the same change announced twice carries the same event id. A commit lost
//! after its events went out (a crash between publishing and committing) is made here by
//! putting back a copy of the account's stored folder state from before the change, in the
//! Redis store; then a reconnect, or another ingest process taking the account over,
//! resyncs from that state and announces the change again, under the id it had.

use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::pipeline::{expect_event, mail};
use crate::support::{Dovecot, ImapTestClient, Received, TestUser, WebhookReceiver, http};

/// The Redis keys of an account's folder states and of its INBOX index (see the Redis
/// store's `folders.rs`; ids and paths here need no escaping).
fn folder_keys(account: &str) -> [String; 2] {
    [
        format!("imapapi:acct:{{{account}}}:folders"),
        format!("imapapi:acct:{{{account}}}:idx:INBOX"),
    ]
}

/// A copy of some keys (`DUMP`), to be put back later as they were.
pub struct StoredCopy(Vec<(String, Option<Vec<u8>>)>);

impl StoredCopy {
    /// Copy the folder state and INBOX index of `account`.
    pub async fn take(conn: &mut MultiplexedConnection, account: &str) -> StoredCopy {
        let mut keys = Vec::new();
        for key in folder_keys(account) {
            let dump: Option<Vec<u8>> = redis::cmd("DUMP")
                .arg(&key)
                .query_async(conn)
                .await
                .unwrap();
            keys.push((key, dump));
        }
        assert!(keys[0].1.is_some(), "no stored folder state for {account}");
        StoredCopy(keys)
    }

    /// Put every key back as copied (a key that did not exist is deleted).
    pub async fn put_back(&self, conn: &mut MultiplexedConnection) {
        for (key, dump) in &self.0 {
            match dump {
                Some(dump) => {
                    let _: () = redis::cmd("RESTORE")
                        .arg(key)
                        .arg(0)
                        .arg(dump.as_slice())
                        .arg("REPLACE")
                        .query_async(conn)
                        .await
                        .unwrap();
                }
                None => {
                    let _: () = redis::cmd("DEL").arg(key).query_async(conn).await.unwrap();
                }
            }
        }
    }
}

/// Append a message to `account`'s INBOX and wait for its `messageNew`, with the stored
/// state copied from before it; returns the copy, the uid and the event.
pub async fn new_message_with_copy_before(
    dv: &Dovecot,
    conn: &mut MultiplexedConnection,
    hook: &WebhookReceiver,
    account: &str,
    user: &TestUser,
    subject: &str,
) -> (StoredCopy, u32, Received) {
    // Let the account's folders settle first, so the copy is of a committed state.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let copy = StoredCopy::take(conn, account).await;
    let mut other = ImapTestClient::connect(dv, user).await.unwrap();
    let uid = other.append("INBOX", &mail(subject, "x")).await.unwrap();
    other.logout().await.ok();
    let first = expect_event(hook, account, "messageNew", |r| {
        r.body["data"]["uid"] == uid
    })
    .await;
    // Events go out before the commit that records them: putting the copy back before
    // that commit lands would be undone by it.
    wait_committed(conn, account, uid).await;
    (copy, uid, first)
}

/// Wait until the stored INBOX state has seen `uid` (its `uidNext` is past it).
async fn wait_committed(conn: &mut MultiplexedConnection, account: &str, uid: u32) {
    let [folders, _] = folder_keys(account);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state: Option<String> = redis::cmd("HGET")
            .arg(&folders)
            .arg("INBOX")
            .query_async(conn)
            .await
            .unwrap();
        let next = state
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["uidNext"].as_u64());
        if next.is_some_and(|n| n > u64::from(uid)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "INBOX of {account} not committed past uid {uid}: {next:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After the stored state went back to before the message: its `messageNew` again, which
/// must carry the first announcement's id.
pub async fn expect_same_id_again(
    hook: &WebhookReceiver,
    account: &str,
    uid: u32,
    first: &Received,
) {
    let first_at = first.at;
    let again = expect_event(hook, account, "messageNew", move |r| {
        r.body["data"]["uid"] == uid && r.at > first_at
    })
    .await;
    assert_eq!(
        again.body["id"], first.body["id"],
        "announced again, under the same id: {} then {}",
        first.body, again.body
    );
    assert_eq!(again.body["data"]["id"], first.body["data"]["id"]);
}

/// The reconnect case: copy, new message, put the copy back, reconnect: the message is
/// announced again with its first id.
pub async fn reconnect_announces_under_the_same_id(
    dv: &Dovecot,
    base: &str,
    conn: &mut MultiplexedConnection,
    hook: &WebhookReceiver,
    account: &str,
    user: &TestUser,
) {
    let (copy, uid, first) =
        new_message_with_copy_before(dv, conn, hook, account, user, "said twice").await;
    copy.put_back(conn).await;
    let (status, body) = http(
        "PUT",
        &format!("{base}/v1/account/{account}/reconnect"),
        Some(serde_json::json!({"reconnect": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    expect_same_id_again(hook, account, uid, &first).await;
}
