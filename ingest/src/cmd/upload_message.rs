//! `UploadMessage`: APPEND a message api built to a folder, answering with its id when the
//! server reports the new uid (UIDPLUS) and the folder is synced.

use imapapi_common::command::{UploadMessage, UploadMessageReply};

use super::{CommandCx, CommandError, Execute, special_folder};

impl Execute for UploadMessage {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<UploadMessageReply, CommandError> {
        let path = crate::utf7::to_wire(&self.path);
        special_folder::require(cx, &path).await?;
        let appended = cx.imap.append(&path, &self.flags, self.raw.0).await?;
        let id = match appended {
            Some((validity, uid)) => cx.new_message_id(&path, Some(validity), uid).await?,
            None => None,
        };
        Ok(UploadMessageReply {
            id,
            path,
            uid: appended.map(|(_, uid)| uid),
            seq: None,
        })
    }
}
