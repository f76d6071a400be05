//! The changes feed, in the `changes` table ((account, number) → event JSON) with each
//! account's floor and row count in `change_floors`, so that an append knows without
//! counting whether to trim; numbers come from the `changes:seq` counter in `meta`, shared
//! by every account. Trimming removes from the front. A batch of changes is one write
//! transaction: one counter bump, its rows, one trim.

use async_trait::async_trait;
use redb::{ReadableTable, WriteTransaction};

use super::{CHANGE_FLOORS, CHANGES, EmbeddedStore, account_exists, backend, bump_by};
use crate::store::changes::{ChangePage, MAX_CHANGES_PER_READ, StoredChange};
use crate::store::{ChangeStore, StoreError};

/// Drop the history of `account`, inside the caller's transaction (account deletion).
pub(super) fn drop_changes(txn: &WriteTransaction, account: &str) -> Result<(), StoreError> {
    txn.open_table(CHANGES)
        .map_err(backend)?
        .retain_in::<(&str, u64), _>((account, 0)..=(account, u64::MAX), |_, _| false)
        .map_err(backend)?;
    txn.open_table(CHANGE_FLOORS)
        .map_err(backend)?
        .remove(account)
        .map_err(backend)?;
    Ok(())
}

/// The floor and row count of `account` (0, 0 when it has no history).
fn floor_and_count(
    floors: &impl ReadableTable<&'static str, (u64, u64)>,
    account: &str,
) -> Result<(u64, u64), StoreError> {
    Ok(floors
        .get(account)
        .map_err(backend)?
        .map_or((0, 0), |v| v.value()))
}

/// The floor and the current state (the newest number, or the floor without history) of
/// `account`, inside the caller's read transaction.
pub(super) fn read_state(
    txn: &redb::ReadTransaction,
    account: &str,
) -> Result<(u64, u64), StoreError> {
    let (floor, _) = floor_and_count(&txn.open_table(CHANGE_FLOORS).map_err(backend)?, account)?;
    let newest = match txn
        .open_table(CHANGES)
        .map_err(backend)?
        .range::<(&str, u64)>((account, 0)..=(account, u64::MAX))
        .map_err(backend)?
        .next_back()
    {
        Some(row) => Some(row.map_err(backend)?.0.value().1),
        None => None,
    };
    Ok((floor, newest.unwrap_or(floor).max(floor)))
}

/// Count `added` more changes of `account` and keep its newest `max`, raising the floor to
/// the highest number dropped.
fn count_and_trim(
    txn: &WriteTransaction,
    account: &str,
    added: u64,
    max: u64,
) -> Result<(), StoreError> {
    let mut floors = txn.open_table(CHANGE_FLOORS).map_err(backend)?;
    let (mut floor, count) = floor_and_count(&floors, account)?;
    let count = count + added;
    let over = count.saturating_sub(max);
    if over > 0 {
        let mut changes = txn.open_table(CHANGES).map_err(backend)?;
        let mut dropped = Vec::new();
        for row in changes
            .range::<(&str, u64)>((account, 0)..=(account, u64::MAX))
            .map_err(backend)?
            .take(over as usize)
        {
            dropped.push(row.map_err(backend)?.0.value().1);
        }
        for seq in &dropped {
            changes.remove((account, *seq)).map_err(backend)?;
        }
        floor = dropped.last().copied().unwrap_or(floor).max(floor);
    }
    floors
        .insert(account, (floor, count - over))
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ChangeStore for EmbeddedStore {
    async fn append_changes(
        &self,
        account: &str,
        events: Vec<Vec<u8>>,
        max: u64,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        if events.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let account = account.to_string();
        // Not durable: the folder commit that follows each batch of events is, and makes
        // everything before it durable too (see `EmbeddedStore::write`).
        self.write(false, move |txn| {
            let id = account.as_str();
            if !account_exists(txn, id)? {
                return Ok(None);
            }
            let added = events.len() as u64;
            let last = bump_by(txn, "changes:seq", added)?;
            let numbers: Vec<u64> = (last - added + 1..=last).collect();
            let mut table = txn.open_table(CHANGES).map_err(backend)?;
            for (seq, event) in numbers.iter().zip(&events) {
                table
                    .insert((id, *seq), event.as_slice())
                    .map_err(backend)?;
            }
            drop(table);
            count_and_trim(txn, id, added, max.max(1))?;
            Ok(Some(numbers))
        })
        .await
    }

    async fn changes_since(
        &self,
        account: &str,
        since: u64,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let account = account.to_string();
        let limit = limit.min(MAX_CHANGES_PER_READ);
        self.read(move |txn| {
            let id = account.as_str();
            let (floor, current) = read_state(txn, id)?;
            let table = txn.open_table(CHANGES).map_err(backend)?;
            let mut changes = Vec::new();
            let mut has_more = false;
            if since < u64::MAX {
                for row in table
                    .range::<(&str, u64)>((id, since + 1)..=(id, u64::MAX))
                    .map_err(backend)?
                {
                    if changes.len() == limit {
                        has_more = true;
                        break;
                    }
                    let (key, value) = row.map_err(backend)?;
                    changes.push(StoredChange {
                        seq: key.value().1,
                        event: value.value().to_vec(),
                    });
                }
            }
            Ok(ChangePage {
                floor,
                current,
                changes,
                has_more,
            })
        })
        .await
    }
}
