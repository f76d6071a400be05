//! `RenameMailbox` (beyond the original): rename or move a folder to new path segments.

use imapapi_common::command::{RenameMailbox, RenameMailboxReply};
use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError, Execute, mailbox_path};
use crate::imap::ImapError;

impl Execute for RenameMailbox {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<RenameMailboxReply, CommandError> {
        let path = crate::utf7::to_wire(&self.path);
        if cx.imap.list_one(&path).await?.is_empty() {
            return Err(ApiError::not_found(format!("Mailbox \"{path}\" was not found")).into());
        }
        let new_path = mailbox_path::join(cx, &self.new_path, "newPath").await?;
        if !cx.imap.list_one(&new_path).await?.is_empty() {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("Mailbox \"{new_path}\" already exists"),
            )
            .into());
        }
        match cx.imap.rename(&path, &new_path).await {
            Ok(()) => {
                cx.folders_changed();
                Ok(RenameMailboxReply {
                    path,
                    new_path,
                    renamed: true,
                })
            }
            Err(ImapError::Refused(m)) => Err(ApiError::new(400, "RenameFailed", m).into()),
            Err(e) => Err(e.into()),
        }
    }
}
