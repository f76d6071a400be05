//! The process's Prometheus metrics: one global recorder for the `metrics` macros used by
//! every role, rendered as Prometheus text by `GET /metrics`. Names follow Prometheus
//! conventions (`imapapi_` prefix, `_total` counters, `_seconds` durations); labels never
//! carry an account id or anything unbounded.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every `_seconds` histogram: from a fast local call to a slow webhook.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets of the queue age: retries are scheduled over a day, so an event can wait hours.
const QUEUE_AGE_BUCKETS: &[f64] = &[
    0.01,
    0.1,
    1.0,
    10.0,
    60.0,
    300.0,
    1800.0,
    3600.0,
    4.0 * 3600.0,
    12.0 * 3600.0,
    86400.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (once per process; later calls return the same handle). `None`
/// when another recorder was installed first (a test harness), in which case nothing is
/// recorded here.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .ok()?
                // A full name wins over a suffix whatever the order.
                .set_buckets_for_metric(
                    Matcher::Full("imapapi_queue_age_seconds".into()),
                    QUEUE_AGE_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The current metrics as Prometheus text (empty when no recorder is installed).
pub fn render() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}
