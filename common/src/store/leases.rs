//! Ingest leases: which ingest node owns each account's IMAP session. Its own trait because
//! taking and giving up leases is the supervisor's business, while the other concerns only
//! check a lease (atomically, inside their own fenced writes) and never take one.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;

/// One expiring lease per account.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Take or renew the lease on an account for `ttl`. True when `owner` holds it now
    /// (it was free, expired, or already `owner`'s).
    async fn acquire_lease(
        &self,
        account: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Take the lease on an account for `ttl` from `dead`, a node that stopped
    /// heartbeating, before its lease expires: true when `owner` holds it now (it was
    /// still `dead`'s, or free). One atomic step, so a lease that `dead` renewed or another
    /// node took meanwhile is left alone; and since every fenced write checks the owner,
    /// `dead` can write nothing more should it turn out alive.
    async fn take_over_lease(
        &self,
        account: &str,
        owner: &str,
        dead: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Give the lease up if `owner` holds it.
    async fn release_lease(&self, account: &str, owner: &str) -> Result<(), StoreError>;
    /// Who holds the lease now, if anyone (expired leases count as free).
    async fn lease_owner(&self, account: &str) -> Result<Option<String>, StoreError>;
    /// Who holds each of `accounts`' leases now, in the same order: one round trip for a
    /// supervisor's scan of thousands of accounts, where one read each kept it from
    /// heartbeating and renewing for seconds.
    async fn lease_owners(&self, accounts: &[String]) -> Result<Vec<Option<String>>, StoreError>;
}
