//! End-to-end tests of the routes against the real embedded store and bus in a temporary
//! directory; where an ingest process is needed the test plays it (serves the node on the
//! bus and holds the account's lease).

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use imapapi_common::Services;
use imapapi_common::bus::{self, Message, QueueName, RetryOutcome, RetryPolicy};
use imapapi_common::command::{
    Command, CommandKind, Done, GetMessage, ListMessages, Reply, TextType, error_reply,
};
use imapapi_common::config::{
    ApiConfig, BasicAuth, Config, IngestConfig, QueueConfig, ServiceConfig, WebhooksConfig,
};
use imapapi_common::error::ApiError;
use imapapi_common::model::{Event, EventKind, MessageList, Secret};
use imapapi_common::store;
use serde_json::{Value, json};
use tempfile::TempDir;

pub(crate) const README_ACCOUNT: &str = r#"{
    "account": "example",
    "name": "My Example Account",
    "imap": {
        "host": "imap.gmail.com",
        "port": 993,
        "secure": true,
        "auth": {
            "user": "myuser@gmail.com",
            "pass": "verysecret"
        }
    },
    "smtp": {
        "host": "smtp.gmail.com",
        "port": 465,
        "secure": true,
        "auth": {
            "user": "myuser@gmail.com",
            "pass": "verysecret"
        }
    }
}"#;

fn config(dir: &Path) -> Config {
    Config {
        workers_imap: 1,
        redis: None,
        data_dir: dir.to_path_buf(),
        api: ApiConfig {
            host: "127.0.0.1".into(),
            port: 0,
            max_size: 5 << 20,
            auth: None,
        },
        service: ServiceConfig {
            command_timeout: Duration::from_secs(5),
            secret: None,
            local_addresses: Vec::new(),
        },
        log_level: "info".into(),
        settings: None,
        queue: QueueConfig {
            url: None,
            prefix: "imapapi".into(),
            retry: RetryPolicy {
                max_attempts: 1,
                base_delay: Duration::from_millis(10),
            },
        },
        ingest: IngestConfig {
            node_id: "ingest-test".into(),
            lease_ttl: Duration::from_secs(30),
            scan_interval: Duration::from_secs(1),
            command_connections: 2,
            command_connections_max: 10,
            command_idle: Duration::from_secs(60),
        },
        webhooks: WebhooksConfig {
            timeout: Duration::from_secs(5),
            concurrency: 1,
        },
    }
}

pub(crate) struct Harness {
    pub(crate) services: Services,
    _dir: TempDir,
}

pub(crate) async fn harness_with(f: impl FnOnce(&mut Config)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    f(&mut config);
    let store = store::open(&config).await.unwrap();
    let bus = bus::connect(&config).await.unwrap();
    Harness {
        services: Services {
            config: std::sync::Arc::new(config),
            store,
            bus,
        },
        _dir: dir,
    }
}

pub(crate) async fn harness() -> Harness {
    harness_with(|_| {}).await
}

impl Harness {
    async fn raw(&self, req: warp::test::RequestBuilder) -> (u16, Value, String) {
        let res = req.reply(&crate::routes(self.services.clone())).await;
        let status = res.status().as_u16();
        let text = String::from_utf8_lossy(res.body()).into_owned();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {status} {text}"));
        (status, value, text)
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut req = warp::test::request().method(method).path(path);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let (status, value, _) = self.raw(req).await;
        (status, value)
    }

