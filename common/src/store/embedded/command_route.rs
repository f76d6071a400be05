//! The owner and changes state of an account in one read transaction: the api reads both
//! before every listing, search and message call, and each read is a trip to the blocking
//! pool (thread wake-ups that cost more than the reads).

use async_trait::async_trait;

use super::EmbeddedStore;
use super::changes::read_state;
use super::leases::read_owner;
use crate::store::{CommandRouteStore, StoreError};

#[async_trait]
impl CommandRouteStore for EmbeddedStore {
    async fn owner_and_state(&self, account: &str) -> Result<(Option<String>, u64), StoreError> {
        let account = account.to_string();
        self.read(move |txn| {
            let owner = read_owner(txn, &account)?;
            let (_, current) = read_state(txn, &account)?;
            Ok((owner, current))
        })
        .await
    }
}
