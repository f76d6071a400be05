//! `ReadBody`: one range of a message's source or of one part, still encoded, so big
//! downloads stream through api a range at a time (see `imapapi_common::command::body`).

use imapapi_common::command::{BodyChunk, PartInfo, ReadBody, WireBytes};
use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError, Execute};
use crate::decode;
use crate::message::partial;

/// Largest range one command may ask for.
const MAX_RANGE: u32 = 4 << 20;

impl Execute for ReadBody {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<BodyChunk, CommandError> {
        if self.length == 0 || self.length > MAX_RANGE {
            return Err(ApiError::invalid("length", format!("must be 1 to {MAX_RANGE}")).into());
        }
        let t = cx.target(&self.message, false).await?;
        let uid = t.id.uid;
        let first = self.offset == 0;
        let section = match &self.part {
            Some(p) if !p.bytes().all(|b| b.is_ascii_digit() || b == b'.') || p.is_empty() => {
                return Err(ApiError::invalid("attachment", "does not name a message part").into());
            }
            Some(p) => format!("BODY.PEEK[{p}]<{}.{}>", self.offset, self.length),
            None => format!("BODY.PEEK[]<{}.{}>", self.offset, self.length),
        };
        let extra = match (&self.part, first) {
            (Some(_), true) => " BODYSTRUCTURE",
            (None, true) => " RFC822.SIZE",
            _ => "",
        };
        let fetched = cx
            .imap
            .fetch_full(&format!("UID FETCH {uid} (UID{extra} {section})"))
            .await?;
        let f = fetched
            .iter()
            .find(|f| f.uid() == Some(uid))
            .ok_or_else(|| ApiError::not_found("Message was not found"))?;
        let info = if first {
            Some(part_info(self.part.as_deref(), f)?)
        } else {
            None
        };
        let data = decode::body_section(f).unwrap_or_default();
        let eof = (data.len() as u64) < u64::from(self.length);
        Ok(BodyChunk {
            info,
            data: WireBytes(data),
            eof,
        })
    }
}

/// The presentation of the source (`part: None`) or of one part.
fn part_info(part: Option<&str>, f: &crate::imap::Fetched) -> Result<PartInfo, CommandError> {
    match part {
        None => Ok(PartInfo {
            content_type: "message/rfc822".into(),
            size: decode::rfc822_size(f).unwrap_or(0),
            ..Default::default()
        }),
        Some(p) => decode::with_bodystructure(f, |bs| partial::part_info(bs, p))
            .flatten()
            .ok_or_else(|| ApiError::not_found("Attachment was not found").into()),
    }
}
