//! Per-folder sync state and its uid→flags index. Its own trait because these are the
//! operations folder sync uses together (and almost nothing else does), and because its
//! writes carry the store's main contract: they are fenced by the ingest lease, checked in
//! the same atomic step as the write.

use async_trait::async_trait;

use super::StoreError;
use crate::model::FolderState;

/// One chunk of a folder's uid→flags index, as opaque bytes. The index codec lives in
/// ingest; the store only keeps chunks keyed by chunk number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChunk {
    pub chunk: u32,
    pub data: Vec<u8>,
}

/// A change to one chunk: new bytes, or `None` to remove the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexChunkUpdate {
    pub chunk: u32,
    pub data: Option<Vec<u8>>,
}

/// Folder states, their index chunks, and the mailbox ids given to folders.
#[async_trait]
pub trait FolderStore: Send + Sync + 'static {
    /// A new mailbox id: gateway-wide unique, never handed out twice, never 0.
    async fn allocate_mailbox_id(&self) -> Result<u32, StoreError>;
    /// Stored state of every folder of an account.
    async fn list_folders(&self, account: &str) -> Result<Vec<FolderState>, StoreError>;
    /// The index chunks of one folder, in chunk order.
    async fn load_index(&self, account: &str, path: &str) -> Result<Vec<IndexChunk>, StoreError>;
    /// Atomically write a folder's state and apply index chunk updates, in a constant
    /// number of round trips whatever the number of chunks. With `reset`, every existing
    /// chunk of the folder is dropped first (UIDVALIDITY changed). Refused (false) unless
    /// `owner` holds the account's lease.
    async fn commit_folder(
        &self,
        account: &str,
        owner: &str,
        state: &FolderState,
        reset: bool,
        chunks: &[IndexChunkUpdate],
    ) -> Result<bool, StoreError>;
    /// Remove a folder's state and index; refused (false) unless `owner` holds the lease.
    async fn delete_folder(
        &self,
        account: &str,
        owner: &str,
        path: &str,
    ) -> Result<bool, StoreError>;
}
