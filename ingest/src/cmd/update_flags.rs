//! `UpdateFlags`: add, remove or replace flags (and Gmail labels) on one message.

use imapapi_common::command::{FlagChanges, FlagUpdate, UpdateFlags, UpdateFlagsReply};
use imapapi_common::error::ApiError;

use super::{CommandCx, CommandError, Execute};
use crate::imap::write::StoreMode;

/// Apply one `{add, delete, set}`: `set` replaces everything, so add/delete beside it
/// would be meaningless and are not sent.
async fn apply(
    cx: &mut CommandCx<'_>,
    uid: u32,
    update: &FlagUpdate,
    labels: bool,
) -> Result<FlagChanges, CommandError> {
    let mut changes = FlagChanges::default();
    if let Some(set) = &update.set {
        cx.imap
            .uid_store(uid, StoreMode::Replace, set, labels)
            .await?;
        changes.set = Some(true);
        return Ok(changes);
    }
    if let Some(add) = update.add.as_ref().filter(|a| !a.is_empty()) {
        cx.imap.uid_store(uid, StoreMode::Add, add, labels).await?;
        changes.add = Some(true);
    }
    if let Some(del) = update.delete.as_ref().filter(|d| !d.is_empty()) {
        cx.imap
            .uid_store(uid, StoreMode::Remove, del, labels)
            .await?;
        changes.delete = Some(true);
    }
    Ok(changes)
}

impl Execute for UpdateFlags {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<UpdateFlagsReply, CommandError> {
        if self.labels.is_some() && !cx.imap.has("X-GM-EXT-1") {
            return Err(ApiError::invalid("labels", "are only supported by Gmail").into());
        }
        let t = cx.existing(&self.message, true).await?;
        let mut reply = UpdateFlagsReply::default();
        if let Some(f) = &self.flags {
            reply.flags = Some(apply(cx, t.id.uid, f, false).await?);
        }
        if let Some(l) = &self.labels {
            reply.labels = Some(apply(cx, t.id.uid, l, true).await?);
        }
        Ok(reply)
    }
}
