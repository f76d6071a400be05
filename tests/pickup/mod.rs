//! A new or changed account is picked up at once, shared by the all-in-one and the
//! distributed test files: the gateway under test scans its accounts only every 30 s
//! ([`ARGS`]), so an account that connects within seconds of its registration was found
//! through the api's notice, not through the scan.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::pipeline::{account_body, set_webhooks, wait_state};
use crate::support::{Dovecot, WebhookReceiver, http};

/// A scan interval no test waits for, and a lease that outlives it (leases are renewed on
/// the scan).
pub const ARGS: &[&str] = &["--ingest.scanInterval=30s", "--ingest.leaseTtl=120s"];

/// How soon a change must take effect: far less than the scan interval, with slack for a
/// busy machine.
const QUICK: Duration = Duration::from_secs(3);

/// Register an account: it connects and announces its folders within [`QUICK`]. Then
/// change its password to a wrong one and back, delete it and register it again: each
/// takes effect within [`QUICK`] too.
pub async fn changes_are_picked_up_at_once(base: &str) {
    let dv = Dovecot::ensure();
    let user = dv.create_user("pickup");
    let hook = WebhookReceiver::start().await;
    set_webhooks(base, &hook).await;
    // Past the first scan of a freshly started ingest: the next one is 30 s away.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let id = format!("pickup-{}", crate::support::unique_suffix());
    let body = account_body(dv, &id, &user);

    let started = Instant::now();
    register(base, &body).await;
    wait_state(base, &id, "connected", QUICK).await;
    let first = hook
        .wait_for(
            |r| r.body["account"] == id.as_str() && r.event() == Some("mailboxNew"),
            QUICK.saturating_sub(started.elapsed()),
        )
        .await;
    assert!(
        first.is_some(),
        "no mailboxNew within {QUICK:?} of the registration"
    );

    set_password(base, &id, "not-the-password").await;
    wait_state(base, &id, "authenticationError", QUICK).await;
    set_password(base, &id, &user.pass).await;
    wait_state(base, &id, "connected", QUICK).await;

    // A deleted account's session is closed for good; the same id registered again is a
    // change of the accounts, and so picked up at once too.
    let (status, reply) = http("DELETE", &format!("{base}/v1/account/{id}"), None).await;
    assert_eq!(status, 200, "{reply}");
    register(base, &body).await;
    wait_state(base, &id, "connected", QUICK).await;
    let _ = http("DELETE", &format!("{base}/v1/account/{id}"), None).await;
}

async fn register(base: &str, body: &serde_json::Value) {
    let (status, reply) = http("POST", &format!("{base}/v1/account"), Some(body.clone())).await;
    assert_eq!(status, 200, "{reply}");
}

/// `PUT /v1/account/:id` with another IMAP password.
async fn set_password(base: &str, id: &str, pass: &str) {
    let (status, account) = http("GET", &format!("{base}/v1/account/{id}"), None).await;
    assert_eq!(status, 200, "{account}");
    let mut imap = account["imap"].clone();
    imap["auth"]["pass"] = json!(pass);
    let (status, reply) = http(
        "PUT",
        &format!("{base}/v1/account/{id}"),
        Some(json!({ "imap": imap })),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}
