//! Tests of the REST surface as a whole: unknown routes, methods and accounts are JSON
//! errors, a missing or silent owner of an account is a 503 or a 504, basic auth and the
//! body size limit apply to every route, and the api serves over TCP until shut down.

mod support;

use std::time::Duration;

use base64::Engine;
use imapapi_common::config::BasicAuth;
use imapapi_common::ids::{AttachmentId, MessageId, TextId};
use imapapi_common::model::Secret;
use support::{MESSAGE, assert_error, harness, harness_with};

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
async fn unknown_accounts_are_404_on_every_route() {
    let h = harness().await;
    let attachment = AttachmentId {
        message: MessageId::new(1, 481),
        part: "2".into(),
    }
    .encode();
    let text = TextId {
        message: MessageId::new(1, 481),
    }
    .encode();
    let base = "/v1/account/ghost";
    let routes = [
        ("GET", format!("{base}/text/{text}"), None),
        ("GET", format!("{base}/attachment/{attachment}"), None),
        ("GET", format!("{base}/message/{MESSAGE}/source"), None),
        (
            "PUT",
            format!("{base}/message/{MESSAGE}"),
            Some(r#"{"flags":{"add":["\\Seen"]}}"#),
        ),
        (
            "PUT",
            format!("{base}/message/{MESSAGE}/move"),
            Some(r#"{"path":"A"}"#),
        ),
        ("DELETE", format!("{base}/message/{MESSAGE}"), None),
        (
            "POST",
            format!("{base}/search?path=INBOX"),
            Some(r#"{"search":{}}"#),
        ),
        ("POST", format!("{base}/mailbox"), Some(r#"{"path":["A"]}"#)),
        (
            "PUT",
            format!("{base}/mailbox"),
            Some(r#"{"path":"A","newPath":["B"]}"#),
        ),
        ("DELETE", format!("{base}/mailbox?path=A"), None),
        (
            "PUT",
            format!("{base}/reconnect"),
            Some(r#"{"reconnect":true}"#),
        ),
    ];
    for (method, uri, body_text) in routes {
        let (status, body) = h.call(method, &uri, body_text).await;
        assert_error(status, &body, 404, "ghost");
    }
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
        .reply(&imapapi_api::routes(h.services.clone()))
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
    // The health route answers load balancers, which have no credentials.
    let (status, health, _) = h.raw(warp::test::request().path("/health")).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert!(health["version"].is_string());
    assert_eq!(
        health.as_object().unwrap().len(),
        2,
        "nothing else: {health}"
    );
    // So does readiness: the store and the queue both answer.
    let (status, ready, _) = h.raw(warp::test::request().path("/ready")).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
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
async fn serves_over_tcp_and_stops_on_shutdown() {
    let h = harness().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(imapapi_api::serve_on(
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
