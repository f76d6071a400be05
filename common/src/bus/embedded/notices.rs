//! Notices to every listener in this process: a bounded in-memory broadcast channel, never
//! the file (a notice needs no durability). A listener that falls more than the backlog
//! behind gets one notice for all it missed.

use async_trait::async_trait;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::bus::{BusError, NoticeListener};

/// Notices held for a listener that has not taken them yet.
const NOTICE_BACKLOG: usize = 16;

/// The sending side, shared by the bus's clones.
pub(super) fn channel() -> broadcast::Sender<()> {
    broadcast::channel(NOTICE_BACKLOG).0
}

/// Tell every current listener; with none, the notice is simply gone.
pub(super) fn announce(notices: &broadcast::Sender<()>) {
    let _ = notices.send(());
}

pub(super) struct EmbeddedListener(pub broadcast::Receiver<()>);

#[async_trait]
impl NoticeListener for EmbeddedListener {
    async fn next(&mut self) -> Result<(), BusError> {
        match self.0.recv().await {
            // Missed some: they all said the same.
            Ok(()) | Err(RecvError::Lagged(_)) => Ok(()),
            Err(RecvError::Closed) => Err(BusError::Closed),
        }
    }
}
