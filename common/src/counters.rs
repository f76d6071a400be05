//! Usage counters for `GET /v1/stats`: events published, webhooks delivered or failed, and
//! api calls answered, over a window of up to 7 days, across every process of a deployment.
//!
//! Each process counts in memory ([`UsageCounters::add`] is a short lock and an integer
//! add) and a background task adds the counts to the store's per-minute buckets every few
//! seconds, so the hot paths never wait on the store and the store sees one write per
//! process per interval whatever the traffic. The pending counts are bounded by the number
//! of [`Counter`]s, and counts that fail to reach the store are kept for the next flush.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::model::EventKind;
use crate::store::{CounterStore, StoreError};

/// How often a process adds its counts to the store.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);

/// One thing that is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// An event was published on the events queue.
    Event(EventKind),
    /// A webhook was answered with a 2xx.
    WebhookSuccess,
    /// A webhook attempt failed (it may be retried).
    WebhookFail,
    /// An api call was answered with a status below 400.
    ApiCallSuccess,
    /// An api call was answered with an error status.
    ApiCallFail,
}

impl Counter {
    /// Every counter, in the order the stats route lists them.
    pub fn all() -> impl Iterator<Item = Counter> {
        EventKind::ALL.into_iter().map(Counter::Event).chain([
            Counter::WebhookSuccess,
            Counter::WebhookFail,
            Counter::ApiCallSuccess,
            Counter::ApiCallFail,
        ])
    }

    /// The counter's name in the store and in `GET /v1/stats` (`events:messageNew`,
    /// `webhooks:success`, …).
    pub fn name(self) -> String {
        match self {
            Counter::Event(kind) => format!("events:{}", kind.name()),
            Counter::WebhookSuccess => "webhooks:success".into(),
            Counter::WebhookFail => "webhooks:fail".into(),
            Counter::ApiCallSuccess => "apiCall:success".into(),
            Counter::ApiCallFail => "apiCall:fail".into(),
        }
    }
}

/// The minute (since the Unix epoch) that `at` falls in: the bucket its counts go to.
pub fn minute_of(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 60
}

/// The counts of one process not yet in the store. Cheap to clone; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct UsageCounters {
    pending: Arc<Mutex<HashMap<Counter, u64>>>,
}

impl UsageCounters {
    /// Count one occurrence of `counter`.
    pub fn add(&self, counter: Counter) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *pending.entry(counter).or_insert(0) += 1;
    }

    /// Take every pending count, leaving none.
    fn take(&self) -> HashMap<Counter, u64> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Put counts back that could not be stored, so the next flush carries them.
    fn restore(&self, counts: HashMap<Counter, u64>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (counter, n) in counts {
            *pending.entry(counter).or_insert(0) += n;
        }
    }

    /// Add the pending counts to the store's bucket of the current minute. On failure the
    /// counts stay pending and the error is returned.
    pub async fn flush(&self, store: &dyn CounterStore) -> Result<(), StoreError> {
        let counts = self.take();
        if counts.is_empty() {
            return Ok(());
        }
        let named: Vec<(String, u64)> = counts.iter().map(|(c, n)| (c.name(), *n)).collect();
        match store.add_counts(minute_of(SystemTime::now()), &named).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.restore(counts);
                Err(e)
            }
        }
    }

    /// Flush every [`FLUSH_INTERVAL`] until `shutdown`, then once more so a clean stop
    /// loses nothing.
    pub async fn run_flusher(self, store: Arc<dyn CounterStore>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            if let Err(error) = self.flush(store.as_ref()).await {
                tracing::warn!(%error, "usage counters not stored; keeping them for the next try");
            }
        }
        if let Err(error) = self.flush(store.as_ref()).await {
            tracing::warn!(%error, "usage counters lost at shutdown");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_original() {
        assert_eq!(
            Counter::Event(EventKind::MessageNew).name(),
            "events:messageNew"
        );
        assert_eq!(Counter::WebhookFail.name(), "webhooks:fail");
        assert_eq!(Counter::all().count(), EventKind::ALL.len() + 4);
    }

    #[test]
    fn restored_counts_add_to_new_ones() {
        let counters = UsageCounters::default();
        counters.add(Counter::ApiCallSuccess);
        counters.add(Counter::ApiCallSuccess);
        let taken = counters.take();
        counters.add(Counter::ApiCallSuccess);
        counters.restore(taken);
        assert_eq!(counters.take()[&Counter::ApiCallSuccess], 3);
        assert!(counters.take().is_empty());
    }

    #[test]
    fn minutes_are_whole_minutes_since_the_epoch() {
        let at = UNIX_EPOCH + Duration::from_secs(3 * 60 + 59);
        assert_eq!(minute_of(at), 3);
    }
}
