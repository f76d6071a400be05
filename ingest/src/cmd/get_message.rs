//! `GetMessage`: one message decoded, headers, addresses, attachments, the server's ids and
//! labels where it has them, and its text when `textType` asks for it. Built from the
//! header block and BODYSTRUCTURE plus partial FETCHes of the text parts: the body is never
//! fetched whole, so a message with a 25 MB attachment answers as fast as a small one.
//! Details read before come from the [`MessageCache`](crate::message_cache::MessageCache)
//! with fresh flags: the server is asked for `UID FLAGS` (and the text) only.

use std::sync::Arc;

use imapapi_common::command::{GetMessage, TextType};
use imapapi_common::error::ApiError;
use imapapi_common::ids::MessageId;
use imapapi_common::model::MessageDetails;

use super::get_text::read_text;
use super::{CacheCx, CommandCx, CommandError, Execute};
use crate::decode::{self, FetchItems};
use crate::flag_reads::{FlagRead, read_fresh};
use crate::message;
use crate::message::partial;
use crate::message_cache::{CachedDetails, FolderKey};

fn not_found() -> CommandError {
    CommandError::from(ApiError::not_found("Message was not found"))
}

/// The details of `uid` (selected) with their flags: from the cache with a FETCH of the
/// flags, or fetched whole and kept.
async fn details_of(
    cx: &mut CommandCx<'_>,
    folder: FolderKey<'_>,
    uid: u32,
) -> Result<(MessageDetails, Arc<CachedDetails>), CommandError> {
    let items = FetchItems::of(cx.imap);
    if let Some(cached) = cx.cache.details(folder, uid) {
        let fresh = read_fresh(cx.imap, &format!("UID FETCH {uid}"))
            .await?
            .into_iter()
            .find(|f| f.uid == uid)
            .ok_or_else(not_found)?;
        return Ok((fresh.details(&cached.details), cached));
    }
    let fetched = cx
        .imap
        .fetch_full(&format!("UID FETCH {uid} {}", items.details()))
        .await?;
    let f = fetched
        .iter()
        .find(|f| f.uid() == Some(uid))
        .ok_or_else(not_found)?;
    let text_parts = decode::with_bodystructure(f, |bs| partial::text_parts(bs, TextType::All))
        .unwrap_or_default();
    let (details, text_info) =
        decode::details_from_structure(folder.mailbox_id, f).ok_or_else(not_found)?;
    let read = CachedDetails {
        details: details.clone(),
        text_info,
        text_parts,
    };
    let kept = if folder.mailbox_id != 0 {
        cx.cache.put_details(folder, read)
    } else {
        Arc::new(read)
    };
    Ok((details, kept))
}

/// Details that need no command connection of their own: cached, without text, their flags
/// read in one FETCH with other callers' ([`FlagReads`](crate::flag_reads::FlagReads)).
/// `None` when the ordinary path must answer: the message is not cached, text is asked
/// for, no folder list is published yet, or the batch could not be answered.
pub async fn from_cache(
    request: &GetMessage,
    cx: &CacheCx<'_>,
) -> Option<Result<MessageDetails, CommandError>> {
    if request.text_type.is_some() {
        return None;
    }
    let id = MessageId::parse(&request.message).ok()?;
    let folders = cx.folders.current()?;
    let folder = folders.iter().find(|f| f.mailbox_id == id.mailbox_id)?;
    let key = FolderKey {
        account: cx.account,
        mailbox_id: id.mailbox_id,
        uid_validity: folder.uid_validity,
    };
    let cached = cx.cache.details(key, id.uid)?;
    match cx
        .flag_reads
        .read(&folder.path, folder.uid_validity, id.uid)
        .await
    {
        FlagRead::Found(fresh) => Some(Ok(fresh.details(&cached.details))),
        FlagRead::Missing => Some(Err(not_found())),
        FlagRead::Failed => None,
    }
}

impl Execute for GetMessage {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<MessageDetails, CommandError> {
        let t = cx.target(&self.message, false).await?;
        let folder = FolderKey {
            account: cx.account,
            mailbox_id: t.id.mailbox_id,
            uid_validity: t.folder.uid_validity,
        };
        let uid = t.id.uid;
        let (mut details, cached) = details_of(cx, folder, uid).await?;
        if let Some(text_type) = self.text_type {
            let parts = cached.text_parts_for(text_type);
            let text = read_text(cx, uid, parts, self.max_bytes).await?;
            details.text = Some(message::text_under(cached.text_info.as_ref(), text));
        }
        Ok(details)
    }
}
