//! The settings record (`P:settings`).

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, backend};
use crate::model::Settings;
use crate::store::record::{decode, encode};
use crate::store::{SettingsStore, StoreError};

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
