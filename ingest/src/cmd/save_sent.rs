//! `SaveSent`: the copy of a sent message in the account's Sent folder, stored by the
//! submit role after the SMTP server accepted the message. Finding the folder is ingest's
//! business (special-use flags, well-known names), so submit only hands over the bytes.

use imapapi_common::command::{SaveSent, SaveSentReply};

use super::{CommandCx, CommandError, Execute, special_folder};

impl Execute for SaveSent {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<SaveSentReply, CommandError> {
        let Some(path) = special_folder::find(cx, "\\Sent").await? else {
            tracing::info!(
                account = cx.account,
                "no Sent folder; the sent copy is not stored"
            );
            return Ok(SaveSentReply {
                path: None,
                uid: None,
            });
        };
        let appended = cx
            .imap
            .append(&path, &["\\Seen".to_string()], self.raw.0)
            .await?;
        Ok(SaveSentReply {
            path: Some(crate::utf7::decode(&path)),
            uid: appended.map(|(_, uid)| uid),
        })
    }
}
