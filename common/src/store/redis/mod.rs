//! The Redis `Store`, shared by every process of a distributed deployment.
//!
//! Every fenced write (status, folder commit, folder delete) is one Lua script that checks
//! the lease owner and then writes, so a late write from a former owner can never land.
//! A folder commit is one script call whatever the number of chunks: a constant number of
//! round trips, where the original issued one command per message.
//!
//! Each concern's trait is implemented in its own file, next to the Lua scripts it uses;
//! the connection, the scripts' handles and the key scheme live here.
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
//! | `P:tokens` | hash | api access token hash → token record JSON |
//! | `P:receivers` | hash | failing webhook receiver (origin) → record JSON |
//! | `P:mailbox:seq` | string | last mailbox id handed out |
//! | `P:nodes` | sorted set | live ingest node → heartbeat expiry (unix ms) |
//! | `P:outbox`, `P:outbox:state`, `P:outbox:mime` | hashes | queue id → queued send JSON, its state, its MIME |
//! | `P:idem:E(key)` | string with an expiry | the answer given for an idempotency key |
//! | `P:counters:<minute>` | hash | counter name → count in that minute (expires after 7 days) |
//! | `P:acct:{E(id)}:status` | string | status JSON |
//! | `P:acct:{E(id)}:lease` | string | owner, with a PX expiry |
//! | `P:acct:{E(id)}:log` | list | protocol log lines, oldest first |
//! | `P:acct:{E(id)}:folders` | hash | E(path) → folder state JSON |
//! | `P:acct:{E(id)}:idx:E(path)` | hash | chunk number (decimal) → chunk bytes |
//!
//! The folders hash doubles as the list of an account's index keys, so `delete_account`
//! finds everything of the account without KEYS or SCAN. The `{…}` hash tag keeps all keys of
//! one account in one cluster slot; the account-level scripts (`put`/`delete_account`) also
//! touch the global keys, so this backend targets a standalone Redis (or a primary with
//! replicas), not Redis Cluster.

mod accounts;
mod changes;
mod command_route;
mod counters;
mod folders;
mod leases;
mod logs;
mod nodes;
mod outbox;
mod receivers;
mod settings;
mod status;
mod tokens;

use std::fmt::Write as _;

use redis::Script;
use redis::aio::ConnectionManager;

use super::StoreError;

/// The Redis-backed store. Cheap to clone: the connection manager is shared and
/// reconnects by itself.
#[derive(Clone)]
pub struct RedisStore {
    con: ConnectionManager,
    prefix: String,
    acquire: Script,
    take_over: Script,
    release: Script,
    heartbeat: Script,
    set_status: Script,
    commit: Script,
    delete_folder: Script,
    delete_account: Script,
    update_outbox: Script,
    append_log: Script,
    append_changes: Script,
    read_changes: Script,
}

impl std::fmt::Debug for RedisStore {
    // The URL may carry a password, and it is not kept anyway; the prefix is harmless.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A Redis failure as a store error, counted in `imapapi_store_errors_total`.
fn backend(e: redis::RedisError) -> StoreError {
    metrics::counter!("imapapi_store_errors_total", "backend" => "redis").increment(1);
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
    /// Connect to `url`; every key this store touches starts with `prefix:`. A `rediss://`
    /// URL connects over TLS (ElastiCache with encryption in transit), trusting the
    /// system's roots, or only the PEM file in `IMAPAPI_EXTRA_CA` when that is set.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisStore, StoreError> {
        let extra_ca = crate::net::redis::extra_ca(url)
            .await
            .map_err(StoreError::Backend)?;
        Self::connect_with(url, prefix, extra_ca).await
    }

    /// [`RedisStore::connect`] with the CA to trust for `rediss://` given (PEM), instead of
    /// the system's roots.
    pub async fn connect_with(
        url: &str,
        prefix: &str,
        ca_pem: Option<Vec<u8>>,
    ) -> Result<RedisStore, StoreError> {
        let client = crate::net::redis::client(url, ca_pem).map_err(backend)?;
        let con = crate::net::redis::manager(client).await.map_err(backend)?;
        Ok(RedisStore {
            con,
            prefix: prefix.to_string(),
            acquire: Script::new(leases::ACQUIRE),
            take_over: Script::new(leases::TAKE_OVER),
            release: Script::new(leases::RELEASE),
            heartbeat: Script::new(nodes::HEARTBEAT),
            set_status: Script::new(status::SET_STATUS),
            commit: Script::new(folders::COMMIT),
            delete_folder: Script::new(folders::DELETE_FOLDER),
            delete_account: Script::new(accounts::DELETE_ACCOUNT),
            update_outbox: Script::new(outbox::UPDATE_OUTBOX),
            append_log: Script::new(logs::APPEND_LOG),
            append_changes: Script::new(changes::APPEND_CHANGES),
            read_changes: Script::new(changes::READ_CHANGES),
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
