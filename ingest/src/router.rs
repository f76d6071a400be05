//! Routes bus requests to the accounts this node runs: session controls (reconnect, close)
//! to the account's session, every mail command to a connection from the account's command
//! pool, each in a task of its own so one slow command never holds up another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use imapapi_common::Services;
use imapapi_common::bus::RequestServer;
use imapapi_common::command::{Command, CommandKind, Done, Reply, error_reply};
use imapapi_common::error::ApiError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::cmd::{self, CacheCx, CommandCx};
use crate::command_pool::CommandPool;
use crate::control::{Control, ControlRequest};
use crate::flag_reads::FlagReads;
use crate::folder_view::FolderView;
use crate::message_cache::MessageCache;

/// How to reach one running account.
#[derive(Clone)]
pub struct AccountHandle {
    pub control: mpsc::Sender<ControlRequest>,
    pub pool: Arc<CommandPool>,
    /// Flags of cached messages, read for many callers in one FETCH on the pool.
    pub flag_reads: Arc<FlagReads>,
    /// The folders as the account's session last stored them.
    pub folders: FolderView,
    /// This process's decoded messages (one cache for every account).
    pub cache: Arc<MessageCache>,
}

/// The running accounts of this node, shared with the supervisor that starts and stops them.
pub type Routes = Arc<Mutex<HashMap<String, AccountHandle>>>;

/// Serve bus requests until shutdown.
pub async fn route_requests(
    mut server: Box<dyn RequestServer>,
    routes: Routes,
    services: Services,
    shutdown: CancellationToken,
) {
    loop {
        let req = tokio::select! {
            r = server.next() => r,
            _ = shutdown.cancelled() => return,
        };
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "command server stopped");
                return;
            }
        };
        let routes = routes.clone();
        let services = services.clone();
        tokio::spawn(async move {
            let body = handle(&req.body, &routes, &services).await;
            if let Err(e) = req.replier.reply(body).await {
                tracing::debug!(error = %e, "cannot send command reply");
            }
        });
    }
}

async fn handle(body: &[u8], routes: &Routes, services: &Services) -> Vec<u8> {
    let command: Command = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => return error_reply(ApiError::new(400, "InvalidCommand", e.to_string())),
    };
    // Node-level work, for no account in particular.
    if let CommandKind::VerifyImap(v) = command.kind {
        let reply = crate::verify::verify(v, services).await;
        return serde_json::to_vec(&Reply::Ok(reply)).unwrap_or_default();
    }
    let handle = routes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&command.account)
        .cloned();
    let Some(handle) = handle else {
        return match services.store.get_account(&command.account).await {
            Ok(None) => error_reply(ApiError::not_found("Account not found")),
            _ => error_reply(ApiError::no_connection(&command.account)),
        };
    };
    match command.kind {
        CommandKind::Reconnect(_) => control(&handle, &command.account, Control::Reconnect).await,
        CommandKind::Close(_) => control(&handle, &command.account, Control::Close).await,
        kind => run_command(services, &handle, &command.account, kind).await,
    }
}

async fn control(handle: &AccountHandle, account: &str, control: Control) -> Vec<u8> {
    let (done, taken) = oneshot::channel();
    if handle
        .control
        .try_send(ControlRequest { control, done })
        .is_err()
    {
        return error_reply(ApiError::no_connection(account));
    }
    match taken.await {
        Ok(()) => serde_json::to_vec(&Reply::Ok(Done {})).unwrap_or_default(),
        Err(_) => error_reply(ApiError::no_connection(account)),
    }
}

/// Run one mail command on a pooled connection within `service.commandTimeout`: waiting
/// for a free connection counts. Details the message cache holds are answered with a flag
/// read batched with other callers' instead, when that batch can be answered. On a
/// timeout the connection is dropped mid-command (it is never returned to the pool), so
/// the next command starts on a clean one.
///
/// A command whose connection is lost (a pooled connection the server had closed, or
/// Dovecot's BYE when the selected folder is deleted) runs once more on a new one, except
/// an upload, which could otherwise be stored twice.
async fn run_command(
    services: &Services,
    handle: &AccountHandle,
    account: &str,
    kind: CommandKind,
) -> Vec<u8> {
    let name = kind.name();
    let started = std::time::Instant::now();
    let retry = (!matches!(kind, CommandKind::UploadMessage(_))).then(|| kind.clone());
    let work = async {
        let cached = CacheCx {
            account,
            folders: &handle.folders,
            cache: &handle.cache,
            flag_reads: &handle.flag_reads,
        };
        if let Some(reply) = cmd::answer_from_cache(&kind, &cached).await {
            return reply;
        }
        let first = attempt(services, handle, account, kind).await;
        match (first, retry) {
            (Err(_), Some(kind)) => {
                tracing::debug!(account, command = name, "connection lost; running again");
                attempt(services, handle, account, kind)
                    .await
                    .unwrap_or_else(|lost| lost)
            }
            (Err(lost), None) => lost,
            (Ok(reply), _) => reply,
        }
    };
    let reply = match tokio::time::timeout(services.config.service.command_timeout, work).await {
        Ok(reply) => reply,
        Err(_) => error_reply(ApiError::timeout()),
    };
    tracing::debug!(
        account,
        command = name,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "command"
    );
    reply
}

/// One try: the reply, or `Err(reply)` when the connection was lost on the way.
async fn attempt(
    services: &Services,
    handle: &AccountHandle,
    account: &str,
    kind: CommandKind,
) -> Result<Vec<u8>, Vec<u8>> {
    let mut conn = match handle.pool.acquire().await {
        Ok(c) => c,
        Err(e) => return Ok(error_reply(e)),
    };
    let mut cx = CommandCx {
        imap: &mut conn.imap,
        store: &*services.store,
        folders: Some(handle.folders.clone()),
        account,
        session: Some(handle.control.clone()),
        cache: &handle.cache,
    };
    let outcome = cmd::execute(kind, &mut cx).await;
    if outcome.connection_lost {
        return Err(outcome.reply);
    }
    conn.release();
    Ok(outcome.reply)
}
