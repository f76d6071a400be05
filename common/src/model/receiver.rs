//! A webhook receiver that is failing, as dispatch reports it for `GET /v1/stats`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A failing webhook receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailingReceiver {
    /// Scheme, host and port of the webhook URL (never its path, query or credentials).
    pub target: String,
    /// When it started failing (RFC 3339).
    pub since: String,
    /// The last error, as dispatch saw it.
    pub error: String,
}
