//! What NOTIFY (RFC 5465) reports about folders other than the selected one: a `STATUS` for
//! a folder whose messages or flags changed, a `LIST` for a folder created, deleted or
//! renamed (the rename's extended data is made readable by the transport's
//! `list_filter`). They can arrive at any time, during IDLE or in the middle of another
//! command (a sync's FETCH), so every response read on the watching connection is looked
//! at and the folders to sync are kept here until the session takes them.

use std::collections::BTreeSet;

use imap_proto::{MailboxDatum, Response};

/// The events the watching connection asks NOTIFY for (`NOTIFY SET STATUS <these>`), the
/// first the server takes: new, expunged and flag-changed messages (EXISTS/EXPUNGE/FETCH
/// for the selected folder, STATUS for the others) and folders created, deleted or renamed
/// (`MailboxName`, LIST) in every personal folder. A server refusing flag changes
/// elsewhere, or folder names, gets the same without them: what it does not report is
/// found by the periodic resync (and folder changes made through the api wake the watcher
/// anyway). Not `SubscriptionChange`: subscriptions are read when asked for, and each would
/// cost a pass over the folder list.
pub const NOTIFY_EVENTS: [&str; 4] = [
    "(selected (MessageNew MessageExpunge FlagChange)) \
     (personal (MessageNew MessageExpunge FlagChange MailboxName))",
    "(selected (MessageNew MessageExpunge FlagChange)) \
     (personal (MessageNew MessageExpunge MailboxName))",
    "(selected (MessageNew MessageExpunge FlagChange)) \
     (personal (MessageNew MessageExpunge FlagChange))",
    "(selected (MessageNew MessageExpunge FlagChange)) \
     (personal (MessageNew MessageExpunge))",
];

/// One notification about another folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// This folder's messages changed.
    Folder(String),
    /// Folders were created, renamed or deleted.
    Listing,
}

/// The notice `r` carries, if it is one. `STATUS` and `LIST` are notices only when not the
/// answer to a command of our own (`ours`, see [`Asking`]).
pub fn classify(r: &Response<'_>, ours: bool) -> Option<Notice> {
    if ours {
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

/// The command of ours running whose answers look like notices: a LIST (or LSUB) or the
/// STATUS of one folder. A notice sent in the middle of it still counts, unless it could
/// be the answer: the STATUS of another folder, or a LIST of a folder gone
/// (`\NonExistent`, which listing every folder never answers). A folder created just as
/// we list may pass for an answer; the listing then has it anyway, unless the server
/// listed before creating it (then the periodic resync finds it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Asking {
    #[default]
    Nothing,
    List,
    /// The folder's name as sent (modified UTF-7).
    Status(String),
}

impl Asking {
    /// Whether `r` may be the answer to this command rather than a notice.
    pub fn answered_by(&self, r: &Response<'_>) -> bool {
        match (self, r) {
            (Asking::List, Response::MailboxData(MailboxDatum::List(l))) => {
                !l.name_attributes.iter().any(|a| {
                    matches!(a, imap_proto::NameAttribute::Extension(e)
                        if e.eq_ignore_ascii_case("\\NonExistent"))
                })
            }
            (Asking::Status(path), Response::MailboxData(MailboxDatum::Status { mailbox, .. })) => {
                mailbox.as_ref() == path.as_str()
            }
            _ => false,
        }
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
    fn only_what_may_answer_our_command_is_ours() {
        let sent = parse(b"* STATUS \"Sent\" (MESSAGES 3 UIDNEXT 4)\r\n");
        let other = parse(b"* STATUS Archive (MESSAGES 3 UIDNEXT 4)\r\n");
        let listed = parse(b"* LIST (\\HasNoChildren) \"/\" New\r\n");
        let gone = parse(b"* LIST (\\NonExistent) \"/\" Old\r\n");
        let status = Asking::Status("Sent".into());
        assert!(status.answered_by(&sent));
        assert!(!status.answered_by(&other));
        assert!(!status.answered_by(&listed));
        assert!(Asking::List.answered_by(&listed));
        assert!(!Asking::List.answered_by(&gone));
        assert!(!Asking::List.answered_by(&sent));
        assert!(!Asking::Nothing.answered_by(&listed));
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
