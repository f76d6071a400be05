//! Requests for an account's session itself (not for its mail): reconnect with the stored
//! config, or close for good. Shared by the router that receives them, the session that
//! obeys them, and the IDLE wait that they interrupt.

use tokio::sync::oneshot;

/// What the session is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Drop the connection and connect again with the stored config.
    Reconnect,
    /// Log out for good and give up the lease (the account was deleted).
    Close,
    /// Look for new folders now rather than at the next poll (a command met a folder that
    /// has no mailbox id yet); answered once that poll ran.
    Resync,
}

/// A control request and where to say it was taken.
#[derive(Debug)]
pub struct ControlRequest {
    pub control: Control,
    pub done: oneshot::Sender<()>,
}

/// Control requests queued per account before callers are told to retry.
pub const CONTROL_QUEUE: usize = 4;
