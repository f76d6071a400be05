//! The dispatch role: consumes change events from the bus and delivers each one as a
//! webhook POST to the URL in the settings, filtered by `webhookEvents`; events of an
//! account deleted since they were published are dropped. Failed deliveries go back to the
//! bus, which retries them with exponential backoff and dead-letters them after the last
//! attempt. Stateless: any number of dispatch processes can share the queue.

pub mod account_cache;
pub mod receiver_health;
pub mod settings_cache;
#[cfg(test)]
mod test_store;
mod worker;

use std::sync::Arc;

use imapapi_common::Services;
use tokio_util::sync::CancellationToken;

pub use worker::{ACCOUNT_MAX_AGE, SETTINGS_MAX_AGE};

/// Run the dispatch role until `shutdown` is cancelled; deliveries in flight are finished
/// (within `webhooks.timeout`) before it returns. Errors only when the bus is closed or the
/// HTTP client cannot be set up.
pub async fn run(services: Services, shutdown: CancellationToken) -> anyhow::Result<()> {
    let worker = Arc::new(worker::Worker::new(&services)?);
    worker::consume(services, worker, shutdown).await
}
