//! The account's synced folders as its session last stored them, shared with the account's
//! command connections. Nearly every command needs them (a message id names its folder by
//! mailbox id; a listing needs its folder's id), and reading them from the store each time
//! put a store read and a decode of every folder's state on each call. The session is the
//! only writer of these states, so it hands its copy over after each sync instead.

use std::collections::BTreeMap;
use std::sync::Arc;

use imapapi_common::model::FolderState;
use tokio::sync::watch;

/// One snapshot of the folder list.
pub type FolderList = Arc<Vec<FolderState>>;

/// The session's end: publishes the folder states after each sync.
#[derive(Debug)]
pub struct FolderPublisher(watch::Sender<Option<FolderList>>);

/// The commands' end: the last published folder list, if the session published one yet.
#[derive(Debug, Clone)]
pub struct FolderView(watch::Receiver<Option<FolderList>>);

/// A connected publisher and view, with nothing published yet.
pub fn folder_view() -> (FolderPublisher, FolderView) {
    let (tx, rx) = watch::channel(None);
    (FolderPublisher(tx), FolderView(rx))
}

impl FolderPublisher {
    /// Publish the states the session just stored.
    pub fn publish(&self, states: &BTreeMap<String, FolderState>) {
        self.0
            .send_replace(Some(Arc::new(states.values().cloned().collect())));
    }
}

impl FolderView {
    /// The last published list; `None` until the session's first sync has published one.
    pub fn current(&self) -> Option<FolderList> {
        self.0.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(path: &str, mailbox_id: u32) -> FolderState {
        FolderState {
            path: path.into(),
            mailbox_id,
            uid_validity: 1,
            uid_next: 1,
            highest_modseq: None,
            special_use: None,
            delimiter: None,
            messages: 0,
            first_sync_pending: false,
            generation: 0,
        }
    }

    #[test]
    fn views_see_the_last_publication() {
        let (publisher, view) = folder_view();
        assert!(view.current().is_none());
        let mut states = BTreeMap::new();
        states.insert("INBOX".to_string(), state("INBOX", 1));
        publisher.publish(&states);
        let copy = view.clone();
        states.insert("Sent".to_string(), state("Sent", 2));
        publisher.publish(&states);
        let list = copy.current().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].mailbox_id, 2);
    }
}
