//! End to end with each role in its own process (`imapapi api`, `imapapi ingest`,
//! `imapapi dispatch`, `imapapi submit`) on Redis, once on RabbitMQ and once on SQS (moto's
//! server): the same scenarios as the embedded mode, plus ingest processes sharing
//! accounts, taking over from one that dies and handing accounts to one that joins.
//!
//! Both backends run side by side: the SQS clusters keep their store in a second Redis
//! (`IMAPAPI_TEST_REDIS_SQS`, default port 6380, started by `infra/services.sh`), so each
//! test keeps its database number on either backend.

mod access;
mod folder_notices;
mod identity;
mod oauth2;
mod pickup;
mod pipeline;
mod routes;
mod sending;
mod support;

use std::time::Duration;

use pipeline::{account_body, expect_event, mail, set_webhooks, wait_state};
use serde_json::json;
use support::{Dovecot, Gateway, ImapTestClient, WebhookReceiver, http};

/// The queue the processes of a cluster share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Rabbit,
    Sqs,
}

impl Backend {
    /// The Redis server (no database number) of this backend's clusters.
    fn redis_base(self) -> String {
        let (var, default) = match self {
            Backend::Rabbit => ("IMAPAPI_TEST_REDIS", "redis://127.0.0.1:6379"),
            Backend::Sqs => ("IMAPAPI_TEST_REDIS_SQS", "redis://127.0.0.1:6380"),
        };
        std::env::var(var).unwrap_or_else(|_| default.into())
    }

    /// The `queue.url` for a cluster whose queue prefix is `prefix`.
    fn queue_url(self, prefix: &str) -> String {
        match self {
            Backend::Rabbit => amqp_url(),
            Backend::Sqs => format!("sqs://{prefix}"),
        }
    }

    /// The environment the processes need besides their options: the AWS settings that
    /// point the SDK at the local SQS server.
    fn env(self) -> Vec<(String, String)> {
        match self {
            Backend::Rabbit => Vec::new(),
            Backend::Sqs => vec![
                ("AWS_REGION".into(), "us-east-1".into()),
                ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                ("AWS_ENDPOINT_URL_SQS".into(), sqs_endpoint()),
            ],
        }
    }
}

fn sqs_endpoint() -> String {
    std::env::var("IMAPAPI_TEST_SQS").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// Generates each scenario once per backend: `rabbitmq::name` and `sqs::name`.
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Rabbit).await
                }
            )*
        }
        mod sqs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqs).await
                }
            )*
        }
    };
}

on_each_backend!(
    account_lifecycle_with_webhooks,
    bad_input_is_named,
    connection_errors_are_visible,
    second_ingest_takes_over,
    message_and_mailbox_routes,
    timeouts_leave_the_account_usable,
    sending,
    a_sent_message_is_never_sent_again,
    a_joining_ingest_gets_its_share,
    three_hundred_accounts_survive_a_kill_and_a_join,
    webhook_retries_then_dead_letter,
    oauth2_and_the_auth_server,
    changes_are_picked_up_at_once,
);

