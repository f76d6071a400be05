//! A store for the caches' tests: it counts the reads dispatch makes (settings and account
//! lookups), fails them on demand, and keeps settings and account ids in memory. It implements
//! only the two concerns the caches take (`SettingsStore`, `AccountStore`); the account
//! operations dispatch never calls answer with an error.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use imapapi_common::model::{AccountConfig, Settings};
use imapapi_common::store::{AccountStore, SettingsStore, StoreError};

/// Counts and optionally fails `get_settings` and `get_account`.
#[derive(Default)]
pub(crate) struct CountingStore {
    pub reads: AtomicUsize,
    pub failing: AtomicBool,
    settings: Mutex<Settings>,
    accounts: Mutex<BTreeSet<String>>,
}

impl CountingStore {
    /// Register `id` with a minimal record (only its existence matters to dispatch).
    pub fn add_account(&self, id: &str) {
        self.accounts.lock().unwrap().insert(id.to_string());
    }

    pub fn remove_account(&self, id: &str) {
        self.accounts.lock().unwrap().remove(id);
    }

    /// Count a read; Err when failing.
    fn read(&self) -> Result<(), StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("down".into()));
        }
        Ok(())
    }
}

fn unused<T>() -> Result<T, StoreError> {
    Err(StoreError::Backend("not used by dispatch".into()))
}

fn record(id: &str) -> AccountConfig {
    AccountConfig {
        account: id.to_string(),
        name: id.to_string(),
        copy: None,
        notify_from: None,
        path: None,
        imap: None,
        smtp: None,
        oauth2: None,
        webhooks: None,
    }
}

#[async_trait]
impl AccountStore for CountingStore {
    async fn put_account(&self, a: &AccountConfig) -> Result<bool, StoreError> {
        Ok(!self.accounts.lock().unwrap().insert(a.account.clone()))
    }
    async fn get_account(&self, id: &str) -> Result<Option<AccountConfig>, StoreError> {
        self.read()?;
        Ok(self
            .accounts
            .lock()
            .unwrap()
            .contains(id)
            .then(|| record(id)))
    }
    async fn list_accounts(&self) -> Result<Vec<String>, StoreError> {
        unused()
    }
    async fn delete_account(&self, _: &str) -> Result<bool, StoreError> {
        unused()
    }
    async fn accounts_generation(&self) -> Result<u64, StoreError> {
        unused()
    }
}

#[async_trait]
impl SettingsStore for CountingStore {
    async fn get_settings(&self) -> Result<Settings, StoreError> {
        self.read()?;
        Ok(self.settings.lock().unwrap().clone())
    }
    async fn put_settings(&self, s: &Settings) -> Result<(), StoreError> {
        *self.settings.lock().unwrap() = s.clone();
        Ok(())
    }
}
