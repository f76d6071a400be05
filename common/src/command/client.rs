//! Sends a command to the ingest process that owns an account and waits for its reply:
//! how the api serves calls that need the mail server, and how submit stores the Sent copy
//! and flags the original.
//!
//! The api is stateless: it finds the owner through the store's lease, sends the command
//! over the bus and waits at most `service.commandTimeout`. An account with no owner, or an
//! owner nobody serves any more, has no live connection (503); an owner that does not
//! answer in time is a timeout (504); an error the owner reports keeps its own status.

use crate::Services;
use crate::bus::BusError;
use crate::command::{Command, CommandKind, Reply, Request};
use crate::error::ApiError;
use crate::store::StoreError;

fn store_error(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "store operation failed");
    ApiError::internal("Store operation failed")
}

/// Send `request` for `account` to its owner and return its reply.
pub async fn send<R: Request>(
    services: &Services,
    account: &str,
    request: R,
) -> Result<R::Reply, ApiError> {
    let owner = services
        .store
        .lease_owner(account)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::no_connection(account))?;
    send_to(services, &owner, account, request).await
}

/// Send `request` for `account` to a known `owner`.
pub async fn send_to<R: Request>(
    services: &Services,
    owner: &str,
    account: &str,
    request: R,
) -> Result<R::Reply, ApiError> {
    let command = Command {
        account: account.to_string(),
        kind: request.into(),
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
                metrics::counter!("imapapi_bus_errors_total", "op" => "request").increment(1);
                tracing::error!(account, owner, error = %detail, "command request failed");
                ApiError::new(503, "BusError", "Could not reach the IMAP connection")
            }
        })?;
    match serde_json::from_slice::<Reply<R::Reply>>(&reply) {
        Ok(r) => r.into_result(),
        Err(e) => {
            tracing::error!(account, owner, error = %e, "undecodable command reply");
            Err(ApiError::internal("Invalid reply from the IMAP connection"))
        }
    }
}

/// Tell `owner` about a change without making the client wait: the change is already
/// stored, and ingest notices it on its own scan anyway (`accounts_generation`), so this
/// only makes it take effect sooner. Failures are logged at debug and otherwise ignored.
pub fn notify<R: Request>(services: &Services, owner: Option<String>, account: &str, request: R) {
    let Some(owner) = owner else {
        return;
    };
    let services = services.clone();
    let account = account.to_string();
    tokio::spawn(async move {
        let kind: CommandKind = request.into();
        let what = kind.name();
        let command = Command {
            account: account.clone(),
            kind,
        };
        let Ok(body) = serde_json::to_vec(&command) else {
            return;
        };
        let timeout = services.config.service.command_timeout;
        if let Err(e) = services.bus.request(&owner, body, timeout).await {
            tracing::debug!(account, owner, command = what, error = %e, "best-effort command not delivered");
        }
    });
}
