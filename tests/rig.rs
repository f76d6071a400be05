//! Checks that the test rig itself works: Dovecot (plaintext, STARTTLS, implicit TLS),
//! test users, Maildir filling, the IMAP test client and the webhook receiver.

mod support;

use std::time::Duration;

use support::{Dovecot, ImapTestClient, WebhookReceiver, http, http_raw};

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: Rig <rig@example.com>\r\nTo: user@example.com\r\nSubject: rig message {i}\r\n\
         Message-ID: <rig-{i}@example.com>\r\nDate: Mon, 7 Oct 2019 06:05:23 +0000\r\n\r\nbody {i}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn plaintext_login_and_mailbox_operations() {
    let dovecot = Dovecot::ensure();
    let user = dovecot.create_user("rig-plain");
    let mut imap = ImapTestClient::connect(dovecot, &user)
        .await
        .expect("login");

    assert!(imap.uids("INBOX").await.unwrap().is_empty());
    let uid1 = imap.append("INBOX", &message(1)).await.unwrap();
    let uid2 = imap.append("INBOX", &message(2)).await.unwrap();
    assert_eq!(imap.uids("INBOX").await.unwrap(), vec![uid1, uid2]);

    imap.add_flags("INBOX", uid1, "\\Seen \\Flagged")
        .await
        .unwrap();
    let flags = imap.flags("INBOX", uid1).await.unwrap();
    assert!(flags.contains(&"\\Seen".to_string()), "{flags:?}");
    assert!(flags.contains(&"\\Flagged".to_string()), "{flags:?}");
    imap.remove_flags("INBOX", uid1, "\\Flagged").await.unwrap();
    assert_eq!(
        imap.flags("INBOX", uid1).await.unwrap(),
        vec!["\\Seen".to_string()]
    );

    imap.expunge_uid("INBOX", uid1).await.unwrap();
    assert_eq!(imap.uids("INBOX").await.unwrap(), vec![uid2]);

    imap.create_mailbox("Rig Folder/Child").await.unwrap();
    let uid = imap.append("Rig Folder/Child", &message(3)).await.unwrap();
    assert_eq!(imap.uids("Rig Folder/Child").await.unwrap(), vec![uid]);
    imap.delete_mailbox("Rig Folder/Child").await.unwrap();
    assert!(imap.select("Rig Folder/Child").await.is_err());
    imap.logout().await.unwrap();
}

#[tokio::test]
async fn wrong_password_is_refused() {
    let dovecot = Dovecot::ensure();
    let mut user = dovecot.create_user("rig-badpass");
    user.pass.push('x');
    assert!(ImapTestClient::connect(dovecot, &user).await.is_err());
}

#[tokio::test]
async fn starttls_upgrade() {
    let dovecot = Dovecot::ensure();
    let user = dovecot.create_user("rig-starttls");
    let mut imap = ImapTestClient::starttls_connect(dovecot, &user)
        .await
        .expect("STARTTLS login");
    assert_eq!(imap.select("INBOX").await.unwrap().exists, 0);
    imap.logout().await.unwrap();
}

#[tokio::test]
async fn implicit_tls_with_generated_ca() {
    let dovecot = Dovecot::ensure();
    let user = dovecot.create_user("rig-tls");
    let mut imap = ImapTestClient::tls_connect(dovecot, &user)
        .await
        .expect("TLS login");
    let uid = imap.append("INBOX", &message(1)).await.unwrap();
    assert_eq!(imap.uids("INBOX").await.unwrap(), vec![uid]);
    // Special-use folders exist for every user.
    for folder in ["Sent", "Drafts", "Trash", "Junk"] {
        imap.select(folder)
            .await
            .unwrap_or_else(|e| panic!("{folder}: {e}"));
    }
    imap.logout().await.unwrap();
}

