//! Account status (`P:acct:{E(id)}:status`); the write is a script that checks the lease
//! first.

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, backend};
use crate::model::AccountStatus;
use crate::store::record::{decode, encode};
use crate::store::{StatusStore, StoreError};

/// KEYS: lease, status. ARGV: owner, status JSON.
pub(super) const SET_STATUS: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
";

#[async_trait]
impl StatusStore for RedisStore {
    async fn set_status(
        &self,
        account: &str,
        owner: &str,
        status: &AccountStatus,
    ) -> Result<bool, StoreError> {
        let ok: i64 = self
            .set_status
            .key(self.acct(account, "lease"))
            .key(self.acct(account, "status"))
            .arg(owner)
            .arg(encode("status", status)?)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(ok == 1)
    }

    async fn get_status(&self, account: &str) -> Result<Option<AccountStatus>, StoreError> {
        let v: Option<Vec<u8>> = self
            .con
            .clone()
            .get(self.acct(account, "status"))
            .await
            .map_err(backend)?;
        v.map(|b| decode("status", &b)).transpose()
    }
}
