//! `CreateMailbox`: create a folder from path segments joined with the server's hierarchy
//! delimiter; creating one that exists is not an error (`created: false`).

use imapapi_common::command::{CreateMailbox, CreateMailboxReply};
use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError, Execute, mailbox_path};
use crate::imap::ImapError;

impl Execute for CreateMailbox {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<CreateMailboxReply, CommandError> {
        let path = mailbox_path::join(cx, &self.path, "path").await?;
        if !cx.imap.list_one(&path).await?.is_empty() {
            return Ok(CreateMailboxReply {
                path,
                mailbox_id: None,
                created: false,
            });
        }
        match cx.imap.create(&path).await {
            Ok(()) => {
                cx.folders_changed();
                Ok(CreateMailboxReply {
                    path,
                    mailbox_id: None,
                    created: true,
                })
            }
            Err(ImapError::Refused(m)) => Err(ApiError::new(400, "CreateFailed", m).into()),
            Err(e) => Err(e.into()),
        }
    }
}
