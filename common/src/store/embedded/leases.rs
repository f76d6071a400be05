//! Leases in the `leases` table: 8 bytes of expiry then the owner. Not durable (see
//! `EmbeddedStore::write`); `holds_lease` is the check the fenced writes of the other
//! concerns make inside their own transaction.

use crate::clock::now_ms;
use std::time::Duration;

use async_trait::async_trait;
use redb::{ReadableTable, WriteTransaction};

use super::{EmbeddedStore, LEASES, backend};
use crate::store::{LeaseStore, StoreError};

fn encode_lease(owner: &str, expires_ms: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + owner.len());
    v.extend_from_slice(&expires_ms.to_be_bytes());
    v.extend_from_slice(owner.as_bytes());
    v
}

/// The owner of a live lease, or `None` when there is none or it has expired.
fn live_owner(bytes: &[u8], now: u64) -> Result<Option<String>, StoreError> {
    let (exp, owner) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| StoreError::Corrupt("lease record too short".into()))?;
    if u64::from_be_bytes(*exp) <= now {
        return Ok(None);
    }
    String::from_utf8(owner.to_vec())
        .map(Some)
        .map_err(|_| StoreError::Corrupt("lease owner is not UTF-8".into()))
}

/// The owner of `account`'s live lease, inside the caller's read transaction.
pub(super) fn read_owner(
    txn: &redb::ReadTransaction,
    account: &str,
) -> Result<Option<String>, StoreError> {
    let t = txn.open_table(LEASES).map_err(backend)?;
    match t.get(account).map_err(backend)? {
        Some(v) => live_owner(v.value(), now_ms()),
        None => Ok(None),
    }
}

pub(super) fn holds_lease(
    txn: &WriteTransaction,
    account: &str,
    owner: &str,
) -> Result<bool, StoreError> {
    let leases = txn.open_table(LEASES).map_err(backend)?;
    let current = match leases.get(account).map_err(backend)? {
        Some(v) => live_owner(v.value(), now_ms())?,
        None => None,
    };
    Ok(current.as_deref() == Some(owner))
}

#[async_trait]
impl LeaseStore for EmbeddedStore {
    async fn acquire_lease(
        &self,
        account: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (account, owner) = (account.to_string(), owner.to_string());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.write(false, move |txn| {
            let now = now_ms();
            let mut t = txn.open_table(LEASES).map_err(backend)?;
            let current = match t.get(account.as_str()).map_err(backend)? {
                Some(v) => live_owner(v.value(), now)?,
                None => None,
            };
            if current.as_deref().is_some_and(|c| c != owner) {
                return Ok(false);
            }
            let record = encode_lease(&owner, now.saturating_add(ttl_ms));
            t.insert(account.as_str(), record.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn take_over_lease(
        &self,
        account: &str,
        owner: &str,
        dead: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (account, owner, dead) = (account.to_string(), owner.to_string(), dead.to_string());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.write(false, move |txn| {
            let now = now_ms();
            let mut t = txn.open_table(LEASES).map_err(backend)?;
            let current = match t.get(account.as_str()).map_err(backend)? {
                Some(v) => live_owner(v.value(), now)?,
                None => None,
            };
            if current.as_deref().is_some_and(|c| c != dead) {
                return Ok(false);
            }
            let record = encode_lease(&owner, now.saturating_add(ttl_ms));
            t.insert(account.as_str(), record.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn release_lease(&self, account: &str, owner: &str) -> Result<(), StoreError> {
        let (account, owner) = (account.to_string(), owner.to_string());
        self.write(false, move |txn| {
            let mut t = txn.open_table(LEASES).map_err(backend)?;
            let current = match t.get(account.as_str()).map_err(backend)? {
                Some(v) => live_owner(v.value(), now_ms())?,
                None => None,
            };
            if current.as_deref() == Some(owner.as_str()) {
                t.remove(account.as_str()).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn lease_owner(&self, account: &str) -> Result<Option<String>, StoreError> {
        let account = account.to_string();
        self.read(move |txn| read_owner(txn, &account)).await
    }

    async fn lease_owners(&self, accounts: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let accounts = accounts.to_vec();
        self.read(move |txn| {
            let t = txn.open_table(LEASES).map_err(backend)?;
            let now = now_ms();
            accounts
                .iter()
                .map(|a| match t.get(a.as_str()).map_err(backend)? {
                    Some(v) => live_owner(v.value(), now),
                    None => Ok(None),
                })
                .collect()
        })
        .await
    }
}
