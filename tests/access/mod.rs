//! Who may call the api: access tokens with their scopes, expiry and deletion, the
//! `access_token` query parameter, the `imapapi token` command, and the refusals counted in
//! `/metrics`. Run against the real binary; the caller picks the backends.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Gateway, request};

/// A request with an `Authorization` header (or none), JSON in and out.
pub async fn call(
    method: &str,
    url: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let headers: Vec<(&str, String)> = auth
        .map(|a| vec![("authorization", a.to_string())])
        .unwrap_or_default();
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (bytes, ct) = match &body {
        Some(b) => (serde_json::to_vec(b).unwrap(), Some("application/json")),
        None => (Vec::new(), None),
    };
    let res = request(method, url, &headers, bytes, ct)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e:#}"));
    (res.status, res.json())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `imapapi token --scope api` against the gateway's store (the gateway stopped: the
/// embedded store is one process's), then the gateway started again.
pub async fn first_token(gw: &mut Gateway, extra_args: &[&str]) -> String {
    gw.stop().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_imapapi"))
        .arg("token")
        .args(["--scope", "api", "--description", "admin"])
        .arg(format!("--dbs.path={}", gw.data_dir().display()))
        .args(extra_args)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("imapapi token timed out")
        .expect("imapapi token ran");
    assert!(
        out.status.success(),
        "imapapi token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("imapapi_"), "printed a token: {token:?}");
    gw.start().await;
    token
}

/// The whole token story on a gateway started with `--api.requireAuth=true` and no basic
/// auth pair; `admin` is a token with the `api` scope.
pub async fn tokens_and_scopes(gw: &Gateway, admin: &str) {
    let url = |p: &str| gw.url(p);
    let admin = bearer(admin);

    // No credentials, wrong ones, a malformed header: 401. Liveness stays open.
    let (status, body) = call("GET", &url("/v1/accounts"), None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("Unauthorized")),
        "{body}"
    );
    assert_eq!(call("GET", &url("/health"), None, None).await.0, 200);
    for wrong in [
        "Bearer imapapi_nope",
        "Basic YWRtaW46cHc=",
        "Token x",
        "Bearer ",
    ] {
        let (status, _) = call("GET", &url("/v1/accounts"), Some(wrong), None).await;
        assert_eq!(status, 401, "{wrong}");
    }
    assert_eq!(
        call("GET", &url("/v1/accounts"), Some(&admin), None)
            .await
            .0,
        200
    );

    // Creating tokens: every field checked and named.
    let (status, body) = call(
        "POST",
        &url("/v1/tokens"),
        Some(&admin),
        Some(json!({"description": "x", "scopes": ["root"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["fields"][0]["key"], "scopes[0]", "{body}");
    let make = |scopes: Value, extra: Value| {
        let admin = admin.clone();
        let url = url("/v1/tokens");
        async move {
            let mut body = json!({"description": "test", "scopes": scopes});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let (status, created) = call("POST", &url, Some(&admin), Some(body)).await;
            assert_eq!(status, 200, "{created}");
            (
                created["token"].as_str().unwrap().to_string(),
                created["id"].as_str().unwrap().to_string(),
            )
        }
    };
    let (reader, reader_id) = make(json!(["read"]), json!({})).await;
    let (alice, _) = make(json!(["account:alice"]), json!({})).await;
    let (short, _) = make(json!(["api"]), json!({"ttl": "1s"})).await;

    // The listing shows every token but never a token itself.
    let (status, list) = call("GET", &url("/v1/tokens"), Some(&admin), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["tokens"].as_array().unwrap().len(), 4, "{list}");
    for t in [&reader, &alice, &short] {
        assert!(
            !list.to_string().contains(t.as_str()),
            "a token in the listing"
        );
    }

    // `read`: every GET (header or query parameter), and nothing that writes.
    let reader_h = bearer(&reader);
    assert_eq!(
        call("GET", &url("/v1/accounts"), Some(&reader_h), None)
            .await
            .0,
        200
    );
    let q = url(&format!("/v1/accounts?access_token={reader}"));
    assert_eq!(
        call("GET", &q, None, None).await.0,
        200,
        "token in the query"
    );
    let new_account = json!({"account": "alice", "name": "A", "imap": false, "smtp": false});
    let (status, body) = call(
        "POST",
        &url("/v1/account"),
        Some(&reader_h),
        Some(new_account.clone()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("Forbidden")),
        "{body}"
    );
    assert_eq!(
        call("GET", &url("/v1/tokens"), Some(&reader_h), None)
            .await
            .0,
        403
    );

    // `account:alice`: that account only.
    let alice_h = bearer(&alice);
    let (status, body) = call("GET", &url("/v1/account/alice"), Some(&alice_h), None).await;
    assert_eq!(status, 404, "past auth, the account is unknown: {body}");
    assert_eq!(
        call("GET", &url("/v1/account/bob"), Some(&alice_h), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call("GET", &url("/v1/accounts"), Some(&alice_h), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call("GET", &url("/v1/settings"), Some(&alice_h), None)
            .await
            .0,
        403
    );

    // Expiry.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = call("GET", &url("/v1/accounts"), Some(&bearer(&short)), None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    // Deleting, by id and by the token itself: it stops working at once.
    let del = |what: String| {
        let admin = admin.clone();
        let url = url(&format!("/v1/tokens/{what}"));
        async move { call("DELETE", &url, Some(&admin), None).await }
    };
    let (status, body) = del(reader_id.clone()).await;
    assert_eq!((status, &body["deleted"]), (200, &json!(true)), "{body}");
    assert_eq!(
        call("GET", &url("/v1/accounts"), Some(&reader_h), None)
            .await
            .0,
        401
    );
    assert_eq!(del(reader_id).await.0, 404, "deleted twice");
    assert_eq!(del(alice.clone()).await.0, 200, "by the token itself");
    assert_eq!(
        call("GET", &url("/v1/account/alice"), Some(&alice_h), None)
            .await
            .0,
        401
    );

    // Every refusal is counted by reason.
    let res = request(
        "GET",
        &url("/metrics"),
        &[("authorization", &admin)],
        Vec::new(),
        None,
    )
    .await
    .unwrap();
    let text = res.text();
    for reason in ["missing", "invalid", "expired", "scope"] {
        let series = format!("imapapi_api_auth_failures_total{{reason=\"{reason}\"}}");
        assert!(text.contains(&series), "{series} in /metrics");
    }

    // Only hashes are stored, and no token is logged.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(gw.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            stored.extend(std::fs::read(path).unwrap());
        }
    }
    let log = std::fs::read_to_string(gw.log_path()).unwrap();
    for t in [&reader, &alice, &short] {
        let needle = t.as_bytes();
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "a token stored in clear"
        );
        assert!(!log.contains(t.as_str()), "a token in the log");
    }
}