#[tokio::test]
async fn many_users_log_in_concurrently() {
    let dovecot = Dovecot::ensure();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let user = dovecot.create_user("rig-many");
            tokio::spawn(async move {
                let mut imap = ImapTestClient::connect(Dovecot::ensure(), &user).await?;
                imap.select("INBOX").await?;
                imap.logout().await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("login");
    }
}

#[tokio::test]
async fn fill_maildir_is_seen_by_dovecot() {
    let dovecot = Dovecot::ensure();
    let user = dovecot.create_user("rig-fill");
    let d = dovecot;
    let name = user.user.clone();
    tokio::task::spawn_blocking(move || {
        d.fill_maildir(&name, "INBOX", 1000, message);
        d.fill_maildir(&name, "Archive/2019", 10, message);
    })
    .await
    .unwrap();

    let mut imap = ImapTestClient::connect(dovecot, &user).await.unwrap();
    let mailbox = imap.select("INBOX").await.unwrap();
    assert_eq!(mailbox.exists, 1000);
    let uids = imap.uids("INBOX").await.unwrap();
    assert_eq!(uids.len(), 1000);

    // UIDs follow the order of `i`: check the first, a middle and the last message.
    for i in [0usize, 499, 999] {
        let uid = uids[i];
        let fetched = {
            let session = imap.session();
            let stream = session
                .uid_fetch(uid.to_string(), "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
                .await
                .unwrap();
            futures::TryStreamExt::try_collect::<Vec<_>>(stream)
                .await
                .unwrap()
        };
        let header = String::from_utf8_lossy(fetched[0].header().unwrap()).into_owned();
        assert!(
            header.contains(&format!("rig message {i}\r")),
            "uid {uid}: {header:?}"
        );
    }

    assert_eq!(imap.select("Archive/2019").await.unwrap().exists, 10);
    // Flags can be changed on filled messages (Dovecot can rename the files).
    imap.add_flags("INBOX", uids[0], "\\Seen").await.unwrap();
    imap.expunge_uid("INBOX", uids[1]).await.unwrap();
    assert_eq!(imap.select("INBOX").await.unwrap().exists, 999);
    imap.logout().await.unwrap();
}

#[tokio::test]
async fn webhook_receiver_records_and_fails_on_demand() {
    let hooks = WebhookReceiver::start().await;
    let body = serde_json::json!({"event": "messageNew", "account": "rig"});

    let (status, _) = http("POST", &hooks.url(), Some(body.clone())).await;
    assert_eq!(status, 200);
    let got = hooks
        .next_within(Duration::from_secs(5))
        .await
        .expect("recorded");
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/webhook");
    assert_eq!(got.body, body);
    assert_eq!(got.header("Content-Type"), Some("application/json"));
    assert_eq!(got.status, 200);

    hooks.fail_next(2, 503);
    for expected in [503, 503, 200] {
        let (status, _) = http("POST", &hooks.url(), Some(body.clone())).await;
        assert_eq!(status, expected);
    }
    let statuses: Vec<u16> = hooks.drain().await.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 503, 200]);

    // wait_for keeps non-matching requests for later.
    http_raw("POST", &hooks.url(), "not json", "text/plain").await;
    http(
        "POST",
        &hooks.url(),
        Some(serde_json::json!({"event": "messageDeleted"})),
    )
    .await;
    let deleted = hooks
        .wait_for_event("messageDeleted", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(deleted.event(), Some("messageDeleted"));
    let text = hooks.next_within(Duration::from_secs(5)).await.unwrap();
    assert_eq!(&text.raw[..], b"not json");
    assert!(text.body.is_null());
    assert!(
        hooks
            .next_within(Duration::from_millis(200))
            .await
            .is_none()
    );
    assert_eq!(hooks.count(), 6);
}

/// Sizing check for the 100,000-message benchmark (slow: run with `--ignored`).
#[tokio::test]
#[ignore]
async fn fill_maildir_100k() {
    let dovecot = Dovecot::ensure();
    let n: usize = std::env::var("RIG_FILL_N").map_or(100_000, |v| v.parse().unwrap());
    let user = dovecot.create_user("rig-100k");
    let name = user.user.clone();
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || dovecot.fill_maildir(&name, "INBOX", n, message))
        .await
        .unwrap();
    let filled = started.elapsed();
    let mut imap = ImapTestClient::connect(dovecot, &user).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(imap.select("INBOX").await.unwrap().exists as usize, n);
    eprintln!("fill: {filled:?}, first SELECT: {:?}", started.elapsed());
}

/// The events schema the end-to-end tests check against does refuse what is not an event.
#[test]
fn the_events_schema_refuses_broken_events() {
    let good = serde_json::json!({
        "id": "0193a0b2-1c2d-7e3f-8a4b-5c6d7e8f9a0b", "v": 1, "account": "user@example.com",
        "date": "2026-12-02T10:00:00.000Z", "path": "INBOX", "specialUse": "\\Inbox",
        "event": "messageDeleted", "data": {"id": "AAAAAQAAAeE", "uid": 481}
    });
    support::assert_valid_event(&good);
    let broken = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut e = good.clone();
        change(&mut e);
        std::panic::catch_unwind(|| support::assert_valid_event(&e)).is_err()
    };
    assert!(broken(&|e| e["v"] = 2.into()), "another version");
    assert!(
        broken(&|e| e["data"] = serde_json::json!({"id": "x"})),
        "no uid"
    );
    assert!(
        broken(&|e| e["event"] = "messageLost".into()),
        "unknown kind"
    );
    assert!(broken(&|e| e["date"] = "yesterday".into()), "not a date");
    assert!(broken(&|e| e["id"] = "42".into()), "not a uuid");
    assert!(
        broken(&|e| e["specialUse"] = true.into()),
        "specialUse true"
    );
}
