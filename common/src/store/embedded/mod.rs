//! The embedded `Store`: one crash-safe redb file (`<data_dir>/store.redb`), so that a single
//! machine runs the whole gateway with nothing else to install.
//!
//! redb is a blocking API; every operation runs on tokio's blocking pool so that async tasks
//! never stall on disk I/O. redb serializes write transactions, which is what makes the lease
//! checks of fenced writes atomic with the writes themselves.
//!
//! Each concern's trait is implemented in its own file; the tables, and the transaction
//! helpers they share, live here.
//!
//! Tables:
//! - `accounts`: account id → account JSON
//! - `status`: account id → status JSON
//! - `meta`: `generation` / `mailbox_seq` → u64 counters
//! - `blobs`: `settings` → settings JSON
//! - `folders`: (account, path) → folder state JSON
//! - `chunks`: (account, path, chunk number) → index chunk bytes
//! - `leases`: account id → 8 bytes of expiry (unix ms, big endian) then the owner
//! - `counters`: (minute since the epoch, counter name) → count
//! - `outbox` / `outbox_mime`: queue id → queued send JSON / its MIME message
//! - `tokens`: api access token hash → token record JSON
//! - `receivers`: failing webhook receiver (origin) → record JSON
//! - `logs`: (account, sequence number) → protocol log line
//! - `idempotency` / `idempotency_expiry`: key → expiry and answer / (expiry, key), for pruning

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

use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::StoreError;
use super::record::decode;

const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
const STATUS: TableDefinition<&str, &[u8]> = TableDefinition::new("status");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
const FOLDERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("folders");
const CHUNKS: TableDefinition<(&str, &str, u32), &[u8]> = TableDefinition::new("chunks");
const LEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("leases");
const COUNTERS: TableDefinition<(u64, &str), u64> = TableDefinition::new("counters");
const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");
const OUTBOX_MIME: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox_mime");
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const RECEIVERS: TableDefinition<&str, &[u8]> = TableDefinition::new("receivers");
const LOGS: TableDefinition<(&str, u64), &str> = TableDefinition::new("logs");
const CHANGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("changes");
/// Per account: (floor, rows kept).
const CHANGE_FLOORS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("change_heads");
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");
const IDEMPOTENCY_EXPIRY: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("idempotency_expiry");

/// The redb-backed store. Cheap to clone (the database handle is shared).
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    /// Live ingest nodes → heartbeat expiry. In memory: the file belongs to one process,
    /// so nodes of another run can never be alive.
    nodes: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmbeddedStore")
    }
}

/// A redb failure as a store error, counted in `imapapi_store_errors_total`.
fn backend(e: impl std::fmt::Display) -> StoreError {
    metrics::counter!("imapapi_store_errors_total", "backend" => "embedded").increment(1);
    StoreError::Backend(e.to_string())
}

/// Whether `account` is registered, inside a write (so that a write for an account deleted
/// meanwhile cannot bring its data back).
fn account_exists(txn: &WriteTransaction, account: &str) -> Result<bool, StoreError> {
    Ok(txn
        .open_table(ACCOUNTS)
        .map_err(backend)?
        .get(account)
        .map_err(backend)?
        .is_some())
}

fn bump(txn: &WriteTransaction, key: &str) -> Result<u64, StoreError> {
    bump_by(txn, key, 1)
}

/// Add `n` to the counter `key`; its new value, the last of the `n` numbers taken.
fn bump_by(txn: &WriteTransaction, key: &str, n: u64) -> Result<u64, StoreError> {
    let mut meta = txn.open_table(META).map_err(backend)?;
    let next = meta
        .get(key)
        .map_err(backend)?
        .map(|v| v.value())
        .unwrap_or(0)
        .checked_add(n)
        .ok_or_else(|| StoreError::Corrupt(format!("counter {key} overflowed")))?;
    meta.insert(key, next).map_err(backend)?;
    Ok(next)
}

impl EmbeddedStore {
    /// Open (or create) `dir/store.redb`, creating `dir` if needed.
    pub async fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| backend(format!("creating {}: {e}", dir.display())))?;
            let db = Database::create(dir.join("store.redb")).map_err(backend)?;
            // Create every table up front so that read transactions never meet a missing one.
            let txn = db.begin_write().map_err(backend)?;
            txn.open_table(ACCOUNTS).map_err(backend)?;
            txn.open_table(STATUS).map_err(backend)?;
            txn.open_table(META).map_err(backend)?;
            txn.open_table(BLOBS).map_err(backend)?;
            txn.open_table(FOLDERS).map_err(backend)?;
            txn.open_table(CHUNKS).map_err(backend)?;
            txn.open_table(COUNTERS).map_err(backend)?;
            txn.open_table(OUTBOX).map_err(backend)?;
            txn.open_table(OUTBOX_MIME).map_err(backend)?;
            txn.open_table(IDEMPOTENCY).map_err(backend)?;
            txn.open_table(TOKENS).map_err(backend)?;
            txn.open_table(RECEIVERS).map_err(backend)?;
            txn.open_table(LOGS).map_err(backend)?;
            txn.open_table(CHANGES).map_err(backend)?;
            txn.open_table(CHANGE_FLOORS).map_err(backend)?;
            txn.open_table(IDEMPOTENCY_EXPIRY).map_err(backend)?;
            // redb locks the file, so no other process can be using this store: every
            // lease in it belonged to an earlier run of this process (one that crashed, or
            // a node id that changed). Dropping them lets a restart take its accounts back
            // at once instead of waiting out `ingest.leaseTtl`.
            txn.delete_table(LEASES).map_err(backend)?;
            txn.open_table(LEASES).map_err(backend)?;
            txn.commit().map_err(backend)?;
            Ok(EmbeddedStore {
                db: Arc::new(db),
                nodes: Default::default(),
            })
        })
        .await
        .map_err(backend)?
    }

    /// One JSON record of a `&str`-keyed table, if present.
    async fn read_record<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        key: &str,
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let key = key.to_string();
        self.read(move |txn| {
            let t = txn.open_table(table).map_err(backend)?;
            t.get(key.as_str())
                .map_err(backend)?
                .map(|v| decode(what, v.value()))
                .transpose()
        })
        .await
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(backend)?;
            f(&txn)
        })
        .await
        .map_err(backend)?
    }

    /// Run `f` in a write transaction, committed when `f` returns Ok. `durable = false` is
    /// for lease bookkeeping only: a lease lost in a crash is worthless anyway (its holder
    /// died with the process), and not syncing it saves an fsync per renewal. Protocol
    /// logs use it too: the last lines of a debugging aid may go with a crash.
    async fn write<T, F>(&self, durable: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write().map_err(backend)?;
            if !durable {
                txn.set_durability(Durability::None).map_err(backend)?;
            }
            let out = f(&txn)?;
            txn.commit().map_err(backend)?;
            Ok(out)
        })
        .await
        .map_err(backend)?
    }
}
