//! The settings record, kept under one key of the `blobs` table.

use async_trait::async_trait;

use super::{BLOBS, EmbeddedStore, backend};
use crate::model::Settings;
use crate::store::record::encode;
use crate::store::{SettingsStore, StoreError};

const SETTINGS: &str = "settings";

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
