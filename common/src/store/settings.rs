//! The gateway-wide settings. Its own trait because they are one record read on their own
//! by every role (dispatch's settings cache needs nothing else), so that a caller or test
//! double for them deals with two methods, not the whole store.

use async_trait::async_trait;

use super::StoreError;
use crate::model::Settings;

/// The gateway-wide settings record.
#[async_trait]
pub trait SettingsStore: Send + Sync + 'static {
    async fn get_settings(&self) -> Result<Settings, StoreError>;
    async fn put_settings(&self, settings: &Settings) -> Result<(), StoreError>;
}
