//! Notices broadcast to every ingest process, a concern apart from the work queues (no
//! durability, no retries: every listener gets each notice, none takes it from the others)
//! and from node requests (no reply, no addressee). The one notice today: the accounts
//! changed (one was created, updated or deleted), so ingest looks at them at once instead
//! of on its next scan. A lost notice costs only that wait, so backends keep no notice
//! that nobody listens for, and a slow listener may see several notices as one.

use async_trait::async_trait;

use super::BusError;

/// Broadcasts "the accounts changed" to every process listening.
#[async_trait]
pub trait AccountNotices: Send + Sync + 'static {
    /// Tell every listener that the accounts changed. Returns once the backend took the
    /// notice (not once anyone received it); nobody listening is no error.
    async fn announce_accounts_changed(&self) -> Result<(), BusError>;
    /// Start listening: notices announced after this returns are received.
    async fn listen_accounts_changed(&self) -> Result<Box<dyn NoticeListener>, BusError>;
}

/// One process's subscription to the notices. Holds a bounded backlog: notices beyond it
/// are merged, as a listener acts on "something changed", never on a count.
#[async_trait]
pub trait NoticeListener: Send {
    /// Waits for the next notice. After a lost and renewed subscription it returns at once
    /// (notices may have been missed meanwhile). An error means it cannot listen any more.
    async fn next(&mut self) -> Result<(), BusError>;
}
