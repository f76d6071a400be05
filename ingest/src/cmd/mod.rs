//! Executing API commands on a command connection, one file per command in the spirit of
//! mini-redis's `cmd/`: each implements [`Execute`] for its request type from
//! `imapapi_common::command` and returns exactly that command's reply type.
//!
//! Commands run on pooled connections of their own (`command_pool`), never on the one that
//! watches for changes; a write is noticed by the watcher like any other change.

mod create_mailbox;
mod delete_mailbox;
mod delete_message;
mod get_message;
mod get_text;
mod list_mailboxes;
mod list_messages;
mod mailbox_path;
mod move_message;
mod read_body;
mod rename_mailbox;
mod save_sent;
mod search;
mod special_folder;
mod update_flags;
mod upload_message;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use imapapi_common::command::{CommandKind, Reply, Request};
use imapapi_common::error::ApiError;
use imapapi_common::ids::MessageId;
use imapapi_common::model::FolderState;
use imapapi_common::store::FolderStore;

use tokio::sync::{mpsc, oneshot};

use crate::control::{Control, ControlRequest};
use crate::flag_reads::FlagReads;
use crate::folder_view::{FolderList, FolderView};
use crate::imap::{Imap, ImapError};
use crate::message_cache::MessageCache;

pub use list_messages::{page_count, page_range};

/// What a command runs with: its connection, the store (folder ids), whose it is, and
/// the account's session (to have new folders synced so they get ids).
pub struct CommandCx<'a> {
    pub imap: &'a mut Imap,
    pub store: &'a dyn FolderStore,
    /// The session's folder list, when the command runs for a session (not for
    /// verifyAccount); read from the store until the session has published one.
    pub folders: Option<FolderView>,
    pub account: &'a str,
    pub session: Option<mpsc::Sender<ControlRequest>>,
    /// Decoded messages of this process's accounts, read before.
    pub cache: &'a MessageCache,
}

/// How long a command waits for the session to sync a folder it has not seen yet.
const RESYNC_WAIT: Duration = Duration::from_secs(5);

/// A command failure: an answer for the caller, or a connection that is no longer usable.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error("{0}")]
    Reply(ApiError),
}

impl From<ApiError> for CommandError {
    fn from(e: ApiError) -> Self {
        CommandError::Reply(e)
    }
}

impl CommandError {
    /// The error the caller gets.
    pub fn api_error(&self) -> ApiError {
        match self {
            CommandError::Reply(e) => e.clone(),
            CommandError::Imap(ImapError::Refused(m)) => ApiError::imap(m.clone()),
            CommandError::Imap(ImapError::Invalid(m)) => {
                ApiError::new(400, "InputValidationError", m.clone())
            }
            CommandError::Imap(ImapError::Lost(m)) => ApiError::new(
                503,
                "NoActiveConnection",
                format!("IMAP connection lost: {m}"),
            ),
        }
    }
    /// True when the connection is unusable afterwards.
    pub fn is_lost(&self) -> bool {
        matches!(self, CommandError::Imap(ImapError::Lost(_)))
    }
}

/// A command that runs on a command connection.
pub trait Execute: Request {
    fn execute(
        self,
        cx: &mut CommandCx<'_>,
    ) -> impl Future<Output = Result<Self::Reply, CommandError>> + Send;
}

/// The encoded reply of one command, and whether its connection is still usable.
pub struct Outcome {
    pub reply: Vec<u8>,
    pub connection_lost: bool,
}

async fn run<R: Execute>(request: R, cx: &mut CommandCx<'_>) -> Outcome {
    let started = std::time::Instant::now();
    let result = request.execute(cx).await;
    finish::<R>(result, started)
}

