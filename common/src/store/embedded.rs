//! The embedded `Store`: one crash-safe redb file (`<data_dir>/store.redb`), so that a single
//! machine runs the whole gateway with nothing else to install.
//!
//! redb is a blocking API; every operation runs on tokio's blocking pool so that async tasks
//! never stall on disk I/O. redb serializes write transactions, which is what makes the lease
//! checks of fenced writes atomic with the writes themselves.
//!
//! Tables:
//! - `accounts`: account id → account JSON
//! - `status`: account id → status JSON
//! - `meta`: `generation` / `mailbox_seq` → u64 counters
//! - `blobs`: `settings` → settings JSON
//! - `folders`: (account, path) → folder state JSON
//! - `chunks`: (account, path, chunk number) → index chunk bytes
//! - `leases`: account id → 8 bytes of expiry (unix ms, big endian) then the owner

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction,
};

use super::record::{decode, encode};
use super::{
    AccountStore, FolderStore, IndexChunk, IndexChunkUpdate, LeaseStore, NodeStore, SettingsStore,
    StatusStore, StoreError,
};
use crate::model::{AccountConfig, AccountStatus, FolderState, Settings};

const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
const STATUS: TableDefinition<&str, &[u8]> = TableDefinition::new("status");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
const FOLDERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("folders");
const CHUNKS: TableDefinition<(&str, &str, u32), &[u8]> = TableDefinition::new("chunks");
const LEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("leases");

const GENERATION: &str = "generation";
const MAILBOX_SEQ: &str = "mailbox_seq";
const SETTINGS: &str = "settings";

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

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn encode_lease(owner: &str, expires_ms: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + owner.len());
    v.extend_from_slice(&expires_ms.to_be_bytes());
    v.extend_from_slice(owner.as_bytes());
    v
}

/// The owner of a live lease, or `None` when there is none or it has expired.
fn live_owner(bytes: &[u8], now: u64) -> Result<Option<String>, StoreError> {
    let (exp, owner) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| StoreError::Corrupt("lease record too short".into()))?;
    if u64::from_be_bytes(*exp) <= now {
        return Ok(None);
    }
    String::from_utf8(owner.to_vec())
        .map(Some)
        .map_err(|_| StoreError::Corrupt("lease owner is not UTF-8".into()))
}

fn holds_lease(txn: &WriteTransaction, account: &str, owner: &str) -> Result<bool, StoreError> {
    let leases = txn.open_table(LEASES).map_err(backend)?;
    let current = match leases.get(account).map_err(backend)? {
        Some(v) => live_owner(v.value(), now_ms())?,
        None => None,
    };
    Ok(current.as_deref() == Some(owner))
}

fn bump(txn: &WriteTransaction, key: &str) -> Result<u64, StoreError> {
    let mut meta = txn.open_table(META).map_err(backend)?;
    let next = meta
        .get(key)
        .map_err(backend)?
        .map(|v| v.value())
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt(format!("counter {key} overflowed")))?;
    meta.insert(key, next).map_err(backend)?;
    Ok(next)
}

/// Remove every chunk of one folder.
fn drop_chunks(
    chunks: &mut Table<(&str, &str, u32), &[u8]>,
    account: &str,
    path: &str,
) -> Result<(), StoreError> {
    chunks
        .retain_in::<(&str, &str, u32), _>(
            (account, path, 0)..=(account, path, u32::MAX),
            |_, _| false,
        )
        .map_err(backend)
}

