//! The health of each webhook receiver (by origin: scheme, host and port), and the circuit
//! breaker that follows from it.
//!
//! - Reported once per change rather than once per attempt: during an outage every event
//!   is retried for days, and a warning per attempt would bury the one line an operator
//!   needs ("failing since …", then "answers again after …"). The gauge
//!   `imapapi_webhook_receiver_up{target}` (1 or 0) is for alerting.
//! - A receiver that keeps failing is left alone for a while (the breaker opens): its
//!   events go back to the queue with their backoff without a request, so a dead receiver
//!   neither gets flooded when it comes back nor holds dispatch workers waiting on its
//!   timeouts, and other receivers keep flowing. After the pause one event probes it;
//!   the pause doubles after each failed probe, up to `webhooks.breakerMaxPause`.
//!
//! Only receivers that are failing are kept, so the map stays as small as the outage.
//! The changes are also written to the store by the worker, for `GET /v1/stats`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Consecutive failed deliveries that make a receiver count as failing: one refusal is a
/// hiccup, several in a row an outage.
pub const FAILING_AFTER: u32 = 3;
/// The first pause of a failing receiver (shorter when the longest pause is).
pub const FIRST_PAUSE: Duration = Duration::from_secs(5);

/// What a recorded outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The receiver just started failing.
    Failing,
    /// It answered again after failing for this long.
    Recovered(Duration),
}

/// Whether an event may be posted to its receiver now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Healthy, or failing only a little: post.
    Post,
    /// The breaker is open and its pause is over: this one post finds out.
    Probe,
    /// The breaker is open: hand the event back without posting.
    Hold,
}

#[derive(Debug)]
struct State {
    consecutive_failures: u32,
    failing_since: Option<Instant>,
    /// When the next probe may go; `None` while the breaker is closed.
    paused_until: Option<Instant>,
    pause: Duration,
    probing: bool,
}

impl State {
    fn new(pause: Duration) -> Self {
        State {
            consecutive_failures: 0,
            failing_since: None,
            paused_until: None,
            pause,
            probing: false,
        }
    }
}

/// The receivers' health, shared by the worker's concurrent deliveries.
#[derive(Debug)]
pub struct ReceiverHealth {
    receivers: Mutex<HashMap<String, State>>,
    first_pause: Duration,
    max_pause: Duration,
}

