//! `DeleteMessage`: to Trash, or expunged for good when it already is in Trash, when the
//! account has no Trash, or with `force`.

use imapapi_common::command::{DeleteMessage, DeleteMessageReply, MovedTo};

use super::move_message::move_to;
use super::{CommandCx, CommandError, Execute, special_folder};

impl Execute for DeleteMessage {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<DeleteMessageReply, CommandError> {
        let t = cx.existing(&self.message, true).await?;
        let trash = if self.force {
            None
        } else {
            special_folder::find(cx, "\\Trash").await?
        };
        match trash.filter(|trash| *trash != t.folder.path) {
            Some(trash) => {
                // LIST may have moved nothing, but make sure the folder is still selected.
                cx.imap
                    .ensure_open(&t.folder.path, true, Some(t.folder.uid_validity))
                    .await?;
                let (_, id) = move_to(cx, t.id.uid, &trash).await?;
                Ok(DeleteMessageReply {
                    deleted: false,
                    moved: Some(MovedTo {
                        destination: trash,
                        message_id: id,
                    }),
                })
            }
            None => {
                let expunged = cx.imap.expunge_uid(t.id.uid).await?;
                Ok(DeleteMessageReply {
                    deleted: expunged,
                    moved: None,
                })
            }
        }
    }
}
