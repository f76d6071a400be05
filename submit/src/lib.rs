//! The submit role: takes send jobs off the `Submit` queue and sends each message over the
//! account's SMTP server, then (through the ingest process that owns the account) stores
//! the Sent copy and flags the original of a reply or forward.
//!
//! Exactly one send per job: the outbox entry moves `queued` → `sending` → `sent` with
//! compare-and-set updates, and `sent` is recorded before the follow-ups, so a worker that
//! dies after the SMTP server accepted the message never sends it again; the redelivered
//! job only finishes the follow-ups. Temporary failures go back to the bus (exponential
//! backoff with jitter, `submit.*`), permanent ones fail at once. Stateless otherwise:
//! any number of submit processes can share the queue.

mod events;
mod follow_up;
pub mod smtp;
mod worker;

use imapapi_common::Services;
use tokio_util::sync::CancellationToken;

/// Run the submit role until `shutdown` is cancelled; sends in flight are finished first.
pub async fn run(services: Services, shutdown: CancellationToken) -> anyhow::Result<()> {
    imapapi_common::net::tls::install_provider();
    worker::consume(services, shutdown).await
}
