//! `CreateMailbox`: create a folder from path segments joined with the server's hierarchy
//! delimiter; creating one that exists is not an error (`created: false`).

use imapapi_common::command::{CreateMailbox, CreateMailboxReply};
use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError, Execute};
use crate::imap::ImapError;

impl Execute for CreateMailbox {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<CreateMailboxReply, CommandError> {
        let delimiter = cx.imap.delimiter().await?;
        let mut segments = Vec::with_capacity(self.path.len());
        for (i, s) in self.path.iter().enumerate() {
            if s.is_empty() || delimiter.as_deref().is_some_and(|d| s.contains(d)) {
                return Err(ApiError::invalid(
                    &format!("path[{i}]"),
                    "must be a non-empty name without the hierarchy delimiter",
                )
                .into());
            }
            segments.push(crate::utf7::to_wire(s));
        }
        let path = segments.join(delimiter.as_deref().unwrap_or("/"));
        if !cx.imap.list_one(&path).await?.is_empty() {
            return Ok(CreateMailboxReply {
                path,
                mailbox_id: None,
                created: false,
            });
        }
        match cx.imap.create(&path).await {
            Ok(()) => Ok(CreateMailboxReply {
                path,
                mailbox_id: None,
                created: true,
            }),
            Err(ImapError::Refused(m)) => Err(ApiError::new(400, "CreateFailed", m).into()),
            Err(e) => Err(e.into()),
        }
    }
}
