//! What the api reads before it sends a command to an account's connection: who runs the
//! account (the live lease's owner, where the command goes) and the account's changes
//! state (carried by the listing or message reply). Both are read for every listing,
//! search and message call, so a backend that can read them in one step does.

use async_trait::async_trait;

use super::{ChangeStore, LeaseStore, StoreError};

/// Reading an account's owner and changes state together.
#[async_trait]
pub trait CommandRouteStore: LeaseStore + ChangeStore {
    /// The owner of `account`'s live lease (`None`: nobody runs it) and the number of its
    /// newest change (its changes state; 0 without history). The default asks for both
    /// at once; the embedded store reads both in one read transaction (one trip to the
    /// blocking pool rather than two).
    async fn owner_and_state(&self, account: &str) -> Result<(Option<String>, u64), StoreError> {
        let (owner, page) = tokio::join!(
            self.lease_owner(account),
            self.changes_since(account, u64::MAX, 0)
        );
        Ok((owner?, page?.current))
    }
}
