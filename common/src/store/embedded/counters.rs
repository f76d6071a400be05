//! Usage counters: one row per (minute, counter name) in the `counters` table. Each batch
//! also drops the rows that fell out of the retention window, so the table stays bounded
//! without a sweeper of its own.

use std::collections::BTreeMap;

use async_trait::async_trait;
use redb::ReadableTable;

use super::{COUNTERS, EmbeddedStore, backend};
use crate::store::counters::COUNTER_RETENTION_MINUTES;
use crate::store::{CounterStore, StoreError};

#[async_trait]
impl CounterStore for EmbeddedStore {
    async fn add_counts(&self, minute: u64, counts: &[(String, u64)]) -> Result<(), StoreError> {
        let counts = counts.to_vec();
        // Not synced: a crash loses at most the last batch of counts, which is cheaper
        // than an fsync every few seconds for figures that are statistics anyway.
        self.write(false, move |txn| {
            let mut table = txn.open_table(COUNTERS).map_err(backend)?;
            for (name, add) in &counts {
                let key = (minute, name.as_str());
                let now = table.get(key).map_err(backend)?.map(|v| v.value());
                let sum = now.unwrap_or(0).saturating_add(*add);
                table.insert(key, sum).map_err(backend)?;
            }
            let cutoff = minute.saturating_sub(COUNTER_RETENTION_MINUTES);
            if cutoff > 0 {
                table
                    .retain_in((0, "")..(cutoff, ""), |_, _| false)
                    .map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn sum_counts(&self, from: u64, to: u64) -> Result<BTreeMap<String, u64>, StoreError> {
        if from > to {
            return Ok(BTreeMap::new());
        }
        self.read(move |txn| {
            let table = txn.open_table(COUNTERS).map_err(backend)?;
            let mut sums = BTreeMap::new();
            let end = to.checked_add(1).map(|m| (m, ""));
            let rows = match end {
                Some(end) => table.range((from, "")..end),
                None => table.range((from, "")..),
            }
            .map_err(backend)?;
            for row in rows {
                let (key, value) = row.map_err(backend)?;
                let (_, name) = key.value();
                *sums.entry(name.to_string()).or_insert(0u64) += value.value();
            }
            Ok(sums)
        })
        .await
    }
}