/// Record the command's duration and encode its reply.
fn finish<R: Request>(
    result: Result<R::Reply, CommandError>,
    started: std::time::Instant,
) -> Outcome {
    let connection_lost = result.as_ref().err().is_some_and(CommandError::is_lost);
    let outcome = match &result {
        Ok(_) => "success",
        Err(_) if connection_lost => "lost",
        Err(_) => "error",
    };
    metrics::histogram!("imapapi_api_command_duration_seconds",
        "command" => command_name::<R>(), "result" => outcome)
    .record(started.elapsed().as_secs_f64());
    let reply = Reply::from(result.map_err(|e| e.api_error()));
    Outcome {
        reply: serde_json::to_vec(&reply).unwrap_or_default(),
        connection_lost,
    }
}

/// The command's type name without its path (`ListMessages`), as a metric label.
fn command_name<R>() -> &'static str {
    let full = std::any::type_name::<R>();
    full.rsplit("::").next().unwrap_or(full)
}

/// What a command answered without a connection of its own needs (see [`answer_from_cache`]).
pub struct CacheCx<'a> {
    pub account: &'a str,
    pub folders: &'a FolderView,
    pub cache: &'a MessageCache,
    pub flag_reads: &'a Arc<FlagReads>,
}

/// The reply of a command the message cache answers with a batched flag read (details
/// without text), or `None` when it must run on a connection of its own.
pub async fn answer_from_cache(kind: &CommandKind, cx: &CacheCx<'_>) -> Option<Vec<u8>> {
    let CommandKind::GetMessage(request) = kind else {
        return None;
    };
    let started = std::time::Instant::now();
    let result = get_message::from_cache(request, cx).await?;
    Some(finish::<imapapi_common::command::GetMessage>(result, started).reply)
}

/// Run a mail command. Session commands (reconnect, close) and node commands (verify)
/// are not for command connections: the router hands them elsewhere.
pub async fn execute(kind: CommandKind, cx: &mut CommandCx<'_>) -> Outcome {
    match kind {
        CommandKind::ListMailboxes(r) => run(r, cx).await,
        CommandKind::CreateMailbox(r) => run(r, cx).await,
        CommandKind::DeleteMailbox(r) => run(r, cx).await,
        CommandKind::RenameMailbox(r) => run(r, cx).await,
        CommandKind::ListMessages(r) => run(r, cx).await,
        CommandKind::Search(r) => run(r, cx).await,
        CommandKind::GetMessage(r) => run(r, cx).await,
        CommandKind::GetText(r) => run(r, cx).await,
        CommandKind::ReadBody(r) => run(r, cx).await,
        CommandKind::UpdateFlags(r) => run(r, cx).await,
        CommandKind::MoveMessage(r) => run(r, cx).await,
        CommandKind::DeleteMessage(r) => run(r, cx).await,
        CommandKind::UploadMessage(r) => run(r, cx).await,
        CommandKind::SaveSent(r) => run(r, cx).await,
        CommandKind::VerifyImap(_) | CommandKind::Reconnect(_) | CommandKind::Close(_) => Outcome {
            reply: imapapi_common::command::error_reply(ApiError::internal(
                "node or session command sent to a command connection",
            )),
            connection_lost: false,
        },
    }
}

/// A message named by an API id, with its folder selected on the connection.
pub struct Target {
    pub folder: FolderState,
    pub id: MessageId,
}

fn message_not_found() -> CommandError {
    ApiError::not_found("Message was not found").into()
}

