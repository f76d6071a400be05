//! Folder states (`folders`) and index chunks (`chunks`), keyed by account and path so that
//! one range covers a folder or an account; fenced writes check the lease in their own
//! transaction.

use async_trait::async_trait;
use redb::{ReadableTable, Table};

use super::leases::holds_lease;
use super::{CHUNKS, EmbeddedStore, FOLDERS, backend, bump};
use crate::model::FolderState;
use crate::store::record::{decode, encode};
use crate::store::{FolderStore, IndexChunk, IndexChunkUpdate, StoreError};

const MAILBOX_SEQ: &str = "mailbox_seq";

/// Remove every chunk of one folder.
pub(super) fn drop_chunks(
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
pub(super) fn folder_paths(
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
