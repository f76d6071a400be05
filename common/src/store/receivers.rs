//! Webhook receivers that are failing, written by dispatch when one starts failing or
//! answers again (not per attempt), read by `GET /v1/stats` in any api process. Its own
//! trait because those are its only users. With several dispatch processes the record is
//! whichever saw the last change: a receiver one process sees recover is cleared for all.

use async_trait::async_trait;

use super::StoreError;
use crate::model::FailingReceiver;

/// The failing webhook receivers.
#[async_trait]
pub trait ReceiverStore: Send + Sync + 'static {
    /// Record `receiver` as failing (replacing an earlier record of its target).
    async fn set_receiver_failing(&self, receiver: &FailingReceiver) -> Result<(), StoreError>;
    /// The receiver of `target` answers again.
    async fn clear_receiver(&self, target: &str) -> Result<(), StoreError>;
    /// Every failing receiver, by target.
    async fn failing_receivers(&self) -> Result<Vec<FailingReceiver>, StoreError>;
}
