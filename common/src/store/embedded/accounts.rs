//! Account records in the `accounts` table. Deleting an account also drops, in the same
//! write transaction, everything kept for it by the other concerns.

use async_trait::async_trait;
use redb::ReadableTable;

use super::changes::drop_changes;
use super::folders::{drop_chunks, folder_paths};
use super::logs::drop_log;
use super::{ACCOUNTS, CHUNKS, EmbeddedStore, FOLDERS, LEASES, META, STATUS, backend, bump};
use crate::model::AccountConfig;
use crate::store::record::encode;
use crate::store::{AccountStore, StoreError};

const GENERATION: &str = "generation";

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
            drop_log(txn, id)?;
            drop_changes(txn, id)?;
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
