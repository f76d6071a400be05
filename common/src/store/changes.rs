//! The changes feed: a bounded history of each account's events, numbered, so that a
//! consumer that missed webhooks (down, or reading the queue and losing its place) asks
//! for "everything after state N" (`GET /v1/account/:account/changes`) instead of listing
//! every folder again. Its own trait because only the publishers of events and the routes
//! that report or read the state use it.
//!
//! Numbers are gateway-wide and only grow (one counter for every account), so an account
//! deleted and registered again never reuses a number a consumer may hold. Each account
//! keeps its newest `max` changes; its `floor` is the highest number it dropped, below
//! which it cannot say what changed.

use async_trait::async_trait;

use super::StoreError;

/// Changes kept per account.
pub const DEFAULT_MAX_CHANGES: u64 = 10_000;

/// Most changes one read returns.
pub const MAX_CHANGES_PER_READ: usize = 1000;

/// One stored change: its number and the event JSON as published (without its `state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    pub seq: u64,
    pub event: Vec<u8>,
}

/// What a read of the feed found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangePage {
    /// The highest number dropped from this account's history (0: none dropped). Changes
    /// after a state below it cannot be told.
    pub floor: u64,
    /// The account's current state: its newest change's number, else the floor.
    pub current: u64,
    /// The changes after the asked-for state, oldest first, at most the asked-for limit.
    pub changes: Vec<StoredChange>,
    /// Whether more changes follow the last one returned.
    pub has_more: bool,
}

/// The stored changes of every account.
#[async_trait]
pub trait ChangeStore: Send + Sync + 'static {
    /// Append `events` to the history of `account`, in order, under the next gateway-wide
    /// numbers (consecutive within the batch), and keep the newest `max` (at least 1): one
    /// round trip (one script, one transaction) whatever the number of events, so a folder
    /// sync records a batch of changes at the cost of one. The number of each event, in
    /// order, or `None` when the account does not exist (nothing is recorded then: a
    /// session still closing after a deletion must not bring a history back). An empty
    /// batch records nothing and answers an empty list without asking the backend.
    async fn append_changes(
        &self,
        account: &str,
        events: Vec<Vec<u8>>,
        max: u64,
    ) -> Result<Option<Vec<u64>>, StoreError>;

    /// [`ChangeStore::append_changes`] of one event: its number, or `None` when the
    /// account does not exist.
    async fn append_change(
        &self,
        account: &str,
        event: &[u8],
        max: u64,
    ) -> Result<Option<u64>, StoreError> {
        let numbers = self
            .append_changes(account, vec![event.to_vec()], max)
            .await?;
        Ok(numbers.and_then(|n| n.first().copied()))
    }

    /// The changes of `account` numbered above `since`, oldest first, at most `limit`
    /// (capped at [`MAX_CHANGES_PER_READ`]; 0 reads only the floor and current state).
    async fn changes_since(
        &self,
        account: &str,
        since: u64,
        limit: usize,
    ) -> Result<ChangePage, StoreError>;
}
