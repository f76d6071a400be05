//! Account records (`P:accounts`, `P:accounts:gen`). Deleting an account is one script that
//! also drops everything kept for it by the other concerns.

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, backend};
use crate::model::AccountConfig;
use crate::store::record::{decode, encode};
use crate::store::{AccountStore, StoreError};

/// KEYS: accounts, generation, status, lease, folders, log, changes, changes floor. ARGV: id,
/// index key prefix.
/// Index keys are derived from the folders hash inside the script, which is why it needs a
/// standalone Redis (see the module comment).
pub(super) const DELETE_ACCOUNT: &str = r"
local existed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('UNLINK', KEYS[3], KEYS[4], KEYS[6], KEYS[7], KEYS[8])
for _, f in ipairs(redis.call('HKEYS', KEYS[5])) do
  redis.call('UNLINK', ARGV[2] .. f)
end
redis.call('UNLINK', KEYS[5])
if existed == 1 then redis.call('INCR', KEYS[2]) end
return existed
";

#[async_trait]
impl AccountStore for RedisStore {
    async fn put_account(&self, account: &AccountConfig) -> Result<bool, StoreError> {
        let json = encode("account", account)?;
        let (added, _gen): (i64, u64) = redis::pipe()
            .atomic()
            .hset(self.global("accounts"), &account.account, json)
            .incr(self.global("accounts:gen"), 1)
            .query_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(added == 0)
    }

    async fn get_account(&self, id: &str) -> Result<Option<AccountConfig>, StoreError> {
        let v: Option<Vec<u8>> = self
            .con
            .clone()
            .hget(self.global("accounts"), id)
            .await
            .map_err(backend)?;
        v.map(|b| decode("account", &b)).transpose()
    }

    async fn list_accounts(&self) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = self
            .con
            .clone()
            .hkeys(self.global("accounts"))
            .await
            .map_err(backend)?;
        ids.sort();
        Ok(ids)
    }

    async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let existed: i64 = self
            .delete_account
            .key(self.global("accounts"))
            .key(self.global("accounts:gen"))
            .key(self.acct(id, "status"))
            .key(self.acct(id, "lease"))
            .key(self.acct(id, "folders"))
            .key(self.acct(id, "log"))
            .key(self.acct(id, "changes"))
            .key(self.acct(id, "changes:floor"))
            .arg(id)
            .arg(self.index_prefix(id))
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(existed == 1)
    }

    async fn accounts_generation(&self) -> Result<u64, StoreError> {
        let g: Option<u64> = self
            .con
            .clone()
            .get(self.global("accounts:gen"))
            .await
            .map_err(backend)?;
        Ok(g.unwrap_or(0))
    }
}
