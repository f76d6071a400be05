//! Commands for the account's session itself rather than for its mail.

use serde::{Deserialize, Serialize};

/// Drop the connections and connect again with the stored config (after an update, or
/// `PUT /v1/account/:id/reconnect`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reconnect {}

/// Close the connections for good and give up the lease (the account was deleted).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Close {}

/// The reply of a command that has nothing to report but success.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Done {}
