//! OAuth2 and the auth server end to end: the rig's Dovecot checks bearer tokens with the
//! rig's OAuth2 server (and Postfix asks Dovecot), so every login here is a real XOAUTH2
//! exchange. Covers a bearer token set on the account, Gmail OAuth2 run by the gateway
//! (consent, callback, renewal before logins, revocation), and the operator's auth server
//! (passwords and tokens over IMAP and SMTP, and every way it can fail).

use std::time::Duration;

use serde_json::{Value, json};

use crate::pipeline::wait_state;
use crate::support::{AuthReply, AuthServer, Dovecot, OAuth2Server, http, request};

const CONNECT: Duration = Duration::from_secs(30);

/// The `gmail.*` options pointing Gmail OAuth2 at the rig: the OAuth2 server's endpoints,
/// Dovecot's implicit TLS port and Postfix's smtps port.
pub fn gmail_args() -> Vec<String> {
    let os = OAuth2Server::ensure();
    let dv = Dovecot::ensure();
    let pf = crate::support::Postfix::ensure();
    vec![
        format!("--gmail.authUrl={}/auth", os.url),
        format!("--gmail.tokenUrl={}/token", os.url),
        format!("--gmail.profileUrl={}/gmail/v1/users/me/profile", os.url),
        format!("--gmail.imap={}:{}", dv.host, dv.imaps_port),
        format!("--gmail.smtp={}:{}", pf.host, pf.smtps_port),
    ]
}

