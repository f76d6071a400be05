//! Serving account commands (`CommandKind`) over the account's own IMAP connection,
//! between IDLE periods. Read-only: folders are EXAMINEd and bodies fetched with PEEK.

use imapapi_common::command::{CommandKind, CommandReply, TextType};
use imapapi_common::error::ApiError;
use imapapi_common::ids::MessageId;
use imapapi_common::model::{MailboxEntry, MailboxList, MessageList};
use imapapi_common::store::SharedStore;

use crate::decode;
use crate::events::folder_name;
use crate::imap::{Imap, ImapError};
use crate::sync::special_use;

/// What a command failure becomes: 404 is decided by the callers, the connection going
/// away makes the session reconnect.
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
    /// The reply to send for this failure.
    pub fn reply(&self) -> CommandReply {
        match self {
            CommandError::Reply(e) => CommandReply::Error(e.clone()),
            CommandError::Imap(ImapError::Refused(m)) => CommandReply::Error(ApiError::imap(m)),
            CommandError::Imap(ImapError::Invalid(m)) => {
                CommandReply::Error(ApiError::new(400, "InputValidationError", m.clone()))
            }
            CommandError::Imap(ImapError::Lost(m)) => CommandReply::Error(ApiError::new(
                503,
                "NoActiveConnection",
                format!("IMAP connection lost: {m}"),
            )),
        }
    }
    /// True when the connection is unusable afterwards.
    pub fn is_lost(&self) -> bool {
        matches!(self, CommandError::Imap(ImapError::Lost(_)))
    }
}

/// Sequence numbers of one page, newest first: pages count from the end of the folder.
/// Returns `None` for a page past the end.
pub fn page_range(total: u32, page: u32, page_size: u32) -> Option<(u32, u32)> {
    let size = page_size.max(1);
    let skip = u64::from(page) * u64::from(size);
    if skip >= u64::from(total) {
        return None;
    }
    let hi = u64::from(total) - skip;
    let lo = hi.saturating_sub(u64::from(size) - 1).max(1);
    Some((lo as u32, hi as u32))
}

/// Number of pages: at least one, even for an empty folder.
pub fn page_count(total: u32, page_size: u32) -> u32 {
    total.div_ceil(page_size.max(1)).max(1)
}

fn parent_path(path: &str, delimiter: Option<&str>) -> Option<String> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    path.rfind(d).map(|i| path[..i].to_string())
}

async fn list_mailboxes(imap: &mut Imap) -> Result<CommandReply, CommandError> {
    let listed = imap.list().await?;
    let subscribed = imap.lsub().await?;
    let mut mailboxes = Vec::with_capacity(listed.len());
    for l in &listed {
        let noselect = l.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        });
        let status = if noselect {
            None
        } else {
            match imap.status(&l.path).await {
                Ok(s) => Some(s),
                Err(ImapError::Refused(_)) => None,
                Err(e) => return Err(e.into()),
            }
        };
        mailboxes.push(MailboxEntry {
            path: l.path.clone(),
            delimiter: l.delimiter.clone(),
            parent_path: parent_path(&l.path, l.delimiter.as_deref()),
            name: folder_name(&l.path, l.delimiter.as_deref()),
            listed: true,
            subscribed: subscribed.iter().any(|s| s.path == l.path),
            special_use: special_use(l),
            messages: status.and_then(|s| s.messages),
            uid_next: status.and_then(|s| s.uid_next),
        });
    }
    Ok(CommandReply::Mailboxes(MailboxList { mailboxes }))
}

/// Execute one command on the account's connection.
pub async fn execute(
    imap: &mut Imap,
    store: &SharedStore,
    account: &str,
    kind: CommandKind,
) -> Result<CommandReply, CommandError> {
    match kind {
        CommandKind::ListMailboxes => list_mailboxes(imap).await,
        CommandKind::ListMessages {
            path,
            page,
            page_size,
        } => {
            let folders = store
                .list_folders(account)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let mailbox_id = folders
                .iter()
                .find(|f| f.path == path)
                .map(|f| f.mailbox_id);
            list_page(imap, &path, mailbox_id, page, page_size).await
        }
        CommandKind::GetMessage {
            message,
            max_bytes,
            text_type,
        } => get_message(imap, store, account, &message, max_bytes, text_type).await,
        // Session-level commands are handled by the session itself.
        CommandKind::Reconnect | CommandKind::Close => Ok(CommandReply::Done),
    }
}

