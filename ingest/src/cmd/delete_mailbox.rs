//! `DeleteMailbox`: delete a folder (404 when it does not exist).

use imapapi_common::command::{DeleteMailbox, DeleteMailboxReply};
use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError, Execute};
use crate::imap::ImapError;

impl Execute for DeleteMailbox {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<DeleteMailboxReply, CommandError> {
        let path = crate::utf7::to_wire(&self.path);
        if path.eq_ignore_ascii_case("INBOX") {
            return Err(ApiError::invalid("path", "INBOX cannot be deleted").into());
        }
        if cx.imap.list_one(&path).await?.is_empty() {
            return Err(ApiError::not_found(format!("Mailbox \"{path}\" was not found")).into());
        }
        match cx.imap.delete(&path).await {
            Ok(()) => {
                cx.folders_changed();
                Ok(DeleteMailboxReply {
                    path,
                    deleted: true,
                })
            }
            Err(ImapError::Refused(m)) => Err(ApiError::new(400, "DeleteFailed", m).into()),
            Err(e) => Err(e.into()),
        }
    }
}
