//! Api access tokens, in the `tokens` table (hash → record JSON).

use async_trait::async_trait;
use redb::ReadableTable;
use uuid::Uuid;

use super::{EmbeddedStore, TOKENS, backend};
use crate::model::TokenRecord;
use crate::store::record::{decode, encode};
use crate::store::{StoreError, TokenStore};

#[async_trait]
impl TokenStore for EmbeddedStore {
    async fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        let json = encode("token", token)?;
        let hash = token.hash.clone();
        self.write(true, move |txn| {
            txn.open_table(TOKENS)
                .map_err(backend)?
                .insert(hash.as_str(), json.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.read_record(TOKENS, hash, "token").await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|txn| {
            let t = txn.open_table(TOKENS).map_err(backend)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                out.push(decode("token", v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_token(&self, id: Uuid) -> Result<bool, StoreError> {
        self.write(true, move |txn| {
            let mut t = txn.open_table(TOKENS).map_err(backend)?;
            let mut hash = None;
            for row in t.iter().map_err(backend)? {
                let (k, v) = row.map_err(backend)?;
                if decode::<TokenRecord>("token", v.value())?.id == id {
                    hash = Some(k.value().to_string());
                    break;
                }
            }
            match hash {
                Some(h) => Ok(t.remove(h.as_str()).map_err(backend)?.is_some()),
                None => Ok(false),
            }
        })
        .await
    }
}
