//! Api access tokens (`P:tokens`: hash → record JSON).

use async_trait::async_trait;
use redis::AsyncCommands;
use uuid::Uuid;

use super::{RedisStore, backend};
use crate::model::TokenRecord;
use crate::store::record::{decode, encode};
use crate::store::{StoreError, TokenStore};

#[async_trait]
impl TokenStore for RedisStore {
    async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let json = encode("token", token)?;
        let () = self
            .con
            .clone()
            .hset(self.global("tokens"), &token.hash, json)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let v: Option<Vec<u8>> = self
            .con
            .clone()
            .hget(self.global("tokens"), hash)
            .await
            .map_err(backend)?;
        v.map(|b| decode("token", &b)).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let all: Vec<Vec<u8>> = self
            .con
            .clone()
            .hvals(self.global("tokens"))
            .await
            .map_err(backend)?;
        all.iter().map(|b| decode("token", b)).collect()
    }

    async fn delete_token(&self, id: Uuid) -> Result<bool, StoreError> {
        let Some(token) = self.list_tokens().await?.into_iter().find(|t| t.id == id) else {
            return Ok(false);
        };
        let removed: u32 = self
            .con
            .clone()
            .hdel(self.global("tokens"), &token.hash)
            .await
            .map_err(backend)?;
        Ok(removed > 0)
    }
}
