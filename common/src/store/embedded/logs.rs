//! Protocol logs, in the `logs` table: (account, sequence number) → line. Sequence numbers
//! grow by one per line and trimming removes from the front, so the oldest and newest keys
//! give the length without counting rows.

use async_trait::async_trait;
use redb::{ReadableTable, Table, WriteTransaction};

use super::{EmbeddedStore, LOGS, account_exists, backend};
use crate::store::{LogStore, StoreError};

/// The first sequence number kept and the next one to write (equal when the log is empty).
fn span(
    logs: &impl ReadableTable<(&'static str, u64), &'static str>,
    account: &str,
) -> Result<(u64, u64), StoreError> {
    let mut rows = logs
        .range::<(&str, u64)>((account, 0)..=(account, u64::MAX))
        .map_err(backend)?;
    let first = match rows.next() {
        Some(row) => row.map_err(backend)?.0.value().1,
        None => return Ok((0, 0)),
    };
    let last = match rows.next_back() {
        Some(row) => row.map_err(backend)?.0.value().1,
        None => first,
    };
    Ok((first, last + 1))
}

/// Remove the lines of `account` numbered below `below`.
fn drop_below(
    logs: &mut Table<(&str, u64), &str>,
    account: &str,
    below: u64,
) -> Result<(), StoreError> {
    logs.retain_in::<(&str, u64), _>((account, 0)..(account, below), |_, _| false)
        .map_err(backend)
}

/// Drop the whole log of `account`, inside the caller's transaction (account deletion).
pub(super) fn drop_log(txn: &WriteTransaction, account: &str) -> Result<(), StoreError> {
    txn.open_table(LOGS)
        .map_err(backend)?
        .retain_in::<(&str, u64), _>((account, 0)..=(account, u64::MAX), |_, _| false)
        .map_err(backend)
}

#[async_trait]
impl LogStore for EmbeddedStore {
    async fn append_log(
        &self,
        account: &str,
        lines: &[String],
        max: u64,
    ) -> Result<bool, StoreError> {
        let account = account.to_string();
        let lines = lines.to_vec();
        // Not durable: see `EmbeddedStore::write`.
        self.write(false, move |txn| {
            let id = account.as_str();
            if !account_exists(txn, id)? {
                return Ok(false);
            }
            let mut logs = txn.open_table(LOGS).map_err(backend)?;
            let (first, mut next) = span(&logs, id)?;
            for line in &lines {
                logs.insert((id, next), line.as_str()).map_err(backend)?;
                next += 1;
            }
            let keep_from = next.saturating_sub(max);
            if keep_from > first {
                drop_below(&mut logs, id, keep_from)?;
            }
            Ok(true)
        })
        .await
    }

    async fn read_log(&self, account: &str, limit: u64) -> Result<Vec<String>, StoreError> {
        let account = account.to_string();
        self.read(move |txn| {
            let logs = txn.open_table(LOGS).map_err(backend)?;
            let id = account.as_str();
            let rows = logs
                .range::<(&str, u64)>((id, 0)..=(id, u64::MAX))
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows
                .rev()
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
            {
                out.push(row.map_err(backend)?.1.value().to_string());
            }
            out.reverse();
            Ok(out)
        })
        .await
    }

    async fn delete_log(&self, account: &str) -> Result<(), StoreError> {
        let account = account.to_string();
        self.write(true, move |txn| drop_log(txn, &account)).await
    }
}