/// One isolated deployment: its own Redis database and queue prefix.
struct Cluster {
    api: Gateway,
    ingest: Vec<Gateway>,
    dispatch: Gateway,
    submit: Gateway,
    prefix: String,
    backend: Backend,
    /// Its store: a database of its backend's Redis.
    redis: String,
    /// What every process of this cluster is started with, for adding one later.
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn redis_url(backend: Backend, db: u8) -> String {
    format!("{}/{db}", backend.redis_base().trim_end_matches('/'))
}

fn amqp_url() -> String {
    std::env::var("IMAPAPI_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

async fn flush(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
}

impl Cluster {
    /// Stop every process, then remove this test's queues and exchanges from the broker.
    async fn finish(mut self) {
        self.api.stop().await;
        self.dispatch.stop().await;
        self.submit.stop().await;
        for i in &mut self.ingest {
            i.stop().await;
        }
        let retry = imapapi_common::bus::RetryPolicy::default();
        match self.backend {
            Backend::Rabbit => {
                let bus = imapapi_common::bus::rabbitmq::RabbitBus::connect(
                    &amqp_url(),
                    &self.prefix,
                    retry,
                )
                .await
                .expect("connect to RabbitMQ for clean-up");
                bus.delete_topology().await.expect("delete test topology");
            }
            Backend::Sqs => {
                let bus = imapapi_common::bus::sqs::SqsBus::with_client(
                    imapapi_common::bus::sqs::local_client(&sqs_endpoint()),
                    &self.prefix,
                    retry,
                    redis::Client::open(self.redis.as_str()).unwrap(),
                    Default::default(),
                )
                .await
                .expect("connect to SQS for clean-up");
                bus.delete_topology().await.expect("delete test queues");
            }
        }
    }

    /// Each test takes its own Redis database number (1–15; 9 and 10 are the benchmarks';
    /// 0 is the store conformance suite's) so tests can run side by side.
    async fn start(backend: Backend, db: u8, ingests: usize, extra: &[&str]) -> Cluster {
        Self::start_on(backend, redis_url(backend, db), ingests, extra).await
    }

    /// A cluster whose store is the Redis database at `redis` (flushed first). `extra` may
    /// set its own `--ingest.leaseTtl`.
    async fn start_on(backend: Backend, redis: String, ingests: usize, extra: &[&str]) -> Cluster {
        flush(&redis).await;
        let prefix = format!("imapapi-test-{}", support::unique_suffix());
        let mut args = vec![
            format!("--dbs.redis={redis}"),
            format!("--queue.url={}", backend.queue_url(&prefix)),
            format!("--queue.prefix={prefix}"),
        ];
        if !extra.iter().any(|a| a.starts_with("--ingest.leaseTtl=")) {
            args.push("--ingest.leaseTtl=3s".to_string());
        }
        if backend == Backend::Sqs {
            // A killed process's messages come back after this (RabbitMQ requeues them at
            // once); short, as the lease TTL above, so that crash scenarios take seconds.
            args.push("--queue.visibilityTimeout=5s".to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut owned_env = backend.env();
        owned_env.push((
            "IMAPAPI_EXTRA_CA".into(),
            Dovecot::ensure().ca_cert.display().to_string(),
        ));
        let env: Vec<(&str, &str)> = owned_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut ingest = Vec::new();
        for i in 0..ingests {
            let node = format!("--ingest.nodeId=node-{i}-{prefix}");
            let mut ia = a.clone();
            ia.push(&node);
            ingest.push(Gateway::spawn_role("ingest", &ia, &env).await);
        }
        let dispatch = Gateway::spawn_role("dispatch", &a, &env).await;
        let submit = Gateway::spawn_role("submit", &a, &env).await;
        let api = Gateway::spawn_role("api", &a, &env).await;
        Cluster {
            api,
            ingest,
            dispatch,
            submit,
            prefix,
            backend,
            redis,
            args,
            env: owned_env,
        }
    }

    /// Start one more ingest process.
    async fn add_ingest(&mut self) {
        let node = format!("--ingest.nodeId=node-{}-{}", self.ingest.len(), self.prefix);
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        args.push(&node);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.ingest
            .push(Gateway::spawn_role("ingest", &args, &env).await);
    }
}

async fn account_lifecycle_with_webhooks(backend: Backend) {
    let c = Cluster::start(backend, 11, 1, &[]).await;
    // The api reaches the shared store and this backend's queue.
    let (status, ready) = http("GET", &format!("{}/ready", c.api.base_url()), None).await;
    assert_eq!(status, 200, "{ready}");
    pipeline::account_lifecycle(&c.api.base_url(), "example").await;
    c.finish().await;
}

/// With a 30 s scan interval, a new, changed or re-registered account still takes effect
/// within seconds: the api's notice reaches ingest through the backend (a fanout exchange on
/// RabbitMQ, Redis pub/sub beside SQS).
///
/// Every database of the RabbitMQ half's Redis is taken, so both halves of this scenario
/// keep their store on the SQS half's Redis, where no other test uses databases 0 and 3
/// (3 is the RabbitMQ half's single-process checks' on its own Redis): 3 for SQS, 0 for
/// RabbitMQ.
async fn changes_are_picked_up_at_once(backend: Backend) {
    let db = match backend {
        Backend::Rabbit => 0,
        Backend::Sqs => 3,
    };
    let redis = format!("{}/{db}", Backend::Sqs.redis_base().trim_end_matches('/'));
    let c = Cluster::start_on(backend, redis, 1, pickup::ARGS).await;
    pickup::changes_are_picked_up_at_once(&c.api.base_url()).await;
    if backend == Backend::Rabbit {
        a_refused_notice_fails_no_call(&c).await;
    }
    c.finish().await;
}

/// A notice the broker refuses (its exchange deleted under the running cluster) fails no
/// API call: it is counted in `imapapi_bus_errors_total{op="notify"}`. The account is
/// picked up anyway once ingest listens again: after a lost connection its listener binds
/// anew and scans for what it may have missed.
async fn a_refused_notice_fails_no_call(c: &Cluster) {
    let conn = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let exchange = format!("{}.accounts", c.prefix);
    ch.exchange_delete(exchange.as_str().into(), Default::default())
        .await
        .unwrap();
    let _ = conn.close(200, "OK".into()).await;

    let base = c.api.base_url();
    let dv = Dovecot::ensure();
    let user = dv.create_user("refused");
    let body = account_body(dv, "refused", &user);
    let (status, reply) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    let series = r#"imapapi_bus_errors_total{op="notify"} "#;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = support::request(
            "GET",
            &c.api.url("/metrics"),
            &[],
            bytes::Bytes::new(),
            None,
        )
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&r.body).to_string();
        if text.lines().any(|l| l.starts_with(series)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not counted: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    kill_connections(&c.prefix).await;
    wait_state(&base, "refused", "connected", Duration::from_secs(10)).await;
}

/// Close every RabbitMQ connection of the cluster with queue prefix `prefix`.
async fn kill_connections(prefix: &str) {
    let out = tokio::process::Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "pid", "client_properties"])
        .output()
        .await
        .expect("rabbitmqctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let name = format!("imapapi {prefix}");
    let pids: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&name))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!pids.is_empty(), "no connection named {name}: {text}");
    for pid in pids {
        let status = tokio::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "test: connection loss"])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }
}

