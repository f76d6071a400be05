//! End-to-end: the ingest role against the rig's real Dovecot, with the embedded store and
//! bus. Registers an account, changes its mailbox over a second IMAP connection and checks
//! the events, the commands, and the catch-up after a restart.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use imapapi_common::Services;
use imapapi_common::bus::{Consumer, QueueName};
use imapapi_common::command::{
    Command, GetMessage, ListMailboxes, ListMessages, Reply, Request, TextType,
};
use imapapi_common::config::{Cli, Config};
use imapapi_common::error::ApiError;
use imapapi_common::model::{AccountConfig, AccountState, AuthConfig, ImapConfig, Secret};
use imapapi_ingest::connection::{self, Credentials};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

fn rig_env() -> BTreeMap<String, String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let status = std::process::Command::new("bash")
        .arg(format!("{root}/infra/dovecot/start.sh"))
        .status()
        .expect("run infra/dovecot/start.sh");
    assert!(status.success(), "dovecot rig failed to start");
    std::fs::read_to_string("/tmp/imapapi-dovecot/env")
        .expect("rig env file")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn add_user(env: &BTreeMap<String, String>, user: &str, pass: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&env["USERS_FILE"])
        .unwrap();
    writeln!(f, "{user}:{{PLAIN}}{pass}::::::").unwrap();
}

async fn next_event(
    consumer: &mut Box<dyn Consumer>,
    kind: &str,
    pred: impl Fn(&Value) -> bool,
) -> (Value, Instant) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let d = tokio::time::timeout_at(deadline, consumer.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event within {WAIT:?}"))
            .unwrap();
        let at = Instant::now();
        let v: Value = serde_json::from_slice(&d.message.body).unwrap();
        d.ack().await.unwrap();
        if v["event"] == kind && pred(&v) {
            return (v, at);
        }
        assert!(
            !(v["event"] == "messageNew" && v["data"]["subject"] == "old mail"),
            "existing mail announced on first sync: {v}"
        );
    }
}

/// Send a command to the node over the bus, as the api does, and decode its reply.
async fn command<R: Request>(
    services: &Services,
    node: &str,
    account: &str,
    request: R,
) -> Result<R::Reply, ApiError> {
    let body = serde_json::to_vec(&Command {
        account: account.into(),
        kind: request.into(),
    })
    .unwrap();
    let reply = services
        .bus
        .request(node, body, Duration::from_secs(15))
        .await
        .unwrap();
    serde_json::from_slice::<Reply<R::Reply>>(&reply)
        .unwrap()
        .into_result()
}

fn mail(subject: &str) -> String {
    format!(
        "From: Ann <ann@example.com>\r\nTo: t@example.com\r\nReply-To: Desk <reply@example.com>, b@example.com\r\nSubject: {subject}\r\nMessage-ID: <{}@example.com>\r\n\r\nHello body\r\n",
        uuid::Uuid::new_v4()
    )
}

fn list_messages(path: &str) -> ListMessages {
    ListMessages {
        path: path.into(),
        page: 0,
        page_size: 20,
        cursor: None,
    }
}

