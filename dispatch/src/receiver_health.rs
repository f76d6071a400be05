//! Whether the webhook receiver is failing, reported once per change rather than once per
//! attempt: during an outage every event is retried for days, and a warning per attempt
//! would bury the one line an operator needs ("failing since …", then "recovered after …").
//! Also the gauge `imapapi_webhook_receiver_up` (1 or 0) for alerting.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failed deliveries that make a receiver count as failing: one refusal is a
/// hiccup, several in a row an outage.
pub const FAILING_AFTER: u32 = 3;

/// What a recorded outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The receiver just started failing.
    Failing,
    /// It answered again after failing for this long.
    Recovered(Duration),
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    failing_since: Option<Instant>,
}

/// The receiver's health, shared by the worker's concurrent deliveries.
#[derive(Debug, Default)]
pub struct ReceiverHealth {
    state: Mutex<State>,
}

impl ReceiverHealth {
    /// Records one delivery's outcome; returns the change it made, if any.
    pub fn record(&self, delivered: bool) -> Option<Change> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if delivered {
            state.consecutive_failures = 0;
            return state
                .failing_since
                .take()
                .map(|since| Change::Recovered(since.elapsed()));
        }
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        if state.consecutive_failures >= FAILING_AFTER && state.failing_since.is_none() {
            state.failing_since = Some(Instant::now());
            return Some(Change::Failing);
        }
        None
    }

    /// Records an outcome and reports a change: one log line and the gauge.
    pub fn report(&self, delivered: bool, target: &str, error: Option<&str>) {
        match self.record(delivered) {
            Some(Change::Failing) => {
                metrics::gauge!("imapapi_webhook_receiver_up").set(0.0);
                tracing::warn!(%target, error = error.unwrap_or(""), failures = FAILING_AFTER,
                    "webhook receiver failing; events are retried until it answers");
            }
            Some(Change::Recovered(after)) => {
                metrics::gauge!("imapapi_webhook_receiver_up").set(1.0);
                tracing::info!(%target, down_s = after.as_secs(), "webhook receiver answers again");
            }
            None if delivered => metrics::gauge!("imapapi_webhook_receiver_up").set(1.0),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_reported_once_each() {
        let health = ReceiverHealth::default();
        assert_eq!(health.record(false), None);
        assert_eq!(health.record(true), None, "a hiccup is no outage");
        for _ in 1..FAILING_AFTER {
            assert_eq!(health.record(false), None);
        }
        assert_eq!(health.record(false), Some(Change::Failing));
        for _ in 0..10 {
            assert_eq!(health.record(false), None, "no line per attempt");
        }
        assert!(matches!(health.record(true), Some(Change::Recovered(_))));
        assert_eq!(health.record(true), None);
    }
}
