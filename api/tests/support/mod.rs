//! The harness shared by the integration tests of the REST surface: `Services` on the
//! embedded store and bus in a temporary directory, requests sent through
//! `imapapi_api::routes()` with `warp::test`, and the test playing the ingest process that
//! owns an account (it holds the account's lease and serves its node on the bus).

// Every file under `tests/` is a crate of its own that uses only part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imapapi_common::Services;
use imapapi_common::bus::{self, RetryPolicy};
use imapapi_common::command::{Command, CommandKind, ReadBody, Reply, error_reply};
use imapapi_common::config::{
    ApiConfig, Config, IngestConfig, QueueConfig, ServiceConfig, WebhooksConfig,
};
use imapapi_common::error::ApiError;
use imapapi_common::store;
use serde::Serialize;
use serde_json::Value;
use tempfile::TempDir;

/// The account `example` of the README, with an IMAP and an SMTP password.
pub const README_ACCOUNT: &str = r#"{
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

/// A config on the embedded store and bus under `dir`, on port 0, with short timeouts.
pub fn config(dir: &Path) -> Config {
    Config {
        workers_imap: 1,
        redis: None,
        data_dir: dir.to_path_buf(),
        api: ApiConfig {
            metrics_port: None,
            host: "127.0.0.1".into(),
            port: 0,
            max_size: 5 << 20,
            auth: None,
            require_auth: false,
        },
        service: ServiceConfig {
            command_timeout: Duration::from_secs(5),
            secret: None,
            local_addresses: Vec::new(),
        },
        log_level: "info".into(),
        log_format: imapapi_common::config::LogFormat::Json,
        settings: None,
        queue: QueueConfig {
            url: None,
            prefix: "imapapi".into(),
            retry: RetryPolicy {
                max_attempts: 1,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::MAX,
                jitter: false,
            },
            submit_retry: RetryPolicy {
                max_attempts: 1,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::MAX,
                jitter: true,
            },
            visibility: Duration::from_secs(30),
        },
        ingest: IngestConfig {
            emf: None,
            node_id: "ingest-test".into(),
            lease_ttl: Duration::from_secs(30),
            scan_interval: Duration::from_secs(1),
            command_connections: 2,
            command_connections_max: 10,
            command_idle: Duration::from_secs(60),
            notify: true,
            idle_folders: Vec::new(),
            message_cache: 0,
        },
        webhooks: WebhooksConfig {
            timeout: Duration::from_secs(5),
            concurrency: 1,
            signing_key: None,
            breaker_max_pause: Duration::from_secs(300),
        },
        gmail: Default::default(),
    }
}

/// `Services` on a temporary directory that lives as long as the harness.
pub struct Harness {
    pub services: Services,
    _dir: TempDir,
}

/// A harness whose config `f` has changed first.
pub async fn harness_with(f: impl FnOnce(&mut Config)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    f(&mut config);
    let store = store::open(&config).await.unwrap();
    let bus = bus::connect(&config).await.unwrap();
    Harness {
        services: Services::new(std::sync::Arc::new(config), store, bus),
        _dir: dir,
    }
}

/// A harness with the default test config.
pub async fn harness() -> Harness {
    harness_with(|_| {}).await
}

impl Harness {
    /// Send `req` through the routes: the status, the JSON body and its text.
    pub async fn raw(&self, req: warp::test::RequestBuilder) -> (u16, Value, String) {
        let res = req.reply(&imapapi_api::routes(self.services.clone())).await;
        let status = res.status().as_u16();
        let text = String::from_utf8_lossy(res.body()).into_owned();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {status} {text}"));
        (status, value, text)
    }

    /// Send `method path` with an optional JSON body: the status and the JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let mut req = warp::test::request().method(method).path(path);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let (status, value, _) = self.raw(req).await;
        (status, value)
    }

    /// Create the README's account `example`.
    pub async fn create_readme_account(&self) {
        let (status, body) = self.call("POST", "/v1/account", Some(README_ACCOUNT)).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Play the ingest process owning `account`: hold its lease and serve node `node`.
    pub async fn own(
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

/// `body` is the JSON error of `want_status` whose message mentions `field`.
pub fn assert_error(status: u16, body: &Value, want_status: u16, field: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["statusCode"], want_status, "{body}");
    assert!(body["code"].is_string(), "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains(field), "expected {field:?} in {msg:?}");
}

/// How the fake ingest answers one command.
pub type Answer = Box<dyn Fn(&CommandKind) -> Vec<u8> + Send + Sync>;

/// The ingest process owning `example`, played by the test: it answers every command
/// with `answer` and records the commands it saw.
pub struct FakeIngest {
    seen: Arc<Mutex<Vec<CommandKind>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeIngest {
    pub fn seen(&self) -> Vec<CommandKind> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> CommandKind {
        self.seen().pop().expect("no command was sent")
    }

    pub fn reads(&self) -> Vec<ReadBody> {
        self.seen()
            .into_iter()
            .filter_map(|c| match c {
                CommandKind::ReadBody(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

impl Drop for FakeIngest {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A harness with the README's account `example`, owned by a fake ingest.
pub async fn owned(answer: Answer) -> (Harness, FakeIngest) {
    let h = harness().await;
    h.create_readme_account().await;
    let mut server = h.own("example", "n1").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok(req) = server.next().await {
            let command: Command = serde_json::from_slice(&req.body).unwrap();
            assert_eq!(command.account, "example");
            let reply = answer(&command.kind);
            record.lock().unwrap().push(command.kind);
            let _ = req.replier.reply(reply).await;
        }
    });
    (h, FakeIngest { seen, task })
}

/// An ok reply to a command.
pub fn ok<T: Serialize>(value: T) -> Vec<u8> {
    serde_json::to_vec(&Reply::Ok(value)).unwrap()
}

/// An ingest that must not be asked anything.
pub fn unexpected() -> Answer {
    Box::new(|c| error_reply(ApiError::internal(format!("unexpected command {c:?}"))))
}

/// A well-formed message id.
pub const MESSAGE: &str = "AAAAAQAAAeE";

/// The path of message `MESSAGE` of `example`, followed by `rest`.
pub fn message_path(rest: &str) -> String {
    format!("/v1/account/example/message/{MESSAGE}{rest}")
}
