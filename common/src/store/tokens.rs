//! Access tokens of the REST api. Its own trait because only the api's auth filter and
//! the token routes use it. Records are keyed by the token's hash, which is what a request
//! brings; listing and deleting go by the public id, and there are few tokens.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use crate::model::TokenRecord;

/// The stored access tokens.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Store a new token record (keyed by its hash).
    async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    /// The record whose hash is `hash`, expired or not.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Every record, in no particular order.
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Delete the record with this id; whether there was one.
    async fn delete_token(&self, id: Uuid) -> Result<bool, StoreError>;
}
