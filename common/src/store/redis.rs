//! The Redis `Store`, shared by every process of a distributed deployment.
//!
//! Every fenced write (status, folder commit, folder delete) is one Lua script that checks
//! the lease owner and then writes, so a late write from a former owner can never land.
//! A folder commit is one script call whatever the number of chunks: a constant number of
//! round trips, where the original issued one command per message.
//!
//! Key layout (`P` is the prefix, `imapapi` in production; `E(x)` percent-encodes every byte
//! of `x` outside `[A-Za-z0-9._@+/-]`, so `:`, `{` and `}` in ids or folder names can neither
//! make two keys collide nor break the hash tag):
//!
//! | key | type | content |
//! | --- | --- | --- |
//! | `P:accounts` | hash | account id → account JSON |
//! | `P:accounts:gen` | string | accounts generation counter |
//! | `P:settings` | string | settings JSON |
//! | `P:mailbox:seq` | string | last mailbox id handed out |
//! | `P:nodes` | sorted set | live ingest node → heartbeat expiry (unix ms) |
//! | `P:acct:{E(id)}:status` | string | status JSON |
//! | `P:acct:{E(id)}:lease` | string | owner, with a PX expiry |
//! | `P:acct:{E(id)}:folders` | hash | E(path) → folder state JSON |
//! | `P:acct:{E(id)}:idx:E(path)` | hash | chunk number (decimal) → chunk bytes |
//!
//! The folders hash doubles as the list of an account's index keys, so `delete_account`
//! finds everything of the account without KEYS or SCAN. The `{…}` hash tag keeps all keys of
//! one account in one cluster slot; the account-level scripts (`put`/`delete_account`) also
//! touch the global keys, so this backend targets a standalone Redis (or a primary with
//! replicas), not Redis Cluster.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::record::{decode, encode};
use super::{
    AccountStore, FolderStore, IndexChunk, IndexChunkUpdate, LeaseStore, NodeStore, SettingsStore,
    StatusStore, StoreError,
};
use crate::model::{AccountConfig, AccountStatus, FolderState, Settings};

const MAX_TTL_MS: u64 = 1_000_000_000_000;

/// KEYS: lease. ARGV: owner, ttl ms.
const ACQUIRE: &str = r"
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

/// KEYS: nodes. ARGV: node, now ms, expiry ms. Server-side so one round trip both
/// refreshes this node and prunes the dead ones.
const HEARTBEAT: &str = r"
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
return redis.call('ZRANGE', KEYS[1], 0, -1)
";

/// KEYS: lease. ARGV: owner.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
";

/// KEYS: lease, status. ARGV: owner, status JSON.
const SET_STATUS: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
";

/// KEYS: lease, folders, index. ARGV: owner, E(path), state JSON, reset (0/1), number of
/// chunks to set, then (chunk, bytes) pairs, then chunk numbers to delete. HSET/HDEL go in
/// batches so `unpack` stays far below Lua's stack limit.
const COMMIT: &str = r"
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
const DELETE_FOLDER: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('UNLINK', KEYS[3])
return 1
";

/// KEYS: accounts, generation, status, lease, folders. ARGV: id, index key prefix.
/// Index keys are derived from the folders hash inside the script, which is why it needs a
/// standalone Redis (see the module comment).
const DELETE_ACCOUNT: &str = r"
local existed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('UNLINK', KEYS[3], KEYS[4])
for _, f in ipairs(redis.call('HKEYS', KEYS[5])) do
  redis.call('UNLINK', ARGV[2] .. f)
end
redis.call('UNLINK', KEYS[5])
if existed == 1 then redis.call('INCR', KEYS[2]) end
return existed
";

/// The Redis-backed store. Cheap to clone: the connection manager is shared and
/// reconnects by itself.
#[derive(Clone)]
pub struct RedisStore {
    con: ConnectionManager,
    prefix: String,
    acquire: Script,
    release: Script,
    heartbeat: Script,
    set_status: Script,
    commit: Script,
    delete_folder: Script,
    delete_account: Script,
}

impl std::fmt::Debug for RedisStore {
    // The URL may carry a password, and it is not kept anyway; the prefix is harmless.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::Backend(format!("redis: {e}"))
}

/// Percent-encode a key component (see the module comment).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"._@+/-".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl RedisStore {
    /// Connect to `url`; every key this store touches starts with `prefix:`.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(10)));
        let con = ConnectionManager::new_with_config(client, cfg)
            .await
            .map_err(backend)?;
        Ok(RedisStore {
            con,
            prefix: prefix.to_string(),
            acquire: Script::new(ACQUIRE),
            release: Script::new(RELEASE),
            heartbeat: Script::new(HEARTBEAT),
            set_status: Script::new(SET_STATUS),
            commit: Script::new(COMMIT),
            delete_folder: Script::new(DELETE_FOLDER),
            delete_account: Script::new(DELETE_ACCOUNT),
        })
    }

    /// The key prefix, so that tests can clean up after themselves.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn global(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn acct(&self, account: &str, name: &str) -> String {
        format!("{}:acct:{{{}}}:{name}", self.prefix, esc(account))
    }

    fn index_prefix(&self, account: &str) -> String {
        self.acct(account, "idx:")
    }

    fn index(&self, account: &str, path: &str) -> String {
        format!("{}{}", self.index_prefix(account), esc(path))
    }
}

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

#[async_trait]
impl SettingsStore for RedisStore {
    async fn get_settings(&self) -> Result<Settings, StoreError> {
        let v: Option<Vec<u8>> = self
            .con
            .clone()
            .get(self.global("settings"))
            .await
            .map_err(backend)?;
        Ok(v.map(|b| decode("settings", &b))
            .transpose()?
            .unwrap_or_default())
    }

    async fn put_settings(&self, settings: &Settings) -> Result<(), StoreError> {
        let json = encode("settings", settings)?;
        let () = self
            .con
            .clone()
            .set(self.global("settings"), json)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

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
}

#[async_trait]
impl NodeStore for RedisStore {
    async fn heartbeat_node(&self, node: &str, ttl: Duration) -> Result<Vec<String>, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let expiry = now.saturating_add(ttl.as_millis() as u64);
        let mut nodes: Vec<String> = self
            .heartbeat
            .key(self.global("nodes"))
            .arg(node)
            .arg(now)
            .arg(expiry)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        nodes.sort();
        Ok(nodes)
    }

    async fn remove_node(&self, node: &str) -> Result<(), StoreError> {
        self.con
            .clone()
            .zrem(self.global("nodes"), node)
            .await
            .map_err(backend)
    }

    async fn live_nodes(&self) -> Result<Vec<String>, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut nodes: Vec<String> = self
            .con
            .clone()
            .zrangebyscore(self.global("nodes"), now, "+inf")
            .await
            .map_err(backend)?;
        nodes.sort();
        Ok(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_separators_and_hash_tags() {
        assert_eq!(esc("INBOX/Sub-1.x"), "INBOX/Sub-1.x");
        assert_eq!(esc("a:b{c}"), "a%3Ab%7Bc%7D");
        assert_eq!(esc("Entwürfe"), "Entw%C3%BCrfe");
        assert_ne!(esc("a:b"), esc("a%3Ab"));
    }
}