impl ReceiverHealth {
    /// Pauses from [`FIRST_PAUSE`] (or `max_pause` when shorter) up to `max_pause`.
    pub fn new(max_pause: Duration) -> Self {
        ReceiverHealth {
            receivers: Mutex::default(),
            first_pause: FIRST_PAUSE.min(max_pause),
            max_pause,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.receivers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether to post to `target` now.
    pub fn admit(&self, target: &str) -> Admission {
        self.admit_at(target, Instant::now())
    }

    fn admit_at(&self, target: &str, now: Instant) -> Admission {
        let mut receivers = self.lock();
        let Some(state) = receivers.get_mut(target) else {
            return Admission::Post;
        };
        match state.paused_until {
            None => Admission::Post,
            Some(until) if now >= until && !state.probing => {
                state.probing = true;
                Admission::Probe
            }
            Some(_) => Admission::Hold,
        }
    }

    /// Records one delivery's outcome; returns the change it made, if any.
    pub fn record(&self, target: &str, delivered: bool) -> Option<Change> {
        self.record_at(target, delivered, Instant::now())
    }

    fn record_at(&self, target: &str, delivered: bool, now: Instant) -> Option<Change> {
        let mut receivers = self.lock();
        if delivered {
            let state = receivers.remove(target)?;
            return state
                .failing_since
                .map(|since| Change::Recovered(now.duration_since(since)));
        }
        let state = receivers
            .entry(target.to_string())
            .or_insert_with(|| State::new(self.first_pause));
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        if state.probing {
            state.probing = false;
            state.pause = (state.pause * 2).min(self.max_pause);
            state.paused_until = Some(now + state.pause);
            return None;
        }
        if state.consecutive_failures >= FAILING_AFTER && state.failing_since.is_none() {
            state.failing_since = Some(now);
            state.paused_until = Some(now + state.pause);
            return Some(Change::Failing);
        }
        None
    }

    /// A probe that ended without an answer either way (the event could not be read, the
    /// process is stopping): let the next event probe instead.
    pub fn probe_abandoned(&self, target: &str) {
        if let Some(state) = self.lock().get_mut(target) {
            state.probing = false;
        }
    }

    /// Records an outcome and reports a change: one log line and the gauge. The change is
    /// returned for the caller to record where `GET /v1/stats` sees it.
    pub fn report(&self, delivered: bool, target: &str, error: Option<&str>) -> Option<Change> {
        let gauge = |up: f64| {
            metrics::gauge!("imapapi_webhook_receiver_up", "target" => target.to_string()).set(up)
        };
        let change = self.record(target, delivered);
        match change {
            Some(Change::Failing) => {
                gauge(0.0);
                tracing::warn!(%target, error = error.unwrap_or(""), failures = FAILING_AFTER,
                    pause_ms = self.first_pause.as_millis() as u64,
                    "webhook receiver failing; its events are held back and retried until it answers");
            }
            Some(Change::Recovered(after)) => {
                gauge(1.0);
                tracing::info!(%target, down_s = after.as_secs(), "webhook receiver answers again");
            }
            None if delivered => gauge(1.0),
            None => {}
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "http://a:1";
    const B: &str = "http://b:1";
    const MAX_PAUSE: Duration = Duration::from_secs(300);

    #[test]
    fn changes_are_reported_once_each() {
        let health = ReceiverHealth::new(MAX_PAUSE);
        assert_eq!(health.record(A, false), None);
        assert_eq!(health.record(A, true), None, "a hiccup is no outage");
        for _ in 1..FAILING_AFTER {
            assert_eq!(health.record(A, false), None);
        }
        assert_eq!(health.record(A, false), Some(Change::Failing));
        for _ in 0..10 {
            assert_eq!(health.record(A, false), None, "no line per attempt");
        }
        assert!(matches!(health.record(A, true), Some(Change::Recovered(_))));
        assert_eq!(health.record(A, true), None);
    }

    #[test]
    fn the_breaker_holds_probes_and_closes() {
        let health = ReceiverHealth::new(MAX_PAUSE);
        let t0 = Instant::now();
        for _ in 0..FAILING_AFTER {
            assert_eq!(health.admit_at(A, t0), Admission::Post);
            health.record_at(A, false, t0);
        }
        // Open: held, and the other receiver is not affected.
        assert_eq!(health.admit_at(A, t0), Admission::Hold);
        assert_eq!(health.admit_at(B, t0), Admission::Post);
        // After the pause, exactly one probe.
        let t1 = t0 + FIRST_PAUSE;
        assert_eq!(health.admit_at(A, t1), Admission::Probe);
        assert_eq!(health.admit_at(A, t1), Admission::Hold);
        // A failed probe doubles the pause.
        health.record_at(A, false, t1);
        assert_eq!(health.admit_at(A, t1 + FIRST_PAUSE), Admission::Hold);
        let t2 = t1 + FIRST_PAUSE * 2;
        assert_eq!(health.admit_at(A, t2), Admission::Probe);
        // A good probe closes it.
        assert!(matches!(
            health.record_at(A, true, t2),
            Some(Change::Recovered(_))
        ));
        assert_eq!(health.admit_at(A, t2), Admission::Post);
    }

    #[test]
    fn pauses_stop_growing() {
        let health = ReceiverHealth::new(MAX_PAUSE);
        let mut now = Instant::now();
        for _ in 0..FAILING_AFTER {
            health.record_at(A, false, now);
        }
        for _ in 0..20 {
            now += MAX_PAUSE;
            assert_eq!(health.admit_at(A, now), Admission::Probe);
            health.record_at(A, false, now);
        }
        assert_eq!(health.admit_at(A, now + MAX_PAUSE), Admission::Probe);
    }
}
