//! The `Store`: account records, settings, account status, per-folder sync state with its
//! uid→flags index, ingest leases, live ingest nodes and usage counters. Every role talks to these traits
//! only; the backend (embedded redb file, or Redis) is chosen by config.
//!
//! Each concern is its own trait ([`AccountStore`], [`StatusStore`], [`SettingsStore`],
//! [`FolderStore`], [`LeaseStore`], [`NodeStore`], [`CounterStore`], [`OutboxStore`], [`TokenStore`], [`ReceiverStore`], [`LogStore`], [`ChangeStore`]), so that a caller needing one of them
//! takes just that one, and its test double implements just that one. [`Store`] is all of
//! them together, implemented for every type that implements each; [`SharedStore`] is what
//! the roles share.
//!
//! Writes made on behalf of an account's IMAP session are fenced by the ingest lease:
//! once an account is deleted (which drops its lease) or taken over, a late write from the
//! old owner is refused instead of resurrecting stale state.

mod accounts;
pub mod changes;
mod command_route;
pub mod counters;
pub mod embedded;
mod folders;
mod leases;
pub mod logs;
mod nodes;
mod outbox;
mod receivers;
mod record;
pub mod redis;
mod settings;
mod status;
mod tokens;

use std::sync::Arc;

pub use accounts::AccountStore;
pub use changes::ChangeStore;
pub use command_route::CommandRouteStore;
pub use counters::CounterStore;
pub use folders::{FolderStore, IndexChunk, IndexChunkUpdate};
pub use leases::LeaseStore;
pub use logs::LogStore;
pub use nodes::NodeStore;
pub use outbox::OutboxStore;
pub use receivers::ReceiverStore;
pub use settings::SettingsStore;
pub use status::StatusStore;
pub use tokens::TokenStore;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The whole state store shared by all roles: every concern at once, for the callers that
/// use several of them. Implemented for every type that implements each concern.
pub trait Store:
    AccountStore
    + StatusStore
    + SettingsStore
    + FolderStore
    + LeaseStore
    + NodeStore
    + CounterStore
    + OutboxStore
    + TokenStore
    + LogStore
    + ReceiverStore
    + ChangeStore
    + CommandRouteStore
{
}

impl<T> Store for T where
    T: AccountStore
        + StatusStore
        + SettingsStore
        + FolderStore
        + LeaseStore
        + NodeStore
        + CounterStore
        + OutboxStore
        + TokenStore
        + LogStore
        + ChangeStore
        + ReceiverStore
        + CommandRouteStore
{
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
