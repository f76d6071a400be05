//! The number of accounts this process holds, written for CloudWatch in Embedded Metric
//! Format: one JSON line on stdout every `ingest.emfInterval`, which CloudWatch Logs (the
//! awslogs driver of an ECS task) turns into the metric `<namespace>/OwnedAccounts` with
//! the configured dimensions. The average over the ingest tasks is "accounts per task",
//! what the Terraform module's ingest autoscaling follows. No AWS SDK and no API permission
//! is needed: the log stream carries it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use imapapi_common::config::EmfMetric;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

/// The metric's name.
pub const METRIC_NAME: &str = "OwnedAccounts";

/// Writes the metric at its interval.
pub struct OwnedAccountsMetric {
    config: EmfMetric,
    last: Option<Instant>,
}

impl OwnedAccountsMetric {
    pub fn new(config: EmfMetric) -> OwnedAccountsMetric {
        OwnedAccountsMetric { config, last: None }
    }

    /// Writes `owned` when the interval has passed since the last line (the first at once).
    pub async fn tick(&mut self, owned: usize) {
        // The supervisor ticks on its scan interval: allow for a tick landing a little
        // early, so that a 60 s interval does not become two minutes.
        if self
            .last
            .is_some_and(|at| at.elapsed() + Duration::from_millis(100) < self.config.interval)
        {
            return;
        }
        self.last = Some(Instant::now());
        let mut line = emf_line(&self.config, owned, SystemTime::now());
        line.push('\n');
        let mut out = tokio::io::stdout();
        if let Err(e) = out.write_all(line.as_bytes()).await {
            tracing::warn!(error = %e, "cannot write the owned-accounts metric");
        }
        let _ = out.flush().await;
    }
}

/// One EMF record: the `_aws` metadata naming the metric, then the dimension values and the
/// value at the top level.
pub fn emf_line(config: &EmfMetric, owned: usize, at: SystemTime) -> String {
    let timestamp = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64;
    let names: Vec<&str> = config.dimensions.iter().map(|(n, _)| n.as_str()).collect();
    let mut record = Map::new();
    record.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": config.namespace,
                "Dimensions": [names],
                "Metrics": [{"Name": METRIC_NAME, "Unit": "Count"}],
            }],
        }),
    );
    for (name, value) in &config.dimensions {
        record.insert(name.clone(), Value::String(value.clone()));
    }
    record.insert(METRIC_NAME.into(), json!(owned));
    Value::Object(record).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_an_emf_record_with_its_dimensions() {
        let config = EmfMetric {
            namespace: "imapapi".into(),
            dimensions: vec![
                ("ClusterName".into(), "prod-imapapi".into()),
                ("ServiceName".into(), "ingest".into()),
            ],
            interval: Duration::from_secs(60),
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        let v: Value = serde_json::from_str(&emf_line(&config, 42, at)).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_800_000_000_123u64);
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "imapapi");
        assert_eq!(m["Dimensions"], json!([["ClusterName", "ServiceName"]]));
        assert_eq!(
            m["Metrics"],
            json!([{"Name": "OwnedAccounts", "Unit": "Count"}])
        );
        assert_eq!(v["ClusterName"], "prod-imapapi");
        assert_eq!(v["ServiceName"], "ingest");
        assert_eq!(v["OwnedAccounts"], 42);
    }
}
