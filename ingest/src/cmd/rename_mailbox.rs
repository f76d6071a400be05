//! `RenameMailbox` (beyond the original): rename or move a folder to new path segments.

use imapapi_common::command::{RenameMailbox, RenameMailboxReply};
use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError, Execute};
use crate::imap::ImapError;

impl Execute for RenameMailbox {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<RenameMailboxReply, CommandError> {
        let path = crate::utf7::to_wire(&self.path);
        if cx.imap.list_one(&path).await?.is_empty() {
            return Err(ApiError::not_found(format!("Mailbox \"{path}\" was not found")).into());
        }
        let delimiter = cx.imap.delimiter().await?;
        let mut segments = Vec::with_capacity(self.new_path.len());
        for (i, s) in self.new_path.iter().enumerate() {
            if s.is_empty() || delimiter.as_deref().is_some_and(|d| s.contains(d)) {
                return Err(ApiError::invalid(
                    &format!("newPath[{i}]"),
                    "must be a non-empty name without the hierarchy delimiter",
                )
                .into());
            }
            segments.push(crate::utf7::to_wire(s));
        }
        let new_path = segments.join(delimiter.as_deref().unwrap_or("/"));
        if !cx.imap.list_one(&new_path).await?.is_empty() {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("Mailbox \"{new_path}\" already exists"),
            )
            .into());
        }
        match cx.imap.rename(&path, &new_path).await {
            Ok(()) => Ok(RenameMailboxReply {
                path,
                new_path,
                renamed: true,
            }),
            Err(ImapError::Refused(m)) => Err(ApiError::new(400, "RenameFailed", m).into()),
            Err(e) => Err(e.into()),
        }
    }
}
