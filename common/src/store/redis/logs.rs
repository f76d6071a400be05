//! Protocol logs (`P:acct:{E(id)}:log`: a list, oldest line first). An append is one script
//! so that the existence check, the push and the trim cannot interleave with a deletion.

use async_trait::async_trait;

use super::{RedisStore, backend};
use crate::store::{LogStore, StoreError};

/// KEYS: accounts, log. ARGV: id, lines to keep (at least 1), the lines.
/// Nothing is pushed for an account that is gone: its log would outlive it.
pub(super) const APPEND_LOG: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 3, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return 1
";

#[async_trait]
impl LogStore for RedisStore {
    async fn append_log(
        &self,
        account: &str,
        lines: &[String],
        max: u64,
    ) -> Result<bool, StoreError> {
        if max == 0 {
            // `LTRIM key -0 -1` would keep everything.
            self.delete_log(account).await?;
            return Ok(true);
        }
        let mut call = self.append_log.prepare_invoke();
        call.key(self.global("accounts"))
            .key(self.acct(account, "log"))
            .arg(account)
            .arg(max);
        for line in lines {
            call.arg(line);
        }
        let stored: i64 = call
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(stored == 1)
    }

    async fn read_log(&self, account: &str, limit: u64) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            // `LRANGE key -0 -1` would answer everything.
            return Ok(Vec::new());
        }
        let from = -i64::try_from(limit).unwrap_or(i64::MAX);
        redis::cmd("LRANGE")
            .arg(self.acct(account, "log"))
            .arg(from)
            .arg(-1)
            .query_async(&mut self.con.clone())
            .await
            .map_err(backend)
    }

    async fn delete_log(&self, account: &str) -> Result<(), StoreError> {
        redis::cmd("UNLINK")
            .arg(self.acct(account, "log"))
            .query_async::<()>(&mut self.con.clone())
            .await
            .map_err(backend)
    }
}