/// XOAUTH2 with a bearer token, Gmail OAuth2 run by the gateway (consent on the api,
/// renewal in ingest and submit), and the auth server, on separate processes; then access
/// tokens on a second api process that requires auth, its first token made with
/// `imapapi token` on the shared store.
async fn oauth2_and_the_auth_server(backend: Backend) {
    let args = oauth2::gmail_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Cluster::start(backend, 1, 1, &args).await;
    let base = c.api.base_url();
    oauth2::bearer_token_logins(&base).await;
    oauth2::gmail_consent_and_renewal(&base).await;
    oauth2::auth_server_credentials(&base).await;

    let mut args = c.args.clone();
    args.push("--api.requireAuth=true".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = c
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut guarded = Gateway::spawn_role("api", &args, &env).await;
    let redis = format!("--dbs.redis={}", c.redis);
    let admin = access::first_token(&mut guarded, &[&redis]).await;
    access::tokens_and_scopes(&guarded, &admin).await;
    guarded.stop().await;
    c.finish().await;
}

async fn bad_input_is_named(backend: Backend) {
    let c = Cluster::start(backend, 12, 1, &[]).await;
    pipeline::bad_input(&c.api.base_url()).await;
    c.finish().await;
}

async fn connection_errors_are_visible(backend: Backend) {
    let c = Cluster::start(backend, 13, 1, &[]).await;
    pipeline::connection_errors(&c.api.base_url()).await;
    c.finish().await;
}

/// Two ingest processes share the accounts; when the owner of an account is killed, the
/// other takes it over after the lease expires, and changes made meanwhile are announced.
async fn second_ingest_takes_over(backend: Backend) {
    let dv = Dovecot::ensure();
    let mut c = Cluster::start(backend, 14, 2, &[]).await;
    let base = c.api.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;

    let users: Vec<_> = (0..4).map(|_| dv.create_user("share")).collect();
    for (i, u) in users.iter().enumerate() {
        let (status, _) = http(
            "POST",
            &format!("{base}/v1/account"),
            Some(account_body(dv, &format!("share{i}"), u)),
        )
        .await;
        assert_eq!(status, 200);
    }
    for i in 0..users.len() {
        wait_state(
            &base,
            &format!("share{i}"),
            "connected",
            Duration::from_secs(30),
        )
        .await;
    }
    // Which node holds which account is visible in the store's leases.
    let client = redis::Client::open(c.redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*lease*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), users.len(), "one lease per account: {keys:?}");
    let mut owners = std::collections::BTreeSet::new();
    for k in &keys {
        let v: String = redis::cmd("GET")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap();
        owners.insert(v);
    }
    assert_eq!(
        owners.len(),
        2,
        "both ingest processes own accounts: {owners:?}"
    );

    // Kill the first ingest (no clean shutdown, its leases still run for 30 s). Whatever
    // it owned moves to the other within 10 s, as soon as its heartbeats stop; a change in
    // every mailbox must still be announced.
    c.ingest[0].kill();
    let killed = std::time::Instant::now();
    loop {
        let mut owners = std::collections::BTreeSet::new();
        for k in &keys {
            let v: Option<String> = redis::cmd("GET")
                .arg(k)
                .query_async(&mut conn)
                .await
                .unwrap();
            owners.insert(v);
        }
        let connected = futures::future::join_all((0..users.len()).map(|i| {
            let url = format!("{base}/v1/account/share{i}");
            async move { http("GET", &url, None).await.1["state"] == "connected" }
        }))
        .await;
        if owners.len() == 1 && !owners.contains(&None) && connected.iter().all(|c| *c) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "accounts not back within 10 s of the kill: owners {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("takeover after kill -9: {:?}", killed.elapsed());
    for (i, u) in users.iter().enumerate() {
        let mut other = ImapTestClient::connect(dv, u).await.unwrap();
        let uid = other
            .append("INBOX", &mail("after takeover", "z"))
            .await
            .unwrap();
        let account = format!("share{i}");
        let new = expect_event(&hook, &account, "messageNew", |r| {
            r.body["data"]["uid"] == uid
        })
        .await;
        assert_eq!(new.body["data"]["subject"], "after takeover");
        let (status, page) = http(
            "GET",
            &format!("{base}/v1/account/{account}/messages?path=INBOX"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{account} served after takeover: {page}");
    }

    // A change announced again, after a reconnect or by another process taking the
    // account over, keeps its event id (see tests/identity/).
    identity::reconnect_announces_under_the_same_id(
        dv, &base, &mut conn, &hook, "share0", &users[0],
    )
    .await;
    let (copy, uid, first) = identity::new_message_with_copy_before(
        dv,
        &mut conn,
        &hook,
        "share1",
        &users[1],
        "said twice by two",
    )
    .await;
    copy.put_back(&mut conn).await;
    // The only ingest left dies; a new one takes the accounts over and resyncs share1 from
    // the copied state.
    c.ingest[1].kill();
    c.add_ingest().await;
    identity::expect_same_id_again(&hook, "share1", uid, &first).await;
    c.finish().await;
}

/// Webhook retries and dead letters through the queue: the delayed copies, the
/// dead-letter queue, and `GET /v1/deadletters` reading it.
async fn webhook_retries_then_dead_letter(backend: Backend) {
    let c = Cluster::start(
        backend,
        8,
        1,
        &["--queue.retryDelay=200ms", "--queue.maxAttempts=3"],
    )
    .await;
    pipeline::retries_then_dead_letter(&c.api.base_url(), "retry").await;
    c.finish().await;
}

/// Every message and mailbox route through separate api and ingest processes: commands
/// and 1 MiB body ranges cross the queue and its request path; then folders changed by
/// another client reach the webhook through the ingest process's NOTIFY.
async fn message_and_mailbox_routes(backend: Backend) {
    let c = Cluster::start(backend, 15, 1, &[]).await;
    let base = c.api.base_url();
    routes::reading(&base, "reader").await;
    routes::reading_again(&base, "rereader").await;
    routes::large_bodies(&base, "large").await;
    routes::changing_messages(&base, "changer").await;
    routes::managing_mailboxes(&base, "folders").await;
    routes::searching(&base, "searcher").await;
    routes::paging_by_cursor(&base, "pager").await;
    routes::account_tools(&base, "tools").await;
    routes::stale_ids(&base, "stale").await;
    routes::uploading(&base, "uploader").await;
    routes::changes_feed(&base, "feed").await;
    folder_notices::changed_by_another_client(&base, "renames").await;
    c.finish().await;
}

/// A command past `service.commandTimeout` answers 504 through the broker too, and the
/// account answers the next call.
async fn timeouts_leave_the_account_usable(backend: Backend) {
    let c = Cluster::start(backend, 7, 1, &["--service.commandTimeout=1s"]).await;
    routes::timeouts_leave_the_account_usable(&c.api.base_url(), "slow").await;
    c.finish().await;
}

/// Sending through separate api, submit and ingest processes: the job and its follow-ups
/// cross the queue, the outbox lives in Redis.
async fn sending(backend: Backend) {
    let args = [
        "--submit.retryDelay=200ms",
        "--service.localAddresses=127.0.0.2|sender.test.example",
    ];
    let c = Cluster::start(backend, 6, 1, &args).await;
    let base = c.api.base_url();
    sending::reply_reaches_the_recipient(&base, "sender", "recipient").await;
    sending::refusals_and_the_outbox(&base, "refused").await;
    sending::temporary_failures_are_retried(&base, "flaky").await;
    sending::sends_from_the_local_address(&base).await;
    c.finish().await;
}

/// The SMTP server accepted the message but the follow-ups cannot run (the ingest process
/// holding the account is down): the job keeps coming back, is never sent again, not even
/// after the submit process is killed (SIGKILL) and started again, and finishes once ingest
/// is back. Exactly one copy reaches the recipient.
async fn a_sent_message_is_never_sent_again(backend: Backend) {
    let mut c = Cluster::start(backend, 5, 1, &["--submit.retryDelay=500ms"]).await;
    let base = c.api.base_url();
    let dv = Dovecot::ensure();
    let sender = dv.create_user("once");
    let recipient = dv.create_user("once-to");
    sending::sending_account(&base, "once", &sender).await;
    c.ingest[0].stop().await;

    let submit = json!({
        "from": {"address": format!("{}@example.com", sender.user)},
        "to": [{"address": format!("{}@example.com", recipient.user)}],
        "subject": "only once", "text": "x"});
    let (status, queued) = http(
        "POST",
        &format!("{base}/v1/account/once/submit"),
        Some(submit),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    let entry_url = format!("{base}/v1/outbox/{}", queued["queueId"].as_str().unwrap());
    sending::poll(&entry_url, "the send", |s, b| {
        s == 200 && b["state"] == "sent"
    })
    .await;

    let mut inbox = ImapTestClient::connect(dv, &recipient).await.unwrap();
    let mut delivered = Vec::new();
    for _ in 0..100 {
        delivered = inbox.uids("INBOX").await.unwrap();
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered.len(), 1, "delivered once");
    // Several retries of the follow-ups pass (0.5 s, 1 s, 2 s): none sends again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, entry) = http("GET", &entry_url, None).await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["state"], "sent", "{entry}");
    assert_eq!(entry["attempts"], 1, "one SMTP attempt: {entry}");
    assert_eq!(
        inbox.uids("INBOX").await.unwrap().len(),
        1,
        "never sent again"
    );

    // A crash with the job in hand: its redelivery to the new process must not send.
    c.submit.kill();
    c.submit.start().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        inbox.uids("INBOX").await.unwrap().len(),
        1,
        "not after a crash either"
    );

    c.ingest[0].start().await;
    sending::poll(&entry_url, "the follow-ups once ingest is back", |s, _| {
        s == 404
    })
    .await;
    let sent = format!("{base}/v1/account/once/messages?path=Sent");
    sending::poll(&sent, "the Sent copy", |s, b| s == 200 && b["total"] == 1).await;
    assert_eq!(inbox.uids("INBOX").await.unwrap().len(), 1, "still once");
    inbox.logout().await.ok();
    c.finish().await;
}

/// One role alone without a shared store and queue would run on private embedded ones and
/// never meet the others: it refuses to start, saying what is missing.
#[test]
fn a_lone_role_needs_shared_backends() {
    let dir = tempfile::tempdir().unwrap();
    for (args, missing) in [
        (vec!["api".to_string()], "--dbs.redis"),
        (
            vec![
                "ingest".to_string(),
                format!("--dbs.redis={}", redis_url(Backend::Rabbit, 3)),
            ],
            "--queue.url",
        ),
        (
            vec!["submit".to_string(), format!("--queue.url={}", amqp_url())],
            "--dbs.redis",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_imapapi"))
            .args(&args)
            .arg(format!("--dbs.path={}", dir.path().display()))
            .env_remove("REDIS_URL")
            .env_remove("QUEUE_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(missing), "{args:?}: {err}");
    }
}

/// A bad or unreachable `dbs.redis` or `queue.url` stops start-up with the option or the
/// server named, and never with the password the URL carries.
#[test]
fn start_up_errors_never_show_a_url_password() {
    let dir = tempfile::tempdir().unwrap();
    let rabbit = amqp_url();
    let redis = redis_url(Backend::Rabbit, 3);
    for (args, password) in [
        (
            vec!["--dbs.redis=http://user:Pw1Secret@x/".to_string()],
            "Pw1Secret",
        ),
        (
            vec![
                "--dbs.redis=redis://:Pw2Secret@127.0.0.1:1/0".to_string(),
                format!("--queue.url={rabbit}"),
            ],
            "Pw2Secret",
        ),
        (
            vec![
                format!("--dbs.redis={redis}"),
                "--queue.url=amqp://guest:Pw3Secret@127.0.0.1:1/%2f".to_string(),
            ],
            "Pw3Secret",
        ),
        (
            vec!["--queue.url=ftp://u:Pw4Secret@h/".to_string()],
            "Pw4Secret",
        ),
    ] {
        let out = std::process::Command::new("timeout")
            .arg("60")
            .arg(env!("CARGO_BIN_EXE_imapapi"))
            .arg("api")
            .args(&args)
            .arg(format!("--dbs.path={}", dir.path().display()))
            .arg(format!("--api.port={}", support::free_port()))
            .env_remove("REDIS_URL")
            .env_remove("QUEUE_URL")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} started");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            [
                "--dbs.redis",
                "--queue.url",
                "opening the store",
                "connecting the queue"
            ]
            .iter()
            .any(|what| all.contains(what)),
            "{args:?}: the error names neither the option nor the backend: {all}"
        );
        assert!(
            !all.contains(password),
            "{args:?} showed its password: {all}"
        );
    }
}

/// A process without the api role serves its own metrics on `api.metricsPort`, so that
/// Prometheus can scrape every process of a deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_the_api_serves_its_metrics() {
    let redis = redis_url(Backend::Rabbit, 3);
    flush(&redis).await;
    let port = support::free_port();
    let prefix = format!("imapapi-test-{}", support::unique_suffix());
    let args = [
        format!("--dbs.redis={redis}"),
        format!("--queue.url={}", amqp_url()),
        format!("--queue.prefix={prefix}"),
        format!("--api.metricsPort={port}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut ingest = Gateway::spawn_role("ingest", &args, &[]).await;
    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let text = loop {
        if let Ok(r) = support::request("GET", &url, &[], bytes::Bytes::new(), None).await
            && r.status == 200
        {
            let text = String::from_utf8(r.body.to_vec()).unwrap();
            // Written at the end of every account scan.
            if text.contains("imapapi_ingest_accounts 0") {
                break text;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ingest metrics on {url}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !text.contains("imapapi_accounts{"),
        "the store-wide gauge is the api's"
    );
    ingest.stop().await;
    let retry = imapapi_common::bus::RetryPolicy::default();
    imapapi_common::bus::rabbitmq::RabbitBus::connect(&amqp_url(), &prefix, retry)
        .await
        .expect("connect to RabbitMQ for clean-up")
        .delete_topology()
        .await
        .expect("delete test topology");
}

/// The lease owner of every account key matching `*lease*`, by key.
async fn lease_owners(redis: &str) -> std::collections::BTreeMap<String, Option<String>> {
    let client = redis::Client::open(redis).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*lease*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut owners = std::collections::BTreeMap::new();
    for k in keys {
        let v: Option<String> = redis::cmd("GET")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        owners.insert(k, v);
    }
    owners
}

/// A process that joins takes its share: the first one hands accounts over until the two
/// hold two each, and every account still announces its new mail; when it stops cleanly,
/// the first takes its accounts back at once.
async fn a_joining_ingest_gets_its_share(backend: Backend) {
    let dv = Dovecot::ensure();
    let emf = [
        "--ingest.emfNamespace=imapapi",
        "--ingest.emfDimensions=ClusterName=test,ServiceName=ingest",
        "--ingest.emfInterval=1s",
        // Long enough that a lease taken at the clean stop below was released, not expired
        // (a node that died counts as dead after 5 s).
        "--ingest.leaseTtl=30s",
    ];
    let mut c = Cluster::start(backend, 4, 1, &emf).await;
    let base = c.api.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let users: Vec<_> = (0..4).map(|_| dv.create_user("join")).collect();
    for (i, u) in users.iter().enumerate() {
        let body = account_body(dv, &format!("join{i}"), u);
        let (status, _) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
        assert_eq!(status, 200);
        wait_state(
            &base,
            &format!("join{i}"),
            "connected",
            Duration::from_secs(30),
        )
        .await;
    }
    let before = lease_owners(&c.redis).await;
    let distinct: std::collections::BTreeSet<_> = before.values().collect();
    assert_eq!(distinct.len(), 1, "one process owns all: {before:?}");

    c.add_ingest().await;
    let joined = std::time::Instant::now();
    loop {
        let owners = lease_owners(&c.redis).await;
        let mut counts = std::collections::BTreeMap::new();
        for o in owners.values().flatten() {
            *counts.entry(o.clone()).or_insert(0) += 1;
        }
        if owners.len() == 4 && counts.len() == 2 && counts.values().all(|n| *n == 2) {
            break;
        }
        assert!(
            joined.elapsed() < Duration::from_secs(20),
            "shares never evened out: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("rebalanced in {:?}", joined.elapsed());
    // Each process reports what it holds, for the autoscaler: two accounts each.
    for ingest in &c.ingest {
        let path = ingest.log_path();
        let reported = within_secs(5, || {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let last = log
                .lines()
                .rev()
                .find(|l| l.contains("\"_aws\":"))
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap());
            last.filter(|v| v["OwnedAccounts"] == 2)
        })
        .await;
        assert_eq!(
            reported["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "imapapi"
        );
        assert_eq!(reported["ServiceName"], "ingest");
    }
    let uids = append_to_all(dv, &users, "after the move").await;
    expect_all_new(&hook, "join", &uids).await;

    // A process that stops cleanly releases its accounts and leaves the live nodes at
    // once: the other takes them within moments, not after the leases or its heartbeat
    // run out, and their mail is announced again.
    c.ingest[1].stop().await;
    let stopped = std::time::Instant::now();
    let survivor = before.values().flatten().next().cloned();
    loop {
        let owners = lease_owners(&c.redis).await;
        if owners.len() == 4 && owners.values().all(|o| *o == survivor) {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(4),
            "the stopped process's accounts were not taken at once: {owners:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("after a clean stop, taken over in {:?}", stopped.elapsed());
    let uids = append_to_all(dv, &users, "after the stop").await;
    expect_all_new(&hook, "join", &uids).await;
    c.finish().await;
}

/// Polls `check` every 100 ms until it gives a value, at most `secs` seconds.
async fn within_secs<T>(secs: u64, check: impl Fn() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "not within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many accounts each node holds, from the leases.
async fn shares(redis: &str) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for owner in lease_owners(redis).await.into_values().flatten() {
        *counts.entry(owner).or_insert(0) += 1;
    }
    counts
}

/// Append one message to every user's INBOX; the uids by account index.
async fn append_to_all(dv: &Dovecot, users: &[support::TestUser], subject: &str) -> Vec<u32> {
    let mut uids = Vec::with_capacity(users.len());
    for u in users {
        let mut imap = ImapTestClient::connect(dv, u).await.unwrap();
        uids.push(imap.append("INBOX", &mail(subject, "x")).await.unwrap());
        imap.logout().await.ok();
    }
    uids
}

/// Every account announces the message with its uid: one `messageNew` each (a repeat,
/// if any, carries the same event id).
async fn expect_all_new(hook: &WebhookReceiver, prefix: &str, uids: &[u32]) {
    let mut ids = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ids.len() < uids.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {} accounts announced their mail",
            ids.len(),
            uids.len()
        );
        let Some(r) = hook.next_within(Duration::from_secs(5)).await else {
            continue;
        };
        if r.event() != Some("messageNew") {
            continue;
        }
        let account = r.body["account"].as_str().unwrap_or_default().to_string();
        let Some(i) = account
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if r.body["data"]["uid"] != uids[i] {
            continue;
        }
        let id = r.body["id"].as_str().unwrap().to_string();
        if let Some(first) = ids.insert(i, id.clone()) {
            assert_eq!(first, id, "a repeated event keeps its id");
        }
    }
}

/// Three ingest processes share 300 accounts; one is killed: its accounts are back on the
/// others within 10 s and each announces the mail appended meanwhile. A fourth joins: the
/// shares even out and again nothing is missed.
///
/// On SQS with 60 accounts: moto's server scans its whole queue on every receive (about
/// 0.6 ms per queued message), so the few thousand events of 300 first syncs would take it
/// minutes to hand out. Failover and rebalancing do not depend on the queue; what SQS adds
/// (events crossing it during a kill and a join) the smaller run shows as well.
async fn three_hundred_accounts_survive_a_kill_and_a_join(backend: Backend) {
    let accounts: usize = match backend {
        Backend::Rabbit => 300,
        Backend::Sqs => 60,
    };
    let dv = Dovecot::ensure();
    let mut c = Cluster::start(backend, 2, 3, &[]).await;
    let base = c.api.base_url();
    let hook = WebhookReceiver::start().await;
    set_webhooks(&base, &hook).await;
    let users: Vec<_> = (0..accounts).map(|_| dv.create_user("many")).collect();
    for (i, u) in users.iter().enumerate() {
        let body = account_body(dv, &format!("many{i}"), u);
        let (status, b) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
        assert_eq!(status, 200, "{b}");
    }
    let started = std::time::Instant::now();
    loop {
        let s = shares(&c.redis).await;
        if s.values().sum::<usize>() == accounts && s.len() == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{accounts} accounts not taken by 3 processes in 60 s: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "{accounts} accounts taken by 3 processes after {:?}",
        started.elapsed()
    );
    // Every account's first sync announces its folders; let those pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    hook.drain().await;

    c.ingest[0].kill();
    let killed = std::time::Instant::now();
    let appending = {
        let users = users.clone();
        tokio::spawn(
            async move { append_to_all(Dovecot::ensure(), &users, "while one died").await },
        )
    };
    loop {
        let s = shares(&c.redis).await;
        if s.len() == 2 && s.values().sum::<usize>() == accounts {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "accounts not back within 10 s of the kill: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{accounts} accounts, kill -9: all leases taken over after {:?}",
        killed.elapsed()
    );
    let uids = appending.await.unwrap();
    expect_all_new(&hook, "many", &uids).await;

    c.add_ingest().await;
    let joined = std::time::Instant::now();
    loop {
        let s = shares(&c.redis).await;
        if s.len() == 3 && s.values().all(|n| *n >= accounts / 3 - 1) {
            break;
        }
        assert!(
            joined.elapsed() < Duration::from_secs(30),
            "shares did not even out: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "a fourth process joined: shares even after {:?}",
        joined.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    hook.drain().await;
    let uids = append_to_all(dv, &users, "after the join").await;
    expect_all_new(&hook, "many", &uids).await;
    c.finish().await;
}
