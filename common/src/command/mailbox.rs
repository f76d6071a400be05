//! Folder commands: list, create, delete, rename. Paths are the decoded (UTF-8) names that
//! the API shows; ingest encodes them as modified UTF-7 on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/account/:id/mailboxes`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListMailboxes {}

/// `POST /v1/account/:id/mailbox`: the path as segments, joined with the server's
/// delimiter by ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateMailbox {
    pub path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMailboxReply {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox_id: Option<String>,
    pub created: bool,
}

/// `DELETE /v1/account/:id/mailbox?path=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMailbox {
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeleteMailboxReply {
    pub path: String,
    pub deleted: bool,
}

/// `PUT /v1/account/:id/mailbox` (beyond the original): rename `path` to `new_path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameMailbox {
    pub path: String,
    pub new_path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenameMailboxReply {
    pub path: String,
    pub new_path: String,
    pub renamed: bool,
}
