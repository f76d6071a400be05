//! Usage counters in per-minute buckets, summed over a window by `GET /v1/stats`. Its own
//! trait because its writers (every process, in batches) and its reader (the stats route)
//! need nothing else of the store; unlike the account state, counts from many processes
//! simply add up, so there is no fencing here.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::StoreError;

/// How long buckets are kept: the longest window `GET /v1/stats` accepts (7 days), plus the
/// minute being filled.
pub const COUNTER_RETENTION_MINUTES: u64 = 7 * 24 * 60 + 1;

/// Per-minute usage counters, shared by every process of a deployment.
#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Add each `(name, count)` to the bucket of `minute` (minutes since the Unix epoch).
    /// Buckets older than [`COUNTER_RETENTION_MINUTES`] may be dropped on the way.
    async fn add_counts(&self, minute: u64, counts: &[(String, u64)]) -> Result<(), StoreError>;

    /// The sum of each counter over the buckets `from..=to` (minutes since the epoch);
    /// counters never added in that window are absent.
    async fn sum_counts(&self, from: u64, to: u64) -> Result<BTreeMap<String, u64>, StoreError>;
}
