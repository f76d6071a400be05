//! `GetText`: the text parts of a message, fetched partially: BODYSTRUCTURE first, then
//! only as many encoded bytes of each text part as `maxBytes` needs.

use imapapi_common::command::{GetText, TextReply};
use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError, Execute};
use crate::decode;
use crate::message::partial::{self, TextPart};

/// Read and decode `parts` of message `uid` (selected folder), each cut short at what
/// `max_bytes` needs.
pub async fn read_text(
    cx: &mut CommandCx<'_>,
    uid: u32,
    parts: Vec<TextPart>,
    max_bytes: Option<u64>,
) -> Result<TextReply, CommandError> {
    let mut decoded = Vec::with_capacity(parts.len());
    for part in parts {
        let limit = max_bytes.map(|m| partial::fetch_limit(m, &part.wire));
        let truncated = limit.is_some_and(|l| l < part.size);
        let section = match limit {
            Some(l) if truncated => format!("BODY.PEEK[{}]<0.{l}>", part.part),
            _ => format!("BODY.PEEK[{}]", part.part),
        };
        let fetched = cx
            .imap
            .fetch_full(&format!("UID FETCH {uid} (UID {section})"))
            .await?;
        let body = fetched
            .iter()
            .find(|f| f.uid() == Some(uid))
            .and_then(decode::body_section)
            .unwrap_or_default();
        let text = partial::decode_text(&part, &body);
        decoded.push((part, text, truncated));
    }
    Ok(partial::assemble(&decoded, max_bytes))
}

impl Execute for GetText {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<TextReply, CommandError> {
        let t = cx.target(&self.message, false).await?;
        let uid = t.id.uid;
        let fetched = cx
            .imap
            .fetch_full(&format!("UID FETCH {uid} (UID BODYSTRUCTURE)"))
            .await?;
        let f = fetched
            .iter()
            .find(|f| f.uid() == Some(uid))
            .ok_or_else(|| ApiError::not_found("Message was not found"))?;
        let wanted: Vec<TextPart> =
            decode::with_bodystructure(f, |bs| partial::text_parts(bs, self.text_type))
                .unwrap_or_default();
        read_text(cx, uid, wanted, self.max_bytes).await
    }
}