/// Every folder path stored for an account.
fn folder_paths(
    folders: &Table<(&str, &str), &[u8]>,
    account: &str,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for item in folders
        .range::<(&str, &str)>((account, "")..)
        .map_err(backend)?
    {
        let (k, _) = item.map_err(backend)?;
        let (acc, path) = k.value();
        if acc != account {
            break;
        }
        out.push(path.to_string());
    }
    Ok(out)
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
    /// died with the process), and not syncing it saves an fsync per renewal.
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

#[async_trait]
impl AccountStore for EmbeddedStore {
    async fn put_account(&self, account: &AccountConfig) -> Result<bool, StoreError> {
        let id = account.account.clone();
        let json = encode("account", account)?;
        self.write(true, move |txn| {
            let existed = {
                let mut t = txn.open_table(ACCOUNTS).map_err(backend)?;
                t.insert(id.as_str(), json.as_slice())
                    .map_err(backend)?
                    .is_some()
            };
            bump(txn, GENERATION)?;
            Ok(existed)
        })
        .await
    }

    async fn get_account(&self, id: &str) -> Result<Option<AccountConfig>, StoreError> {
        self.read_record(ACCOUNTS, id, "account").await
    }

    async fn list_accounts(&self) -> Result<Vec<String>, StoreError> {
        self.read(|txn| {
            let t = txn.open_table(ACCOUNTS).map_err(backend)?;
            let mut out = Vec::new();
            for item in t.iter().map_err(backend)? {
                let (k, _) = item.map_err(backend)?;
                out.push(k.value().to_string());
            }
            Ok(out)
        })
        .await
    }

    async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(true, move |txn| {
            let id = id.as_str();
            let existed = txn
                .open_table(ACCOUNTS)
                .map_err(backend)?
                .remove(id)
                .map_err(backend)?
                .is_some();
            txn.open_table(STATUS)
                .map_err(backend)?
                .remove(id)
                .map_err(backend)?;
            txn.open_table(LEASES)
                .map_err(backend)?
                .remove(id)
                .map_err(backend)?;
            let mut folders = txn.open_table(FOLDERS).map_err(backend)?;
            let mut chunks = txn.open_table(CHUNKS).map_err(backend)?;
            for path in folder_paths(&folders, id)? {
                drop_chunks(&mut chunks, id, &path)?;
                folders.remove((id, path.as_str())).map_err(backend)?;
            }
            if existed {
                bump(txn, GENERATION)?;
            }
            Ok(existed)
        })
        .await
    }

    async fn accounts_generation(&self) -> Result<u64, StoreError> {
        self.read(|txn| {
            let t = txn.open_table(META).map_err(backend)?;
            Ok(t.get(GENERATION).map_err(backend)?.map_or(0, |v| v.value()))
        })
        .await
    }
}

