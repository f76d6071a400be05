//! The ingest role: one persistent IMAP session per owned account, folder sync, IDLE,
//! change events, and execution of account commands sent by api.
//!
//! Environment: `IMAPAPI_EXTRA_CA=/path/ca.pem` adds PEM CA certificates to the trusted
//! TLS roots (for private CAs such as a test server's).

pub mod cmd;
pub mod command_pool;
pub mod connect_throttle;
pub mod connection;
pub mod control;
pub mod decode;
pub mod events;
pub mod flag_reads;
pub mod folder_view;
pub mod folder_watch;
pub mod heartbeat;
pub mod idle;
pub mod imap;
pub mod index;
pub mod lease_claims;
pub mod message;
pub mod message_cache;
pub mod message_flags;
pub mod notified;
pub mod owned_accounts_metric;
pub mod pickup;
pub mod router;
pub mod session;
pub mod supervisor;
pub mod sync;
pub mod utf7;
pub mod verify;

use imapapi_common::Services;
use tokio_util::sync::CancellationToken;

/// Run the ingest role until `shutdown` is cancelled: take account leases, keep one IMAP
/// session per owned account, publish change events and serve commands addressed to
/// `ingest.nodeId`. On shutdown the sessions log out and the leases are released.
pub async fn run(services: Services, shutdown: CancellationToken) -> anyhow::Result<()> {
    imapapi_common::net::tls::install_provider();
    supervisor::Supervisor::new(services).run(shutdown).await
}