impl CommandCx<'_> {
    /// The account's synced folders.
    pub async fn folders(&self) -> Result<FolderList, CommandError> {
        if let Some(list) = self.folders.as_ref().and_then(FolderView::current) {
            return Ok(list);
        }
        let stored = self.store.list_folders(self.account).await.map_err(|e| {
            tracing::error!(account = %self.account, error = %e, "cannot read folders");
            CommandError::from(ApiError::internal("Store operation failed"))
        })?;
        Ok(Arc::new(stored))
    }

    /// The synced folder with this path.
    pub async fn folder_by_path(&self, path: &str) -> Result<Option<FolderState>, CommandError> {
        let wire = crate::utf7::to_wire(path);
        Ok(self
            .folders()
            .await?
            .iter()
            .find(|f| f.path == wire)
            .cloned())
    }

    /// The mailbox id of `path` for building message ids, when the session's folder list
    /// has it under `uid_validity` (as the server answered for it; `None`: any). A folder
    /// the session has not synced yet (made a moment ago), or has synced only under
    /// another UIDVALIDITY (deleted and made again since, whose old id names the old
    /// folder), has none: ask the session to look at the folders again and wait for it,
    /// briefly. 0 when there still is none (a folder outside the account's `path`): such
    /// ids resolve to nothing rather than to a wrong message.
    pub async fn mailbox_id(
        &self,
        path: &str,
        uid_validity: Option<u32>,
    ) -> Result<u32, CommandError> {
        let synced = |f: Option<FolderState>| {
            f.filter(|f| uid_validity.is_none_or(|v| v == f.uid_validity))
                .map(|f| f.mailbox_id)
        };
        if let Some(id) = synced(self.folder_by_path(path).await?) {
            return Ok(id);
        }
        let Some(session) = &self.session else {
            return Ok(0);
        };
        let (done, resynced) = oneshot::channel();
        let asked = session
            .try_send(ControlRequest {
                control: Control::Resync,
                done,
            })
            .is_ok();
        if asked && tokio::time::timeout(RESYNC_WAIT, resynced).await.is_ok() {
            return Ok(synced(self.folder_by_path(path).await?).unwrap_or(0));
        }
        Ok(0)
    }

    /// The API id of `uid` in `path` (under `uid_validity`, see [`CommandCx::mailbox_id`]),
    /// for mail a command just put there; `None` when the folder has no id.
    pub async fn new_message_id(
        &self,
        path: &str,
        uid_validity: Option<u32>,
        uid: u32,
    ) -> Result<Option<String>, CommandError> {
        Ok(match self.mailbox_id(path, uid_validity).await? {
            0 => None,
            mailbox_id => Some(MessageId::new(mailbox_id, uid).encode()),
        })
    }

    /// Tell the account's watcher that folders were created, renamed or deleted here, so it
    /// announces them now rather than at its next resync (a server without NOTIFY, or
    /// refusing its `MailboxName`, reports none). Not waited for.
    pub fn folders_changed(&self) {
        if let Some(session) = &self.session {
            let (done, _) = oneshot::channel();
            let _ = session.try_send(ControlRequest {
                control: Control::Resync,
                done,
            });
        }
    }

    /// Resolve a message id and select its folder (read-write when `write`). 404 when the
    /// folder is gone or its UIDVALIDITY changed since the id was made.
    pub async fn target(&mut self, message: &str, write: bool) -> Result<Target, CommandError> {
        let id = MessageId::parse(message)?;
        let folder = self
            .folders()
            .await?
            .iter()
            .find(|f| f.mailbox_id == id.mailbox_id)
            .cloned()
            .ok_or_else(message_not_found)?;
        let expected = Some(folder.uid_validity);
        let validity = match self.imap.ensure_open(&folder.path, write, expected).await {
            Ok(v) => v,
            Err(ImapError::Refused(_)) => return Err(message_not_found()),
            Err(e) => return Err(e.into()),
        };
        if validity != folder.uid_validity {
            return Err(message_not_found());
        }
        Ok(Target { folder, id })
    }

    /// Like [`CommandCx::target`], and 404 unless the message still exists.
    pub async fn existing(&mut self, message: &str, write: bool) -> Result<Target, CommandError> {
        let t = self.target(message, write).await?;
        if !self.imap.uid_exists(t.id.uid).await? {
            return Err(message_not_found());
        }
        Ok(t)
    }

    /// Select `path` (a folder path from the API), mapping a refusal to 404.
    pub async fn select_path(&mut self, path: &str, write: bool) -> Result<u32, CommandError> {
        let expected = self.folder_by_path(path).await?.map(|f| f.uid_validity);
        match self.imap.ensure_selected(path, write, expected).await {
            Ok(v) => Ok(v),
            Err(ImapError::Refused(_)) => Err(ApiError::not_found("Mailbox was not found").into()),
            Err(e) => Err(e.into()),
        }
    }
}