fn get_message(id: &str) -> GetMessage {
    GetMessage {
        message: id.into(),
        max_bytes: None,
        text_type: Some(TextType::All),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_idles_serves_commands_and_catches_up() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let env = rig_env();
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("IMAPAPI_EXTRA_CA", &env["CA_CERT"]) };
    let user = format!(
        "ingest-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let pass = "pw-ingest";
    add_user(&env, &user, pass);

    let dir = tempfile::tempdir().unwrap();
    let node = "ingest-test-node";
    let layers = BTreeMap::from([
        ("DATA_DIR".to_string(), dir.path().display().to_string()),
        ("INGEST_NODE_ID".to_string(), node.to_string()),
        ("INGEST_SCAN_INTERVAL".to_string(), "200ms".to_string()),
        ("INGEST_LEASE_TTL".to_string(), "10s".to_string()),
    ]);
    let config = Config::from_layers(&Cli::default(), &layers).unwrap();
    let store = imapapi_common::store::open(&config).await.unwrap();
    let bus = imapapi_common::bus::connect(&config).await.unwrap();
    let services = Services::new(std::sync::Arc::new(config), store, bus);

    let imap = ImapConfig {
        host: env["IMAP_HOST"].clone(),
        port: env["IMAP_PORT"].parse().unwrap(),
        secure: false,
        auth: Some(AuthConfig {
            user: user.clone(),
            pass: Some(Secret::new(pass)),
            access_token: None,
        }),
        use_auth_server: false,
        tls: None,
        resync_delay: None,
        idle_folders: None,
    };
    let creds = Credentials::Password {
        user: user.clone(),
        pass: Secret::new(pass),
    };
    // A second client, as a person's mail program would be (STARTTLS, the rig's CA).
    let mut other = connection::connect(&imap, &creds, &[]).await.unwrap();
    other
        .append("INBOX", None, None, mail("old mail"))
        .await
        .unwrap();
    other.create("Plain").await.unwrap();

    let account = "acc1";
    services
        .store
        .put_account(&AccountConfig {
            account: account.into(),
            name: "Test".into(),
            copy: None,
            notify_from: None,
            path: None,
            imap: Some(imap.clone()),
            smtp: None,
            oauth2: None,
            webhooks: None,
        })
        .await
        .unwrap();
    let mut events = services.bus.consume(QueueName::Events, 64).await.unwrap();

    let shutdown = CancellationToken::new();
    let task = tokio::spawn(imapapi_ingest::run(services.clone(), shutdown.clone()));
    let (ev, _) = next_event(&mut events, "authenticationSuccess", |_| true).await;
    assert_eq!(ev["data"], serde_json::json!({ "user": user }));
    // The account's first sync announces every folder once it is synced (INBOX first: it
    // is synced before the folder list is read).
    let announced = std::sync::Mutex::new(BTreeMap::new());
    next_event(&mut events, "mailboxNew", |v| {
        let path = v["path"].as_str().unwrap_or_default().to_string();
        let mut seen = announced.lock().unwrap();
        seen.insert(path, v.clone());
        ["INBOX", "Drafts", "Plain"]
            .iter()
            .all(|p| seen.contains_key(*p))
    })
    .await;
    let announced = announced.into_inner().unwrap();
    assert_eq!(announced["INBOX"]["specialUse"], "\\Inbox");
    assert_eq!(announced["INBOX"]["data"]["specialUse"], "\\Inbox");
    assert_eq!(announced["Drafts"]["data"]["specialUse"], "\\Drafts");
    assert_eq!(announced["Plain"]["specialUse"], false);
    assert_eq!(announced["Plain"]["data"]["specialUse"], false);
    let deadline = Instant::now() + WAIT;
    loop {
        let st = services.store.get_status(account).await.unwrap();
        if st.is_some_and(|s| s.state == AccountState::Connected) {
            break;
        }
        assert!(Instant::now() < deadline, "account never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the first sync finish and IDLE start.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // New mail → messageNew with the decoded subject.
    let appended = Instant::now();
    other
        .append("INBOX", None, None, mail("Hello ingest"))
        .await
        .unwrap();
    let (ev, at) = next_event(&mut events, "messageNew", |v| {
        v["data"]["subject"] == "Hello ingest"
    })
    .await;
    eprintln!(
        "messageNew {} ms after APPEND completed (Dovecot notifies ~500 ms late)",
        at.duration_since(appended).as_millis()
    );
    assert_eq!(ev["account"], account);
    assert_eq!(ev["path"], "INBOX");
    assert_eq!(ev["specialUse"], "\\Inbox");
    assert_eq!(ev["data"]["replyTo"]["address"], "reply@example.com");
    assert_eq!(ev["data"]["answered"], false);
    let uid = ev["data"]["uid"].as_u64().unwrap();
    let id = ev["data"]["id"].as_str().unwrap().to_string();

    // \Seen → messageUpdated.
    other.select("INBOX").await.unwrap();
    other
        .run_command_and_check_ok(format!("UID STORE {uid} +FLAGS (\\Seen)"))
        .await
        .unwrap();
    let (ev, _) = next_event(&mut events, "messageUpdated", |v| v["data"]["uid"] == uid).await;
    assert_eq!(ev["data"]["changes"]["flags"]["added"][0], "\\Seen");
    assert_eq!(ev["data"]["id"], id.as_str());

    // Commands over the bus.
    let list = command(&services, node, account, list_messages("INBOX"))
        .await
        .unwrap();
    assert_eq!(list.total, 2);
    assert_eq!(list.pages, 1);
    assert_eq!(list.messages[0].subject.as_deref(), Some("Hello ingest"));
    assert_eq!(list.messages[1].subject.as_deref(), Some("old mail"));
    assert!(!list.messages[0].unseen);
    // Dovecot has neither Gmail's ids nor OBJECTID: nothing made up.
    assert!(list.messages[0].email_id.is_none() && list.messages[0].labels.is_none());
    let m = command(&services, node, account, get_message(&id))
        .await
        .unwrap();
    assert_eq!(m.subject.as_deref(), Some("Hello ingest"));
    assert_eq!(m.reply_to.as_ref().unwrap().address, "reply@example.com");
    assert!(m.text.unwrap().plain.unwrap().contains("Hello body"));
    let l = command(&services, node, account, ListMailboxes {})
        .await
        .unwrap();
    let inbox = l.mailboxes.iter().find(|m| m.path == "INBOX").unwrap();
    assert_eq!(inbox.messages, Some(2));
    assert_eq!(inbox.special_use.as_deref(), Some("\\Inbox"));
    let e = command(&services, node, account, list_messages("Nope"))
        .await
        .unwrap_err();
    assert_eq!(e.status_code, 404);
    let e = command(&services, node, "unknown", ListMailboxes {})
        .await
        .unwrap_err();
    assert_eq!(e.status_code, 404);

    // Expunge → messageDeleted.
    other
        .run_command_and_check_ok(format!("UID STORE {uid} +FLAGS (\\Deleted)"))
        .await
        .unwrap();
    other.run_command_and_check_ok("EXPUNGE").await.unwrap();
    let (ev, _) = next_event(&mut events, "messageDeleted", |v| v["data"]["uid"] == uid).await;
    assert_eq!(ev["data"]["id"], id.as_str());
    let e = command(&services, node, account, get_message(&id))
        .await
        .unwrap_err();
    assert_eq!(e.status_code, 404);

    // Stop, change the mailbox while stopped, start again → catch-up events.
    shutdown.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(services.store.lease_owner(account).await.unwrap(), None);
    other
        .append("INBOX", None, None, mail("while away"))
        .await
        .unwrap();
    other
        .run_command_and_check_ok("STORE 1 +FLAGS (\\Flagged)")
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(imapapi_ingest::run(services.clone(), shutdown.clone()));
    // A sync publishes deletions, then flag changes, then new mail.
    let (ev, _) = next_event(&mut events, "messageUpdated", |_| true).await;
    assert_eq!(ev["data"]["changes"]["flags"]["added"][0], "\\Flagged");
    next_event(&mut events, "messageNew", |v| {
        v["data"]["subject"] == "while away"
    })
    .await;

    // Refused credentials: the server's answer and its response code.
    let mut bad = imap.clone();
    bad.auth = Some(AuthConfig {
        user: user.clone(),
        pass: Some(Secret::new("wrong-password")),
        access_token: None,
    });
    services
        .store
        .put_account(&AccountConfig {
            account: "acc-bad".into(),
            name: "Bad".into(),
            copy: None,
            notify_from: None,
            path: None,
            imap: Some(bad),
            smtp: None,
            oauth2: None,
            webhooks: None,
        })
        .await
        .unwrap();
    let (ev, _) = next_event(&mut events, "authenticationError", |v| {
        v["account"] == "acc-bad"
    })
    .await;
    assert_eq!(
        ev["data"]["serverResponseCode"], "AUTHENTICATIONFAILED",
        "{ev}"
    );
    assert_eq!(ev["data"]["response"], "Authentication failed.", "{ev}");
    assert!(!ev.to_string().contains("wrong-password"));
    shutdown.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let _ = other.logout().await;
}
