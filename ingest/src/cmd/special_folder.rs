//! Finding a folder by its role (`\Trash`, `\Sent`): the special-use attribute the sync
//! stored, else a fresh LIST, else the names servers commonly use.

use super::{CommandCx, CommandError};
use crate::sync::special_use;

/// Common names per role, for servers without SPECIAL-USE.
fn well_known(role: &str) -> &'static [&'static str] {
    match role {
        "\\Trash" => &[
            "Trash",
            "Deleted Items",
            "Deleted Messages",
            "[Gmail]/Trash",
            "INBOX.Trash",
        ],
        "\\Sent" => &[
            "Sent",
            "Sent Items",
            "Sent Messages",
            "[Gmail]/Sent Mail",
            "INBOX.Sent",
        ],
        "\\Drafts" => &["Drafts", "[Gmail]/Drafts", "INBOX.Drafts"],
        "\\Junk" => &["Junk", "Spam", "[Gmail]/Spam", "INBOX.Junk"],
        _ => &[],
    }
}

/// The path of the account's folder with special use `role`, if it has one.
pub async fn find(cx: &mut CommandCx<'_>, role: &str) -> Result<Option<String>, CommandError> {
    if let Some(f) = cx
        .folders()
        .await?
        .iter()
        .find(|f| f.special_use.as_deref() == Some(role))
    {
        return Ok(Some(f.path.clone()));
    }
    let listed = cx.imap.list().await?;
    if let Some(l) = listed
        .iter()
        .find(|l| special_use(l).as_deref() == Some(role))
    {
        return Ok(Some(l.path.clone()));
    }
    Ok(well_known(role).iter().find_map(|name| {
        listed
            .iter()
            .find(|l| l.path.eq_ignore_ascii_case(name))
            .map(|l| l.path.clone())
    }))
}

/// 404 unless `path` names an existing folder.
pub async fn require(cx: &mut CommandCx<'_>, path: &str) -> Result<(), CommandError> {
    if cx.folder_by_path(path).await?.is_some() {
        return Ok(());
    }
    match cx.imap.status(path).await {
        Ok(_) => Ok(()),
        Err(crate::imap::ImapError::Refused(_)) => Err(imapapi_common::error::ApiError::not_found(
            format!("Mailbox \"{path}\" was not found"),
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}