/// A user name no other test uses (Dovecot lowercases logins).
fn fresh_user(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

async fn reconnect(base: &str, account: &str) {
    let (status, body) = http(
        "PUT",
        &format!("{base}/v1/account/{account}/reconnect"),
        Some(json!({"reconnect": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Poll until the account is in `authenticationError` with `lastError.response`
/// containing `text`.
async fn wait_auth_error(base: &str, account: &str, text: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        let (_, body) = http("GET", &format!("{base}/v1/account/{account}"), None).await;
        let response = body["lastError"]["response"].as_str().unwrap_or_default();
        if body["state"] == "authenticationError" && response.contains(text) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{account} never failed authentication with \"{text}\"; last: {last}");
}

/// Until the queued send has left the outbox (sent): its entry then answers 404.
async fn wait_sent(base: &str, queue_id: &str) {
    let url = format!("{base}/v1/outbox/{queue_id}");
    let mut last = Value::Null;
    for _ in 0..150 {
        let (status, body) = http("GET", &url, None).await;
        if status == 404 || body["state"] == "sent" {
            return;
        }
        assert_ne!(body["state"], "failed", "the send failed: {body}");
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{queue_id} was never sent; last: {last}");
}

/// Send a text mail from `account` to `to` (a password user, so that LMTP delivers);
/// returns once Postfix accepted it.
async fn send(base: &str, account: &str, from: &str, to: &str, subject: &str) {
    let (status, queued) = http(
        "POST",
        &format!("{base}/v1/account/{account}/submit"),
        Some(json!({
            "from": {"address": format!("{from}@example.com")},
            "to": [{"address": format!("{to}@example.com")}],
            "subject": subject,
            "text": "sent with XOAUTH2",
        })),
    )
    .await;
    assert_eq!(status, 200, "{queued}");
    wait_sent(base, queued["queueId"].as_str().unwrap()).await;
}

/// A bearer token set as the account's `imap.auth.accessToken` logs in with XOAUTH2; once
/// revoked (the gateway cannot renew a token it was only given), the account shows
/// `authenticationError`.
pub async fn bearer_token_logins(base: &str) {
    let dv = Dovecot::ensure();
    let os = OAuth2Server::ensure();
    let user = fresh_user("bearer");
    let tokens = os.issue(&user).await;
    let body = json!({
        "account": "bearer",
        "name": "Bearer",
        "imap": {"host": dv.host, "port": dv.imap_port, "secure": false,
                 "auth": {"user": user, "accessToken": tokens.access_token}},
    });
    let (status, created) = http("POST", &format!("{base}/v1/account"), Some(body)).await;
    assert_eq!(status, 200, "{created}");
    wait_state(base, "bearer", "connected", CONNECT).await;
    let (status, folders) = http("GET", &format!("{base}/v1/account/bearer/mailboxes"), None).await;
    assert_eq!(status, 200, "{folders}");
    assert!(folders.to_string().contains("INBOX"), "{folders}");
    let (_, details) = http("GET", &format!("{base}/v1/account/bearer"), None).await;
    assert!(
        !details.to_string().contains(&tokens.access_token),
        "token in a response"
    );

    os.revoke(&user).await;
    reconnect(base, "bearer").await;
    wait_state(base, "bearer", "authenticationError", CONNECT).await;
}

/// Gmail OAuth2 run by the gateway: `POST /v1/account` answers the consent URL, the
/// consent screen sends the browser to `GET /oauth`, which creates the account; logins
/// (IMAP and SMTP) renew the short-lived access token; a revoked grant ends in
/// `authenticationError`.
pub async fn gmail_consent_and_renewal(base: &str) {
    let dv = Dovecot::ensure();
    let os = OAuth2Server::ensure();
    let user = fresh_user("gmail");
    let recipient = dv.create_user("gmailrcpt");
    // Tokens of this user live 4 s: renewal is needed between logins.
    os.set_lifetime(&user, 4).await;

    // Without a client configured, the field is named.
    let pending = json!({"account": "gm", "name": "Gmail", "oauth2": {"auth": {"user": user}}});
    let (status, err) = http("POST", &format!("{base}/v1/account"), Some(pending.clone())).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["fields"][0]["key"], "oauth2", "{err}");

    let settings = json!({
        "gmailClientId": os.client_id,
        "gmailClientSecret": os.client_secret,
        "gmailRedirectUrl": format!("{base}/oauth"),
    });
    let (status, body) = http("POST", &format!("{base}/v1/settings"), Some(settings)).await;
    assert_eq!(status, 200, "{body}");

    let (status, answer) = http("POST", &format!("{base}/v1/account"), Some(pending)).await;
    assert_eq!(status, 200, "{answer}");
    let redirect = answer["redirect"].as_str().expect("a consent URL");
    assert!(
        redirect.starts_with(&format!("{}/auth?", os.url)),
        "{redirect}"
    );
    assert!(
        !redirect.contains(&os.client_secret),
        "client secret in the URL"
    );
    let (status, _) = http("GET", &format!("{base}/v1/account/gm"), None).await;
    assert_eq!(status, 404, "nothing is stored before consent");

    // The consent screen approves and sends the browser back with a code.
    let consent = request("GET", redirect, &[], Vec::new(), None)
        .await
        .unwrap();
    assert_eq!(consent.status, 302, "{}", consent.text());
    let callback = consent.header("location").unwrap().to_string();
    assert!(
        callback.starts_with(&format!("{base}/oauth?code=")),
        "{callback}"
    );

    // A refused consent and a forged state are refused.
    let (status, err) = http("GET", &format!("{base}/oauth?error=access_denied"), None).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (400, Some("OAuthConsentRefused")),
        "{err}"
    );
    let forged = callback.replace("state=", "state=x");
    let (status, err) = http("GET", &forged, None).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["fields"][0]["key"], "state", "{err}");

    let (status, created) = http("GET", &callback, None).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created, json!({"account": "gm", "state": "new"}));
    let connected = wait_state(base, "gm", "connected", CONNECT).await;
    assert_eq!(
        connected["oauth2"]["auth"]["user"],
        user.as_str(),
        "{connected}"
    );
    assert_eq!(connected["oauth2"]["refreshToken"], "******", "{connected}");

    // The access token from the consent has expired by now: the next login renews it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = os.refresh_grants(&user).await;
    reconnect(base, "gm").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_state(base, "gm", "connected", CONNECT).await;
    assert!(
        os.refresh_grants(&user).await > before,
        "the login renewed the token"
    );

    // SMTP logs in with XOAUTH2 through Postfix, renewing as well.
    send(base, "gm", &user, &recipient.user, "from Gmail OAuth2").await;

    // Revoked: renewal is refused, and the account says so.
    os.revoke(&user).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    reconnect(base, "gm").await;
    let failed = wait_auth_error(base, "gm", "refused").await;
    assert_eq!(
        failed["lastError"]["serverResponseCode"], "OauthRenewError",
        "{failed}"
    );
}

/// The operator's auth server: asked at each login with `account` and `proto`; a password
/// or a token it gives works for IMAP and SMTP; whatever goes wrong with it (garbage, a
/// huge answer, an error status, the server down) is an `authenticationError` that says so.
pub async fn auth_server_credentials(base: &str) {
    let dv = Dovecot::ensure();
    let os = OAuth2Server::ensure();
    let user = dv.create_user("authsrv");
    let recipient = dv.create_user("authsrvrcpt");
    let server = AuthServer::start(AuthReply::Json(
        json!({"user": user.user, "pass": user.pass}),
    ))
    .await;
    let (status, body) = http(
        "POST",
        &format!("{base}/v1/settings"),
        Some(json!({"authServer": server.url()})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let account = json!({
        "account": "authsrv",
        "name": "Auth server",
        "imap": {"host": dv.host, "port": dv.imap_port, "secure": false, "useAuthServer": true},
        "smtp": {"host": "127.0.0.1", "port": 2587, "secure": false, "useAuthServer": true},
    });
    let (status, created) = http("POST", &format!("{base}/v1/account"), Some(account)).await;
    assert_eq!(status, 200, "{created}");
    wait_state(base, "authsrv", "connected", CONNECT).await;
    send(
        base,
        "authsrv",
        &user.user,
        &recipient.user,
        "auth server password",
    )
    .await;
    let queries = server.queries();
    assert!(
        queries.contains(&"account=authsrv&proto=imap".to_string()),
        "{queries:?}"
    );
    assert!(
        queries.contains(&"account=authsrv&proto=smtp".to_string()),
        "{queries:?}"
    );

    // A token from the auth server goes out as XOAUTH2.
    let oauth_user = fresh_user("authsrvtoken");
    let tokens = os.issue(&oauth_user).await;
    server.set(AuthReply::Json(
        json!({"user": oauth_user, "accessToken": tokens.access_token}),
    ));
    reconnect(base, "authsrv").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected = wait_state(base, "authsrv", "connected", CONNECT).await;
    assert!(!connected.to_string().contains(&tokens.access_token));

    for (reply, says) in [
        (AuthReply::Garbage, "not {user, pass}"),
        (AuthReply::Huge(1 << 20), "larger than"),
        (AuthReply::Status(503), "status 503"),
        (
            AuthReply::Json(json!({"user": "x"})),
            "neither pass nor accessToken",
        ),
    ] {
        server.set(reply);
        reconnect(base, "authsrv").await;
        let failed = wait_auth_error(base, "authsrv", says).await;
        assert_eq!(
            failed["lastError"]["serverResponseCode"], "HTTPRequestError",
            "{failed}"
        );
    }
    drop(server);
    reconnect(base, "authsrv").await;
    wait_auth_error(base, "authsrv", "Auth server request failed").await;
}