#[async_trait]
impl StatusStore for EmbeddedStore {
    async fn set_status(
        &self,
        account: &str,
        owner: &str,
        status: &AccountStatus,
    ) -> Result<bool, StoreError> {
        let (account, owner) = (account.to_string(), owner.to_string());
        let json = encode("status", status)?;
        self.write(true, move |txn| {
            if !holds_lease(txn, &account, &owner)? {
                return Ok(false);
            }
            txn.open_table(STATUS)
                .map_err(backend)?
                .insert(account.as_str(), json.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn get_status(&self, account: &str) -> Result<Option<AccountStatus>, StoreError> {
        self.read_record(STATUS, account, "status").await
    }
}

#[async_trait]
impl SettingsStore for EmbeddedStore {
    async fn get_settings(&self) -> Result<Settings, StoreError> {
        Ok(self
            .read_record(BLOBS, SETTINGS, "settings")
            .await?
            .unwrap_or_default())
    }

    async fn put_settings(&self, settings: &Settings) -> Result<(), StoreError> {
        let json = encode("settings", settings)?;
        self.write(true, move |txn| {
            txn.open_table(BLOBS)
                .map_err(backend)?
                .insert(SETTINGS, json.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl FolderStore for EmbeddedStore {
    async fn allocate_mailbox_id(&self) -> Result<u32, StoreError> {
        // Durable: an id handed out and then forgotten in a crash could be handed out again.
        self.write(true, |txn| {
            let n = bump(txn, MAILBOX_SEQ)?;
            u32::try_from(n).map_err(|_| StoreError::Corrupt("mailbox ids exhausted".into()))
        })
        .await
    }

    async fn list_folders(&self, account: &str) -> Result<Vec<FolderState>, StoreError> {
        let account = account.to_string();
        self.read(move |txn| {
            let t = txn.open_table(FOLDERS).map_err(backend)?;
            let mut out = Vec::new();
            for item in t
                .range::<(&str, &str)>((account.as_str(), "")..)
                .map_err(backend)?
            {
                let (k, v) = item.map_err(backend)?;
                if k.value().0 != account {
                    break;
                }
                out.push(decode("folder", v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn load_index(&self, account: &str, path: &str) -> Result<Vec<IndexChunk>, StoreError> {
        let (account, path) = (account.to_string(), path.to_string());
        self.read(move |txn| {
            let t = txn.open_table(CHUNKS).map_err(backend)?;
            let (a, p) = (account.as_str(), path.as_str());
            let mut out = Vec::new();
            for item in t
                .range::<(&str, &str, u32)>((a, p, 0)..=(a, p, u32::MAX))
                .map_err(backend)?
            {
                let (k, v) = item.map_err(backend)?;
                out.push(IndexChunk {
                    chunk: k.value().2,
                    data: v.value().to_vec(),
                });
            }
            Ok(out)
        })
        .await
    }

    async fn commit_folder(
        &self,
        account: &str,
        owner: &str,
        state: &FolderState,
        reset: bool,
        chunks: &[IndexChunkUpdate],
    ) -> Result<bool, StoreError> {
        let (account, owner) = (account.to_string(), owner.to_string());
        let path = state.path.clone();
        let json = encode("folder", state)?;
        let updates = chunks.to_vec();
        self.write(true, move |txn| {
            if !holds_lease(txn, &account, &owner)? {
                return Ok(false);
            }
            let (a, p) = (account.as_str(), path.as_str());
            txn.open_table(FOLDERS)
                .map_err(backend)?
                .insert((a, p), json.as_slice())
                .map_err(backend)?;
            let mut t = txn.open_table(CHUNKS).map_err(backend)?;
            if reset {
                drop_chunks(&mut t, a, p)?;
            }
            for u in &updates {
                match &u.data {
                    Some(d) => t.insert((a, p, u.chunk), d.as_slice()).map_err(backend)?,
                    None => t.remove((a, p, u.chunk)).map_err(backend)?,
                };
            }
            Ok(true)
        })
        .await
    }

    async fn delete_folder(
        &self,
        account: &str,
        owner: &str,
        path: &str,
    ) -> Result<bool, StoreError> {
        let (account, owner, path) = (account.to_string(), owner.to_string(), path.to_string());
        self.write(true, move |txn| {
            if !holds_lease(txn, &account, &owner)? {
                return Ok(false);
            }
            let (a, p) = (account.as_str(), path.as_str());
            txn.open_table(FOLDERS)
                .map_err(backend)?
                .remove((a, p))
                .map_err(backend)?;
            drop_chunks(&mut txn.open_table(CHUNKS).map_err(backend)?, a, p)?;
            Ok(true)
        })
        .await
    }
}

#[async_trait]
impl LeaseStore for EmbeddedStore {
    async fn acquire_lease(
        &self,
        account: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (account, owner) = (account.to_string(), owner.to_string());
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.write(false, move |txn| {
            let now = now_ms();
            let mut t = txn.open_table(LEASES).map_err(backend)?;
            let current = match t.get(account.as_str()).map_err(backend)? {
                Some(v) => live_owner(v.value(), now)?,
                None => None,
            };
            if current.as_deref().is_some_and(|c| c != owner) {
                return Ok(false);
            }
            let record = encode_lease(&owner, now.saturating_add(ttl_ms));
            t.insert(account.as_str(), record.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn release_lease(&self, account: &str, owner: &str) -> Result<(), StoreError> {
        let (account, owner) = (account.to_string(), owner.to_string());
        self.write(false, move |txn| {
            let mut t = txn.open_table(LEASES).map_err(backend)?;
            let current = match t.get(account.as_str()).map_err(backend)? {
                Some(v) => live_owner(v.value(), now_ms())?,
                None => None,
            };
            if current.as_deref() == Some(owner.as_str()) {
                t.remove(account.as_str()).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn lease_owner(&self, account: &str) -> Result<Option<String>, StoreError> {
        let account = account.to_string();
        self.read(move |txn| {
            let t = txn.open_table(LEASES).map_err(backend)?;
            match t.get(account.as_str()).map_err(backend)? {
                Some(v) => live_owner(v.value(), now_ms()),
                None => Ok(None),
            }
        })
        .await
    }
}

#[async_trait]
impl NodeStore for EmbeddedStore {
    async fn heartbeat_node(&self, node: &str, ttl: Duration) -> Result<Vec<String>, StoreError> {
        let now = std::time::Instant::now();
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes.insert(node.to_string(), now + ttl);
        nodes.retain(|_, expiry| *expiry >= now);
        let mut live: Vec<String> = nodes.keys().cloned().collect();
        live.sort();
        Ok(live)
    }

    async fn remove_node(&self, node: &str) -> Result<(), StoreError> {
        self.nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(node);
        Ok(())
    }

    async fn live_nodes(&self) -> Result<Vec<String>, StoreError> {
        let now = std::time::Instant::now();
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let mut live: Vec<String> = nodes
            .iter()
            .filter(|(_, expiry)| **expiry >= now)
            .map(|(n, _)| n.clone())
            .collect();
        live.sort();
        Ok(live)
    }
}