async fn list_page(
    imap: &mut Imap,
    path: &str,
    mailbox_id: Option<u32>,
    page: u32,
    page_size: u32,
) -> Result<CommandReply, CommandError> {
    // A folder that exists but was never synced (not watched) has no mailbox id yet: its
    // entries get ids that resolve to nothing (mailbox ids start at 1) rather than wrong ones.
    let mailbox_id = mailbox_id.unwrap_or(0);
    let sel = match imap.examine(path, None).await {
        Ok(s) => s,
        Err(ImapError::Refused(_)) => return Err(ApiError::not_found("Mailbox not found").into()),
        Err(e) => return Err(e.into()),
    };
    let total = sel.exists;
    let mut messages = Vec::new();
    if let Some((lo, hi)) = page_range(total, page, page_size) {
        let fetched = imap
            .fetch_full(&format!("FETCH {lo}:{hi} {}", decode::LIST_ITEMS))
            .await?;
        messages = fetched
            .iter()
            .filter_map(|f| decode::list_entry(mailbox_id, f))
            .collect();
        messages.sort_by_key(|m| std::cmp::Reverse(m.uid));
    }
    Ok(CommandReply::Messages(MessageList {
        total,
        page,
        pages: page_count(total, page_size),
        messages,
    }))
}

async fn get_message(
    imap: &mut Imap,
    store: &SharedStore,
    account: &str,
    message: &str,
    max_bytes: Option<u64>,
    text_type: TextType,
) -> Result<CommandReply, CommandError> {
    let not_found = || CommandError::Reply(ApiError::not_found("Message not found"));
    let id = MessageId::parse(message)?;
    let folders = store
        .list_folders(account)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let folder = folders
        .into_iter()
        .find(|f| f.mailbox_id == id.mailbox_id)
        .ok_or_else(not_found)?;
    let sel = match imap.examine(&folder.path, None).await {
        Ok(s) => s,
        Err(ImapError::Refused(_)) => return Err(not_found()),
        Err(e) => return Err(e.into()),
    };
    if sel.uid_validity.is_some_and(|v| v != folder.uid_validity) {
        return Err(not_found());
    }
    let fetched = imap
        .fetch_full(&format!("UID FETCH {} {}", id.uid, decode::DETAIL_ITEMS))
        .await?;
    let f = fetched
        .iter()
        .find(|f| f.uid() == Some(id.uid))
        .ok_or_else(not_found)?;
    let details = decode::details(id.mailbox_id, f, max_bytes, text_type).ok_or_else(not_found)?;
    Ok(CommandReply::Message(Box::new(details)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_from_the_end() {
        assert_eq!(page_range(45, 0, 20), Some((26, 45)));
        assert_eq!(page_range(45, 1, 20), Some((6, 25)));
        assert_eq!(page_range(45, 2, 20), Some((1, 5)));
        assert_eq!(page_range(45, 3, 20), None);
        assert_eq!(page_range(0, 0, 20), None);
        assert_eq!(page_range(20, 0, 20), Some((1, 20)));
        assert_eq!(page_range(5, u32::MAX, 1000), None);
    }

    #[test]
    fn page_count_is_at_least_one() {
        assert_eq!(page_count(0, 20), 1);
        assert_eq!(page_count(20, 20), 1);
        assert_eq!(page_count(21, 20), 2);
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("A/B/C", Some("/")).as_deref(), Some("A/B"));
        assert_eq!(parent_path("INBOX", Some("/")), None);
        assert_eq!(parent_path("X", None), None);
    }
}
