//! Webhook requests, shared by the dispatch role (every event) and the api (a test webhook
//! sent from the settings): the URL turned into what goes on the wire (`target.rs`), the
//! pooled client that POSTs one body (`client.rs`) and its signature (`signature.rs`).
//! Nothing here ever prints a secret: errors and targets render as the URL's origin only.

mod client;
pub mod signature;
mod target;

use std::time::Duration;

pub use client::WebhookClient;
pub use signature::SIGNATURE_HEADER;
pub use target::Target;

/// Header carrying the event id, so receivers can drop duplicates without parsing the body
/// (delivery is at-least-once).
pub const EVENT_ID_HEADER: &str = "x-imapapi-event-id";

/// Header carrying the delivery attempt of this request, 1 for the first: a receiver sees
/// how often the event was tried before (its failures, or ours).
pub const ATTEMPT_HEADER: &str = "x-imapapi-attempt";

/// `User-Agent` of every webhook request.
pub const USER_AGENT_VALUE: &str = concat!("imapapi/", env!("CARGO_PKG_VERSION"));

/// Why a webhook delivery failed. Displays without credentials, path or query.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The configured URL cannot be used; the text never contains the credentials.
    #[error("invalid webhook URL: {0}")]
    InvalidUrl(String),
    /// The receiver answered with a non-2xx status.
    #[error("receiver answered {0}")]
    Status(u16),
    /// No complete answer within `webhooks.timeout`.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Could not connect or the exchange broke (refused, reset, TLS, DNS).
    #[error("request failed: {0}")]
    Transport(String),
}
