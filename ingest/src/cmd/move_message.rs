//! `MoveMessage`: move one message to another folder (MOVE, or COPY + EXPUNGE), answering
//! with its id there when the server reports the new uid (UIDPLUS).

use imapapi_common::command::{MoveMessage, MoveMessageReply};

use super::{CommandCx, CommandError, Execute, special_folder};

/// Move `uid` of the selected folder to `dest`; the new id when both the uid and the
/// destination's mailbox id are known.
pub async fn move_to(
    cx: &mut CommandCx<'_>,
    uid: u32,
    dest: &str,
) -> Result<(Option<u32>, Option<String>), CommandError> {
    let new_uid = cx.imap.uid_move(uid, dest).await?;
    let id = match new_uid {
        Some(u) => cx.new_message_id(dest, None, u).await?,
        None => None,
    };
    Ok((new_uid, id))
}

impl Execute for MoveMessage {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<MoveMessageReply, CommandError> {
        let t = cx.existing(&self.message, true).await?;
        let dest = crate::utf7::to_wire(&self.path);
        if dest == t.folder.path {
            return Ok(MoveMessageReply {
                path: dest,
                id: Some(t.id.encode()),
                uid: Some(t.id.uid),
            });
        }
        special_folder::require(cx, &dest).await?;
        // `require` may have run STATUS; the selection itself is unchanged.
        let (uid, id) = move_to(cx, t.id.uid, &dest).await?;
        Ok(MoveMessageReply {
            path: dest,
            id,
            uid,
        })
    }
}
