//! `ListMailboxes`: every folder with its special use, subscription and counts.

use imapapi_common::command::ListMailboxes;
use imapapi_common::model::{MailboxEntry, MailboxList};

use super::{CommandCx, CommandError, Execute};
use crate::events::folder_name;
use crate::imap::ImapError;
use crate::sync::special_use;

fn parent_path(path: &str, delimiter: Option<&str>) -> Option<String> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    path.rfind(d).map(|i| path[..i].to_string())
}

impl Execute for ListMailboxes {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<MailboxList, CommandError> {
        let imap = &mut *cx.imap;
        let listed = imap.list().await?;
        let subscribed = imap.lsub().await?;
        let mut mailboxes = Vec::with_capacity(listed.len());
        for l in &listed {
            let noselect = l.attributes.iter().any(|a| {
                a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
            });
            let status = if noselect {
                None
            } else {
                match imap.status(&l.path).await {
                    Ok(s) => Some(s),
                    Err(ImapError::Refused(_)) => None,
                    Err(e) => return Err(e.into()),
                }
            };
            mailboxes.push(MailboxEntry {
                path: l.path.clone(),
                delimiter: l.delimiter.clone(),
                parent_path: parent_path(&l.path, l.delimiter.as_deref()),
                name: folder_name(&l.path, l.delimiter.as_deref()),
                listed: true,
                subscribed: subscribed.iter().any(|s| s.path == l.path),
                special_use: special_use(l),
                messages: status.and_then(|s| s.messages),
                uid_next: status.and_then(|s| s.uid_next),
            });
        }
        Ok(MailboxList { mailboxes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("A/B/C", Some("/")).as_deref(), Some("A/B"));
        assert_eq!(parent_path("INBOX", Some("/")), None);
        assert_eq!(parent_path("X", None), None);
    }
}
