//! Tells every ingest process that the accounts changed (one was created, updated or
//! deleted), so that a new or changed account is picked up at once rather than on the next
//! `ingest.scanInterval` scan. Best effort and off the request's path: the account is
//! stored already, so a bus that cannot take the notice is logged at warn, counted in
//! `imapapi_bus_errors_total{op="notify"}`, and left to the scan; the API call never fails
//! or waits for it.

use std::time::Duration;

use imapapi_common::Services;

/// How long one notice may take before it is given up (the scan picks the change up).
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(5);

/// Announce that `account` changed, in the background.
pub fn accounts_changed(services: &Services, account: &str) {
    let bus = services.bus.clone();
    let account = account.to_string();
    tokio::spawn(async move {
        let error =
            match tokio::time::timeout(ANNOUNCE_TIMEOUT, bus.announce_accounts_changed()).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {ANNOUNCE_TIMEOUT:?}"),
            };
        metrics::counter!("imapapi_bus_errors_total", "op" => "notify").increment(1);
        tracing::warn!(account, %error,
            "cannot announce the account change; ingest picks it up on its next scan");
    });
}
