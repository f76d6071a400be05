//! Account records. Its own trait because they are the one thing every role reads, and
//! several readers need nothing else from the store (dispatch's account cache only asks
//! whether an account exists), so such a caller, and its test double, deals with accounts
//! alone instead of stubbing folders, leases and nodes.

use async_trait::async_trait;

use super::StoreError;
use crate::model::AccountConfig;

/// The account records, and the generation counter that says when they changed.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Create or replace an account record. Returns true when it already existed.
    /// Bumps the accounts generation.
    async fn put_account(&self, account: &AccountConfig) -> Result<bool, StoreError>;
    async fn get_account(&self, id: &str) -> Result<Option<AccountConfig>, StoreError>;
    /// All account ids, sorted.
    async fn list_accounts(&self) -> Result<Vec<String>, StoreError>;
    /// Remove the account and everything kept for it: status, folders, index chunks and
    /// lease. Returns true when it existed. Bumps the accounts generation.
    async fn delete_account(&self, id: &str) -> Result<bool, StoreError>;
    /// A counter that changes whenever an account is created, updated or deleted, so that
    /// ingest can notice changes with one cheap read.
    async fn accounts_generation(&self) -> Result<u64, StoreError>;
}
