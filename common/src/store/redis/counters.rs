//! Usage counters: a hash per minute, `P:counters:<minute>` (counter name → count), each
//! expiring at the end of its retention window so Redis drops old buckets itself.
//! A batch is one pipelined round trip; a sum reads every bucket of the window in one
//! pipeline too.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{RedisStore, backend};
use crate::store::counters::COUNTER_RETENTION_MINUTES;
use crate::store::{CounterStore, StoreError};

/// Buckets read per pipeline: a 7-day window is ~10,000 buckets, most of them empty.
const BUCKETS_PER_PIPELINE: u64 = 1_440;

impl RedisStore {
    fn counter_bucket(&self, minute: u64) -> String {
        self.global(&format!("counters:{minute}"))
    }
}

#[async_trait]
impl CounterStore for RedisStore {
    async fn add_counts(&self, minute: u64, counts: &[(String, u64)]) -> Result<(), StoreError> {
        if counts.is_empty() {
            return Ok(());
        }
        let key = self.counter_bucket(minute);
        let mut pipe = redis::pipe();
        for (name, add) in counts {
            pipe.hincr(&key, name, *add).ignore();
        }
        // Expiry counts from the bucket's own minute, so a bucket is gone at the same time
        // whichever process wrote to it last.
        let expires = minute
            .saturating_add(COUNTER_RETENTION_MINUTES)
            .saturating_mul(60);
        pipe.expire_at(&key, i64::try_from(expires).unwrap_or(i64::MAX))
            .ignore();
        pipe.query_async::<()>(&mut self.con.clone())
            .await
            .map_err(backend)
    }

    async fn sum_counts(&self, from: u64, to: u64) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut sums = BTreeMap::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(BUCKETS_PER_PIPELINE - 1));
            let mut pipe = redis::pipe();
            for minute in start..=end {
                pipe.hgetall(self.counter_bucket(minute));
            }
            let buckets: Vec<BTreeMap<String, u64>> = pipe
                .query_async(&mut self.con.clone())
                .await
                .map_err(backend)?;
            for bucket in buckets {
                for (name, count) in bucket {
                    *sums.entry(name).or_insert(0) += count;
                }
            }
            match end.checked_add(1) {
                Some(next) => start = next,
                None => break,
            }
        }
        Ok(sums)
    }
}
