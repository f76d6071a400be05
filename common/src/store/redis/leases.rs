//! Leases (`P:acct:{E(id)}:lease`): the owner, with a PX expiry, so Redis expires them.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, backend};
use crate::store::{LeaseStore, StoreError};

const MAX_TTL_MS: u64 = 1_000_000_000_000;
/// Lease reads per pipeline: bounds one reply's size for a scan of many thousand accounts.
const OWNERS_PER_PIPELINE: usize = 1_000;

/// KEYS: lease. ARGV: owner, ttl ms.
pub(super) const ACQUIRE: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
elseif cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// KEYS: lease. ARGV: new owner, ttl ms, the dead owner.
pub(super) const TAKE_OVER: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// KEYS: lease. ARGV: owner.
pub(super) const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
";

#[async_trait]
impl LeaseStore for RedisStore {
    async fn acquire_lease(
        &self,
        account: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        // PX 0 is an error in Redis, and so is an expiry past its clock's range: clamp to
        // between 1 ms and about 30 years.
        let ttl_ms = u64::try_from(ttl.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_TTL_MS);
        let ok: i64 = self
            .acquire
            .key(self.acct(account, "lease"))
            .arg(owner)
            .arg(ttl_ms)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(ok == 1)
    }

    async fn take_over_lease(
        &self,
        account: &str,
        owner: &str,
        dead: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_TTL_MS);
        let ok: i64 = self
            .take_over
            .key(self.acct(account, "lease"))
            .arg(owner)
            .arg(ttl_ms)
            .arg(dead)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(ok == 1)
    }

    async fn release_lease(&self, account: &str, owner: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .release
            .key(self.acct(account, "lease"))
            .arg(owner)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn lease_owner(&self, account: &str) -> Result<Option<String>, StoreError> {
        self.con
            .clone()
            .get(self.acct(account, "lease"))
            .await
            .map_err(backend)
    }

    async fn lease_owners(&self, accounts: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        let mut owners = Vec::with_capacity(accounts.len());
        // A pipeline of GETs rather than one MGET: every account's keys hash to a slot of
        // their own, which MGET cannot span on a cluster.
        for batch in accounts.chunks(OWNERS_PER_PIPELINE) {
            let mut pipe = redis::pipe();
            for a in batch {
                pipe.get(self.acct(a, "lease"));
            }
            let got: Vec<Option<String>> = pipe
                .query_async(&mut self.con.clone())
                .await
                .map_err(backend)?;
            owners.extend(got);
        }
        Ok(owners)
    }
}
