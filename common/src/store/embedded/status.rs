//! Account status in the `status` table; writes check the lease in their own transaction.

use async_trait::async_trait;

use super::leases::holds_lease;
use super::{EmbeddedStore, STATUS, backend};
use crate::model::AccountStatus;
use crate::store::record::encode;
use crate::store::{StatusStore, StoreError};

#[async_trait]
impl StatusStore for EmbeddedStore {
    async fn set_status(
        &self,
        account: &str,
        owner: &str,
        status: &AccountStatus,
    ) -> Result<bool, StoreError> {
        let (account, owner) = (account.to_string(), owner.to_string());
        let json = encode("status", status)?;
        self.write(true, move |txn| {
            if !holds_lease(txn, &account, &owner)? {
                return Ok(false);
            }
            txn.open_table(STATUS)
                .map_err(backend)?
                .insert(account.as_str(), json.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn get_status(&self, account: &str) -> Result<Option<AccountStatus>, StoreError> {
        self.read_record(STATUS, account, "status").await
    }
}
