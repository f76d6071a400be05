//! Sends a command to the ingest process that owns an account and waits for its reply.
//!
//! The api is stateless: it finds the owner through the store's lease, sends the command
//! over the bus and waits at most `service.commandTimeout`. An account with no owner, or an
//! owner nobody serves any more, has no live connection (503); an owner that does not
//! answer in time is a timeout (504); an error the owner reports keeps its own status.

use imapapi_common::Services;
use imapapi_common::bus::BusError;
use imapapi_common::command::{Command, CommandKind, CommandReply};
use imapapi_common::error::ApiError;

use crate::error::store_error;

/// Send `kind` for `account` to its owner and return the (non-error) reply.
pub async fn send(
    services: &Services,
    account: &str,
    kind: CommandKind,
) -> Result<CommandReply, ApiError> {
    let owner = services
        .store
        .lease_owner(account)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::no_connection(account))?;
    send_to(services, &owner, account, kind).await
}

/// Send `kind` for `account` to a known `owner`.
pub async fn send_to(
    services: &Services,
    owner: &str,
    account: &str,
    kind: CommandKind,
) -> Result<CommandReply, ApiError> {
    let command = Command {
        account: account.to_string(),
        kind,
    };
    let body = serde_json::to_vec(&command)
        .map_err(|e| ApiError::internal(format!("Could not encode command: {e}")))?;
    let timeout = services.config.service.command_timeout;
    let reply = services
        .bus
        .request(owner, body, timeout)
        .await
        .map_err(|e| match e {
            BusError::Timeout => ApiError::timeout(),
            BusError::NoRoute(_) | BusError::Closed => ApiError::no_connection(account),
            BusError::Backend(detail) => {
                tracing::error!(account, owner, error = %detail, "command request failed");
                ApiError::new(503, "BusError", "Could not reach the IMAP connection")
            }
        })?;
    match serde_json::from_slice::<CommandReply>(&reply) {
        Ok(CommandReply::Error(e)) => Err(e),
        Ok(r) => Ok(r),
        Err(e) => {
            tracing::error!(account, owner, error = %e, "undecodable command reply");
            Err(ApiError::internal("Invalid reply from the IMAP connection"))
        }
    }
}

/// Tell `owner` about a change without making the client wait: the change is already
/// stored, and ingest notices it on its own scan anyway (`accounts_generation`), so this
/// only makes it take effect sooner. Failures are logged at debug and otherwise ignored.
pub fn notify(services: &Services, owner: Option<String>, account: &str, kind: CommandKind) {
    let Some(owner) = owner else {
        return;
    };
    let services = services.clone();
    let account = account.to_string();
    tokio::spawn(async move {
        let what = format!("{kind:?}");
        if let Err(e) = send_to(&services, &owner, &account, kind).await {
            tracing::debug!(account, owner, command = what, error = %e, "best-effort command not delivered");
        }
    });
}

/// The message for a reply of the wrong kind (a protocol mismatch between versions).
pub fn unexpected(reply: &CommandReply) -> ApiError {
    let kind = match reply {
        CommandReply::Mailboxes(_) => "mailboxes",
        CommandReply::Messages(_) => "messages",
        CommandReply::Message(_) => "message",
        CommandReply::Done => "done",
        CommandReply::Error(_) => "error",
    };
    tracing::error!(kind, "unexpected command reply kind");
    ApiError::internal("Unexpected reply from the IMAP connection")
}
