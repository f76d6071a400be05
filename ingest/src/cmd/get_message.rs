//! `GetMessage`: one message decoded, headers, addresses, attachments, the server's ids and
//! labels where it has them, and its text when `textType` asks for it.

use imapapi_common::command::GetMessage;
use imapapi_common::error::ApiError;
use imapapi_common::model::MessageDetails;

use super::{CommandCx, CommandError, Execute};
use crate::decode::{self, FetchItems};

impl Execute for GetMessage {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<MessageDetails, CommandError> {
        let t = cx.target(&self.message, false).await?;
        let items = FetchItems::of(cx.imap).details();
        let fetched = cx
            .imap
            .fetch_full(&format!("UID FETCH {} {items}", t.id.uid))
            .await?;
        let not_found = || CommandError::from(ApiError::not_found("Message was not found"));
        let f = fetched
            .iter()
            .find(|f| f.uid() == Some(t.id.uid))
            .ok_or_else(not_found)?;
        decode::details(t.id.mailbox_id, f, self.max_bytes, self.text_type).ok_or_else(not_found)
    }
}