    pub(crate) async fn create_readme_account(&self) {
        let (status, body) = self.call("POST", "/v1/account", Some(README_ACCOUNT)).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Play the ingest process owning `account`: hold its lease and serve node `node`.
    pub(crate) async fn own(
        &self,
        account: &str,
        node: &str,
    ) -> Box<dyn imapapi_common::bus::RequestServer> {
        assert!(
            self.services
                .store
                .acquire_lease(account, node, Duration::from_secs(30))
                .await
                .unwrap()
        );
        self.services.bus.serve(node).await.unwrap()
    }
}

pub(crate) fn assert_error(status: u16, body: &Value, want_status: u16, field: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["statusCode"], want_status, "{body}");
    assert!(body["code"].is_string(), "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains(field), "expected {field:?} in {msg:?}");
}

#[tokio::test]
async fn settings_round_trip_and_key_filtering() {
    let h = harness().await;
    let (status, body) = h
        .call(
            "POST",
            "/v1/settings",
            Some(r#"{"webhooks":"https://example.com/hook","webhookEvents":["messageNew"],"gmailClientSecret":"s3cret"}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut updated: Vec<String> = serde_json::from_value(body["updated"].clone()).unwrap();
    updated.sort();
    assert_eq!(updated, ["gmailClientSecret", "webhookEvents", "webhooks"]);

    let (status, body) = h
        .call("POST", "/v1/settings", Some(r#"{"notifyText":true}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"updated": ["notifyText"]}));

    let (status, all) = h.call("GET", "/v1/settings", None).await;
    assert_eq!(status, 200);
    assert_eq!(all["webhooks"], "https://example.com/hook");
    assert_eq!(all["notifyText"], true);
    assert_eq!(all["gmailClientSecret"], "******");
    assert!(!all.to_string().contains("s3cret"));

    let (_, only) = h
        .call("GET", "/v1/settings?webhooks=true&notifyHeaders=true", None)
        .await;
    assert_eq!(only, json!({"webhooks": "https://example.com/hook"}));
    let (_, secret) = h
        .call("GET", "/v1/settings?gmailClientSecret=true", None)
        .await;
    assert_eq!(secret, json!({"gmailClientSecret": "******"}));
    let (_, types) = h.call("GET", "/v1/settings?eventTypes=true", None).await;
    assert_eq!(types["eventTypes"].as_array().unwrap().len(), 9);
    assert!(types.get("webhooks").is_none());

    let (status, body) = h.call("GET", "/v1/settings?nope=true", None).await;
    assert_error(status, &body, 400, "\"nope\"");
    let (status, body) = h.call("GET", "/v1/settings?webhooks=perhaps", None).await;
    assert_error(status, &body, 400, "\"webhooks\"");
}

#[tokio::test]
async fn bad_settings_are_rejected_and_not_stored() {
    let h = harness().await;
    let (status, body) = h.call("POST", "/v1/settings", Some(r#"{"foo":1}"#)).await;
    assert_error(status, &body, 400, "\"foo\"");
    let (status, body) = h
        .call(
            "POST",
            "/v1/settings",
            Some(r#"{"webhooks":"ftp://example.com"}"#),
        )
        .await;
    assert_error(status, &body, 400, "\"webhooks\"");
    let (status, body) = h
        .call(
            "POST",
            "/v1/settings",
            Some(r#"{"webhookEvents":["messageNew","bogus"]}"#),
        )
        .await;
    assert_error(status, &body, 400, "webhookEvents[1]");
    let (_, all) = h.call("GET", "/v1/settings", None).await;
    assert_eq!(all, json!({}));
}

#[tokio::test]
async fn account_lifecycle_redacts_secrets() {
    let h = harness().await;
    let (status, body) = h.call("POST", "/v1/account", Some(README_ACCOUNT)).await;
    assert_eq!(
        (status, body),
        (200, json!({"account": "example", "state": "new"}))
    );
    let (status, body) = h.call("POST", "/v1/account", Some(README_ACCOUNT)).await;
    assert_eq!(
        (status, body),
        (200, json!({"account": "example", "state": "existing"}))
    );

    let (status, account) = h.call("GET", "/v1/account/example", None).await;
    assert_eq!(status, 200);
    assert_eq!(account["account"], "example");
    assert_eq!(account["state"], "init");
    assert_eq!(account["imap"]["auth"]["pass"], "******");
    assert_eq!(account["smtp"]["auth"]["pass"], "******");
    assert!(!account.to_string().contains("verysecret"));

    let (status, list) = h.call("GET", "/v1/accounts", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["pages"], 1);
    assert_eq!(
        list["accounts"][0],
        json!({"account": "example", "name": "My Example Account", "state": "init"})
    );
    let (_, list) = h.call("GET", "/v1/accounts?state=connected", None).await;
    assert_eq!(list["total"], 0);
    let (status, body) = h.call("GET", "/v1/accounts?state=sleepy", None).await;
    assert_error(status, &body, 400, "\"state\"");
    let (status, body) = h.call("GET", "/v1/accounts?pageSize=0", None).await;
    assert_error(status, &body, 400, "\"pageSize\"");

    // A GET round trip sends the secrets back as `******`: the stored ones are kept.
    let mut update = json!({"name": "Renamed"});
    update["imap"] = account["imap"].clone();
    let (status, body) = h
        .call("PUT", "/v1/account/example", Some(&update.to_string()))
        .await;
    assert_eq!((status, body), (200, json!({"account": "example"})));
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Renamed");
    let pass = |a: &imapapi_common::model::AccountConfig| {
        a.imap
            .as_ref()
            .unwrap()
            .auth
            .as_ref()
            .unwrap()
            .pass
            .clone()
            .unwrap()
    };
    assert_eq!(pass(&stored), Secret::new("verysecret"));

    let (status, _) = h
        .call(
            "PUT",
            "/v1/account/example",
            Some(r#"{"imap":{"host":"imap.example.com","port":143,"auth":{"user":"u","pass":"newpass"}}}"#),
        )
        .await;
    assert_eq!(status, 200);
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pass(&stored), Secret::new("newpass"));
    assert_eq!(stored.name, "Renamed");

    let (status, body) = h
        .call(
            "PUT",
            "/v1/account/example",
            Some(r#"{"imap":{"host":"h","port":"x"}}"#),
        )
        .await;
    assert_error(status, &body, 400, "\"imap.port\" must be a number");
    let (status, body) = h
        .call("PUT", "/v1/account/nobody", Some(r#"{"name":"x"}"#))
        .await;
    assert_error(status, &body, 404, "nobody");

    let (status, body) = h.call("DELETE", "/v1/account/example", None).await;
    assert_eq!(
        (status, body),
        (200, json!({"account": "example", "deleted": true}))
    );
    let (status, body) = h.call("GET", "/v1/account/example", None).await;
    assert_error(status, &body, 404, "example");
    let (status, body) = h.call("DELETE", "/v1/account/example", None).await;
    assert_error(status, &body, 404, "example");
}

#[tokio::test]
async fn accounts_are_paged_in_id_order() {
    let h = harness().await;
    for id in ["c", "a", "b"] {
        let body = README_ACCOUNT.replace("\"example\"", &format!("\"{id}\""));
        let (status, _) = h.call("POST", "/v1/account", Some(&body)).await;
        assert_eq!(status, 200);
    }
    let (_, page) = h.call("GET", "/v1/accounts?page=1&pageSize=2", None).await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["pages"], 2);
    assert_eq!(page["page"], 1);
    assert_eq!(page["accounts"][0]["account"], "c");
    let (_, page) = h.call("GET", "/v1/accounts?pageSize=2", None).await;
    let ids: Vec<&str> = page["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[tokio::test]
async fn bad_account_input_names_the_problem() {
    let h = harness().await;
    let (status, body) = h
        .call("POST", "/v1/account", Some(r#"{"account": "x", "#))
        .await;
    assert_error(status, &body, 400, "JSON");
    let (status, body) = h
        .call(
            "POST",
            "/v1/account",
            Some(r#"{"name":"n","imap":{"host":"h","port":1}}"#),
        )
        .await;
    assert_error(status, &body, 400, "\"account\"");
    let with_string_port = README_ACCOUNT.replace("993", "\"993\"");
    let (status, body) = h.call("POST", "/v1/account", Some(&with_string_port)).await;
    assert_error(status, &body, 400, "\"imap.port\" must be a number");
    let bad_id = README_ACCOUNT.replace("\"example\"", "\"has space\"");
    let (status, body) = h.call("POST", "/v1/account", Some(&bad_id)).await;
    assert_error(status, &body, 400, "\"account\"");
    let (status, body) = h.call("POST", "/v1/account", None).await;
    assert_error(status, &body, 400, "\"body\"");
    assert!(h.services.store.list_accounts().await.unwrap().is_empty());

    // curl -d without -H sends form encoding; the JSON body is taken all the same.
    let (status, body, _) = h
        .raw(
            warp::test::request()
                .method("POST")
                .path("/v1/account")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(README_ACCOUNT),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn unknown_routes_methods_and_accounts_are_json_errors() {
    let h = harness().await;
    let (status, body) = h.call("GET", "/v1/nothing-here", None).await;
    assert_error(status, &body, 404, "");
    let (status, body) = h.call("DELETE", "/v1/settings", None).await;
    assert_error(status, &body, 405, "");
    let (status, body) = h.call("GET", "/v1/account/ghost/mailboxes", None).await;
    assert_error(status, &body, 404, "ghost");
    let (status, body) = h
        .call("GET", "/v1/account/ghost/messages?path=INBOX", None)
        .await;
    assert_error(status, &body, 404, "ghost");
    let (status, body) = h
        .call("GET", "/v1/account/ghost/message/AAAAAQAAAeE", None)
        .await;
    assert_error(status, &body, 404, "ghost");
}

#[tokio::test]
async fn message_ids_and_paths_are_checked_first() {
    let h = harness().await;
    h.create_readme_account().await;
    for bad in ["AAAA", "AAAAAQAAAeEAAAAA", "!!!!!!!!!!!", "AAAAAQAAAe%2B"] {
        let (status, body) = h
            .call("GET", &format!("/v1/account/example/message/{bad}"), None)
            .await;
        assert_error(status, &body, 400, "\"message\"");
    }
    let (status, body) = h.call("GET", "/v1/account/example/messages", None).await;
    assert_error(status, &body, 400, "\"path\"");
    let (status, body) = h
        .call(
            "GET",
            "/v1/account/example/messages?path=INBOX&pageSize=1001",
            None,
        )
        .await;
    assert_error(status, &body, 400, "\"pageSize\"");
    let (status, body) = h
        .call(
            "GET",
            "/v1/account/example/message/AAAAAQAAAeE?textType=rtf",
            None,
        )
        .await;
    assert_error(status, &body, 400, "\"textType\"");
}

#[tokio::test]
async fn no_owner_is_503() {
    let h = harness().await;
    h.create_readme_account().await;
    let (status, body) = h.call("GET", "/v1/account/example/mailboxes", None).await;
    assert_error(status, &body, 503, "example");
    assert_eq!(body["code"], "NoActiveConnection");
    // A lease whose holder no longer serves requests is no connection either.
    h.services
        .store
        .acquire_lease("example", "gone", Duration::from_secs(30))
        .await
        .unwrap();
    let (status, body) = h
        .call("GET", "/v1/account/example/messages?path=INBOX", None)
        .await;
    assert_error(status, &body, 503, "example");
}

#[tokio::test]
async fn silent_owner_is_504() {
    let h = harness_with(|c| c.service.command_timeout = Duration::from_millis(300)).await;
    h.create_readme_account().await;
    let mut server = h.own("example", "n1").await;
    // Hold the requests unanswered (dropping one would count as a refusal).
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok(r) = server.next().await {
            held.push(r);
        }
    });
    let started = std::time::Instant::now();
    let (status, body) = h.call("GET", "/v1/account/example/mailboxes", None).await;
    assert_error(status, &body, 504, "");
    assert!(started.elapsed() < Duration::from_secs(3));
    held.abort();
}

#[tokio::test]
async fn commands_round_trip_through_the_owner() {
    let h = harness().await;
    h.create_readme_account().await;
    let mut server = h.own("example", "n1").await;
    let ingest = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let req = server.next().await.unwrap();
            let command: Command = serde_json::from_slice(&req.body).unwrap();
            let reply = match &command.kind {
                CommandKind::ListMessages(_) => serde_json::to_vec(&Reply::Ok(MessageList {
                    total: 1,
                    page: 0,
                    pages: 1,
                    messages: serde_json::from_value(json!([{
                        "id": "AAAAAQAAAeE", "uid": 481, "draft": false, "unseen": true,
                        "flagged": false, "size": 4334, "subject": "Test message"
                    }]))
                    .unwrap(),
                }))
                .unwrap(),
                _ => error_reply(ApiError::not_found("Message was not found")),
            };
            req.replier.reply(reply).await.unwrap();
            seen.push(command);
        }
        seen
    });
    let (status, body) = h
        .call(
            "GET",
            "/v1/account/example/messages?path=INBOX&page=0",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["messages"][0]["id"], "AAAAAQAAAeE");
    let (status, body) = h
        .call(
            "GET",
            "/v1/account/example/message/AAAAAQAAAeE?maxBytes=100&textType=plain",
            None,
        )
        .await;
    assert_error(status, &body, 404, "Message was not found");

    let seen = ingest.await.unwrap();
    assert_eq!(
        seen[0],
        Command {
            account: "example".into(),
            kind: ListMessages {
                path: "INBOX".into(),
                page: 0,
                page_size: 20
            }
            .into()
        }
    );
    assert_eq!(
        seen[1].kind,
        CommandKind::GetMessage(GetMessage {
            message: "AAAAAQAAAeE".into(),
            max_bytes: Some(100),
            text_type: Some(TextType::Plain),
        })
    );
}

#[tokio::test]
async fn owner_is_told_to_reconnect_and_close() {
    let h = harness().await;
    h.create_readme_account().await;
    let mut server = h.own("example", "n1").await;
    let (status, _) = h.call("POST", "/v1/account", Some(README_ACCOUNT)).await;
    assert_eq!(status, 200);
    let mut next = async || {
        let req = tokio::time::timeout(Duration::from_secs(5), server.next())
            .await
            .expect("no command arrived")
            .unwrap();
        let command: Command = serde_json::from_slice(&req.body).unwrap();
        req.replier
            .reply(serde_json::to_vec(&Reply::Ok(Done {})).unwrap())
            .await
            .unwrap();
        command.kind
    };
    assert_eq!(next().await, CommandKind::Reconnect(Default::default()));
    let (status, _) = h.call("DELETE", "/v1/account/example", None).await;
    assert_eq!(status, 200);
    assert_eq!(next().await, CommandKind::Close(Default::default()));
}

#[tokio::test]
async fn basic_auth_when_configured() {
    let h = harness_with(|c| {
        c.api.auth = Some(BasicAuth {
            user: "admin".into(),
            pass: Secret::new("pw"),
        })
    })
    .await;
    let res = warp::test::request()
        .path("/v1/settings")
        .reply(&crate::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (status, body, _) = h
        .raw(
            warp::test::request()
                .path("/v1/settings")
                .header("authorization", format!("Basic {}", b64("admin:wrong"))),
        )
        .await;
    assert_error(status, &body, 401, "");
    let (status, _, _) = h
        .raw(
            warp::test::request()
                .path("/v1/settings")
                .header("authorization", format!("Basic {}", b64("admin:pw"))),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bodies_over_max_size_are_413() {
    let h = harness_with(|c| c.api.max_size = 200).await;
    let big = format!(
        r#"{{"webhooks":"https://example.com/{}"}}"#,
        "x".repeat(300)
    );
    let (status, body) = h.call("POST", "/v1/settings", Some(&big)).await;
    assert_error(status, &body, 413, "");
    let (status, _) = h
        .call("POST", "/v1/settings", Some(r#"{"notifyText":true}"#))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn dead_letters_are_listed() {
    let h = harness().await;
    let (_, body) = h.call("GET", "/v1/deadletters", None).await;
    assert_eq!(body, json!({"events": []}));
    let event = Event::new(
        "example",
        EventKind::MessageNew,
        Some("INBOX".into()),
        json!({}),
    );
    let bus = &h.services.bus;
    bus.publish(
        QueueName::Events,
        Message::new(event.routing_key(), serde_json::to_vec(&event).unwrap()),
    )
    .await
    .unwrap();
    let mut consumer = bus.consume(QueueName::Events, 1).await.unwrap();
    let delivery = consumer.next().await.unwrap();
    let id = delivery.message.id;
    assert_eq!(delivery.retry().await.unwrap(), RetryOutcome::DeadLettered);
    let (status, body) = h.call("GET", "/v1/deadletters?limit=10", None).await;
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], id.to_string());
    assert_eq!(events[0]["event"]["account"], "example");
    assert_eq!(events[0]["event"]["event"], "messageNew");
    assert!(events[0]["attempts"].as_u64().unwrap() >= 1);
    let (status, body) = h.call("GET", "/v1/deadletters?limit=0", None).await;
    assert_error(status, &body, 400, "\"limit\"");
}

#[tokio::test]
async fn serves_over_tcp_and_stops_on_shutdown() {
    let h = harness().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(crate::serve_on(
        h.services.clone(),
        listener,
        shutdown.clone(),
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /v1/settings HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_when_a_secret_is_set() {
    use imapapi_common::crypto::{decrypt, is_encrypted};
    let h = harness_with(|c| c.service.secret = Some(Secret::new("the-key"))).await;
    h.create_readme_account().await;
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    let pass = |a: &imapapi_common::model::AccountConfig| {
        a.imap
            .as_ref()
            .unwrap()
            .auth
            .as_ref()
            .unwrap()
            .pass
            .clone()
            .unwrap()
    };
    let sealed = pass(&stored);
    assert!(is_encrypted(sealed.expose()));
    assert_eq!(
        decrypt(Some("the-key"), sealed.expose()).unwrap(),
        "verysecret"
    );
    let (_, account) = h.call("GET", "/v1/account/example", None).await;
    assert!(!account.to_string().contains("verysecret"));
    // Round-tripping the redacted record keeps the sealed value as it was.
    let update = json!({"name": "n", "imap": account["imap"].clone()});
    let (status, _) = h
        .call("PUT", "/v1/account/example", Some(&update.to_string()))
        .await;
    assert_eq!(status, 200);
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pass(&stored), sealed);
}
