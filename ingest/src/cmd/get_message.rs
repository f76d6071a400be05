//! `GetMessage`: one message decoded, headers, addresses, attachments, the server's ids and
//! labels where it has them, and its text when `textType` asks for it. Built from the
//! header block and BODYSTRUCTURE plus partial FETCHes of the text parts: the body is never
//! fetched whole, so a message with a 25 MB attachment answers as fast as a small one.

use imapapi_common::command::GetMessage;
use imapapi_common::error::ApiError;
use imapapi_common::model::MessageDetails;

use super::get_text::read_text;
use super::{CommandCx, CommandError, Execute};
use crate::decode::{self, FetchItems};
use crate::message::partial;

impl Execute for GetMessage {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<MessageDetails, CommandError> {
        let t = cx.target(&self.message, false).await?;
        let uid = t.id.uid;
        let items = FetchItems::of(cx.imap).details();
        let fetched = cx
            .imap
            .fetch_full(&format!("UID FETCH {uid} {items}"))
            .await?;
        let not_found = || CommandError::from(ApiError::not_found("Message was not found"));
        let f = fetched
            .iter()
            .find(|f| f.uid() == Some(uid))
            .ok_or_else(not_found)?;
        let text = match self.text_type {
            Some(text_type) => {
                let parts = decode::with_bodystructure(f, |bs| partial::text_parts(bs, text_type))
                    .unwrap_or_default();
                Some(read_text(cx, uid, parts, self.max_bytes).await?)
            }
            None => None,
        };
        decode::details_from_structure(t.id.mailbox_id, f, text).ok_or_else(not_found)
    }
}
