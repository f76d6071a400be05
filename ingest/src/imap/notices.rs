//! What NOTIFY (RFC 5465) reports about folders other than the selected one: a `STATUS` for
//! a folder whose messages or flags changed (and a `LIST` for folder changes, should a
//! server send one unasked). They can arrive at any time, during IDLE or in the middle of another command
//! (a sync's FETCH), so every response read on the watching connection is looked at and
//! the folders to sync are kept here until the session takes them.

use std::collections::BTreeSet;

use imap_proto::{MailboxDatum, Response};

/// The `NOTIFY SET` that watches every personal folder: new, expunged and flag-changed
/// messages (EXISTS/EXPUNGE/FETCH for the selected one, STATUS for the others). Not
/// `MailboxName`: a rename is announced as `LIST … ("OLDNAME" (…))`, extended data the
/// response parser (imap-proto) cannot read, which would end the connection. Folders
/// created, renamed or deleted by other clients are found by the periodic resync, or when
/// mail arrives in a new one (its STATUS names a folder the list lacks); those changed
/// through the api tell the watcher at once.
pub const NOTIFY_SET: &str = "NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) \
     (personal (MessageNew MessageExpunge FlagChange))";

/// The same without flag changes in other folders, for a server that refuses those
/// (flags there are then found by the periodic resync).
pub const NOTIFY_SET_NO_FLAGS: &str = "NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge))";

/// One notification about another folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// This folder's messages changed.
    Folder(String),
    /// Folders were created, renamed or deleted.
    Listing,
}

/// The notice `r` carries, if it is one. `STATUS` and `LIST` are notices only when not the
/// answer to a command of our own (`own_listing`).
pub fn classify(r: &Response<'_>, own_listing: bool) -> Option<Notice> {
    if own_listing {
        return None;
    }
    match r {
        Response::MailboxData(MailboxDatum::Status { mailbox, .. }) => {
            Some(Notice::Folder(mailbox.to_string()))
        }
        Response::MailboxData(MailboxDatum::List(_)) => Some(Notice::Listing),
        _ => None,
    }
}

/// Notices received and not yet acted on.
#[derive(Debug, Default)]
pub struct FolderNotices {
    /// NOTIFY is set on this connection: only then are STATUS and LIST notices.
    pub enabled: bool,
    folders: BTreeSet<String>,
    listing: bool,
}

impl FolderNotices {
    /// Keep `notice`; whether it was one.
    pub fn add(&mut self, notice: Option<Notice>) -> bool {
        match notice {
            Some(Notice::Folder(path)) => {
                self.folders.insert(path);
                true
            }
            Some(Notice::Listing) => {
                self.listing = true;
                true
            }
            None => false,
        }
    }

    /// Whether anything waits.
    pub fn pending(&self) -> bool {
        self.listing || !self.folders.is_empty()
    }

    /// The folders whose messages changed and whether the folder list changed; cleared.
    pub fn take(&mut self) -> (BTreeSet<String>, bool) {
        let listing = std::mem::take(&mut self.listing);
        (std::mem::take(&mut self.folders), listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[u8]) -> Response<'_> {
        Response::parse(line).unwrap().1
    }

    #[test]
    fn status_and_list_are_notices_unless_ours() {
        let status = parse(b"* STATUS \"Sent\" (MESSAGES 3 UIDNEXT 4)\r\n");
        assert_eq!(
            classify(&status, false),
            Some(Notice::Folder("Sent".into()))
        );
        assert_eq!(classify(&status, true), None);
        let list = parse(b"* LIST () \"/\" \"New/Folder\"\r\n");
        assert_eq!(classify(&list, false), Some(Notice::Listing));
        let exists = parse(b"* 5 EXISTS\r\n");
        assert_eq!(classify(&exists, false), None);
    }

    #[test]
    fn notices_gather_until_taken() {
        let mut n = FolderNotices::default();
        assert!(!n.pending());
        n.add(Some(Notice::Folder("Sent".into())));
        n.add(Some(Notice::Folder("Sent".into())));
        n.add(Some(Notice::Folder("Archive".into())));
        assert!(!n.add(None));
        assert!(n.pending());
        let (folders, listing) = n.take();
        assert_eq!(folders.len(), 2);
        assert!(!listing);
        assert!(!n.pending());
        n.add(Some(Notice::Listing));
        assert!(n.take().1);
    }
}
