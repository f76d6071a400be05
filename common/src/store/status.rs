//! The runtime status of accounts. Its own trait because it has one writer (the ingest
//! session holding the account's lease, hence the fencing) and readers (api) that need
//! nothing else of that writer's state.

use async_trait::async_trait;

use super::StoreError;
use crate::model::AccountStatus;

/// The runtime status of each account.
#[async_trait]
pub trait StatusStore: Send + Sync + 'static {
    /// Write the runtime status of an account; refused (false) unless `owner` holds its lease.
    async fn set_status(
        &self,
        account: &str,
        owner: &str,
        status: &AccountStatus,
    ) -> Result<bool, StoreError>;
    async fn get_status(&self, account: &str) -> Result<Option<AccountStatus>, StoreError>;
}
