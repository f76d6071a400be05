//! The `Store`: account records, settings, account status, per-folder sync state with its
//! uid→flags index, and ingest leases. Every role talks to this trait only; the backend
//! (embedded redb file, or Redis) is chosen by config.
//!
//! Writes made on behalf of an account's IMAP session are fenced by the ingest lease:
//! once an account is deleted (which drops its lease) or taken over, a late write from the
//! old owner is refused instead of resurrecting stale state.

pub mod embedded;
mod record;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::model::{AccountConfig, AccountStatus, FolderState, Settings};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// One chunk of a folder's uid→flags index, as opaque bytes. The index codec lives in
/// ingest; the store only keeps chunks keyed by chunk number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChunk {
    pub chunk: u32,
    pub data: Vec<u8>,
}

/// A change to one chunk: new bytes, or `None` to remove the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChunkUpdate {
    pub chunk: u32,
    pub data: Option<Vec<u8>>,
}

/// The state store shared by all roles.
#[async_trait]
pub trait Store: Send + Sync + 'static {
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

    /// Write the runtime status of an account; refused (false) unless `owner` holds its lease.
    async fn set_status(
        &self,
        account: &str,
        owner: &str,
        status: &AccountStatus,
    ) -> Result<bool, StoreError>;
    async fn get_status(&self, account: &str) -> Result<Option<AccountStatus>, StoreError>;

    async fn get_settings(&self) -> Result<Settings, StoreError>;
    async fn put_settings(&self, settings: &Settings) -> Result<(), StoreError>;

    /// A new mailbox id: gateway-wide unique, never handed out twice, never 0.
    async fn allocate_mailbox_id(&self) -> Result<u32, StoreError>;
    /// Stored state of every folder of an account.
    async fn list_folders(&self, account: &str) -> Result<Vec<FolderState>, StoreError>;
    /// The index chunks of one folder, in chunk order.
    async fn load_index(&self, account: &str, path: &str) -> Result<Vec<IndexChunk>, StoreError>;
    /// Atomically write a folder's state and apply index chunk updates, in a constant
    /// number of round trips whatever the number of chunks. With `reset`, every existing
    /// chunk of the folder is dropped first (UIDVALIDITY changed). Refused (false) unless
    /// `owner` holds the account's lease.
    async fn commit_folder(
        &self,
        account: &str,
        owner: &str,
        state: &FolderState,
        reset: bool,
        chunks: &[IndexChunkUpdate],
    ) -> Result<bool, StoreError>;
    /// Remove a folder's state and index; refused (false) unless `owner` holds the lease.
    async fn delete_folder(
        &self,
        account: &str,
        owner: &str,
        path: &str,
    ) -> Result<bool, StoreError>;

    /// Take or renew the lease on an account for `ttl`. True when `owner` holds it now
    /// (it was free, expired, or already `owner`'s).
    async fn acquire_lease(
        &self,
        account: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Give the lease up if `owner` holds it.
    async fn release_lease(&self, account: &str, owner: &str) -> Result<(), StoreError>;
    /// Who holds the lease now, if anyone (expired leases count as free).
    async fn lease_owner(&self, account: &str) -> Result<Option<String>, StoreError>;

    /// Announce that ingest `node` is alive for `ttl`, and return every node alive now
    /// (itself included), sorted. Ingest uses the count to take only its fair share of
    /// the accounts, so several processes actually share them.
    async fn heartbeat_node(&self, node: &str, ttl: Duration) -> Result<Vec<String>, StoreError>;
    /// Forget `node` at once (clean shutdown), instead of waiting for its heartbeat to expire.
    async fn remove_node(&self, node: &str) -> Result<(), StoreError>;
    /// Every ingest node alive now, sorted, without announcing one (api picks a node for
    /// work that belongs to no account, such as checking settings before they are saved).
    async fn live_nodes(&self) -> Result<Vec<String>, StoreError>;
}

/// A shared handle to the configured store.
pub type SharedStore = Arc<dyn Store>;

/// Key prefix of the Redis store in production.
const REDIS_PREFIX: &str = "imapapi";

/// Open the configured store: Redis when `dbs.redis` is set, else the embedded file store
/// in `dbs.path`.
pub async fn open(config: &crate::config::Config) -> Result<SharedStore, StoreError> {
    // The URL is not logged: it may carry a password.
    match &config.redis {
        Some(url) => {
            let store = redis::RedisStore::connect(url, REDIS_PREFIX).await?;
            tracing::info!(backend = "redis", prefix = REDIS_PREFIX, "store opened");
            Ok(Arc::new(store))
        }
        None => {
            let store = embedded::EmbeddedStore::open(&config.data_dir).await?;
            tracing::info!(backend = "embedded", dir = %config.data_dir.display(), "store opened");
            Ok(Arc::new(store))
        }
    }
}
