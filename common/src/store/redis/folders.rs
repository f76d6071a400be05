//! Folder states (`P:acct:{E(id)}:folders`), their index chunks (`P:acct:{E(id)}:idx:E(path)`)
//! and the mailbox id sequence (`P:mailbox:seq`); the writes are scripts that check the lease
//! first.

use std::collections::BTreeMap;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, backend, esc};
use crate::model::FolderState;
use crate::store::record::{decode, encode};
use crate::store::{FolderStore, IndexChunk, IndexChunkUpdate, StoreError};

/// KEYS: lease, folders, index. ARGV: owner, E(path), state JSON, reset (0/1), number of
/// chunks to set, then (chunk, bytes) pairs, then chunk numbers to delete. HSET/HDEL go in
/// batches so `unpack` stays far below Lua's stack limit.
pub(super) const COMMIT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] == '1' then redis.call('UNLINK', KEYS[3]) end
local last = 5 + 2 * tonumber(ARGV[5])
local i = 6
while i <= last do
  local j = math.min(i + 199, last)
  redis.call('HSET', KEYS[3], unpack(ARGV, i, j))
  i = j + 1
end
while i <= #ARGV do
  local j = math.min(i + 199, #ARGV)
  redis.call('HDEL', KEYS[3], unpack(ARGV, i, j))
  i = j + 1
end
return 1
";

/// KEYS: lease, folders, index. ARGV: owner, E(path).
pub(super) const DELETE_FOLDER: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('UNLINK', KEYS[3])
return 1
";

#[async_trait]
impl FolderStore for RedisStore {
    async fn allocate_mailbox_id(&self) -> Result<u32, StoreError> {
        // INCR starts at 1, so 0 is never handed out.
        let n: u64 = self
            .con
            .clone()
            .incr(self.global("mailbox:seq"), 1)
            .await
            .map_err(backend)?;
        u32::try_from(n).map_err(|_| StoreError::Corrupt("mailbox ids exhausted".into()))
    }

    async fn list_folders(&self, account: &str) -> Result<Vec<FolderState>, StoreError> {
        let vals: Vec<Vec<u8>> = self
            .con
            .clone()
            .hvals(self.acct(account, "folders"))
            .await
            .map_err(backend)?;
        let mut out = vals
            .iter()
            .map(|b| decode::<FolderState>("folder", b))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    async fn load_index(&self, account: &str, path: &str) -> Result<Vec<IndexChunk>, StoreError> {
        let map: BTreeMap<u32, Vec<u8>> = self
            .con
            .clone()
            .hgetall(self.index(account, path))
            .await
            .map_err(backend)?;
        Ok(map
            .into_iter()
            .map(|(chunk, data)| IndexChunk { chunk, data })
            .collect())
    }

    async fn commit_folder(
        &self,
        account: &str,
        owner: &str,
        state: &FolderState,
        reset: bool,
        chunks: &[IndexChunkUpdate],
    ) -> Result<bool, StoreError> {
        let sets: Vec<(u32, &[u8])> = chunks
            .iter()
            .filter_map(|u| u.data.as_deref().map(|d| (u.chunk, d)))
            .collect();
        let mut inv = self.commit.prepare_invoke();
        inv.key(self.acct(account, "lease"))
            .key(self.acct(account, "folders"))
            .key(self.index(account, &state.path))
            .arg(owner)
            .arg(esc(&state.path))
            .arg(encode("folder", state)?)
            .arg(u8::from(reset))
            .arg(sets.len());
        for (chunk, data) in &sets {
            inv.arg(*chunk).arg(*data);
        }
        for u in chunks.iter().filter(|u| u.data.is_none()) {
            inv.arg(u.chunk);
        }
        let ok: i64 = inv
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(ok == 1)
    }

    async fn delete_folder(
        &self,
        account: &str,
        owner: &str,
        path: &str,
    ) -> Result<bool, StoreError> {
        let ok: i64 = self
            .delete_folder
            .key(self.acct(account, "lease"))
            .key(self.acct(account, "folders"))
            .key(self.index(account, path))
            .arg(owner)
            .arg(esc(path))
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(ok == 1)
    }
}
