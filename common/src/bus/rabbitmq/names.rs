//! The names of the exchange and queues, all derived from the configured prefix.

use std::time::Duration;

use crate::bus::QueueName;

/// The names derived from the prefix.
#[derive(Clone)]
pub(super) struct Names {
    pub prefix: String,
}

impl Names {
    pub fn exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }
    pub fn queue(&self, q: QueueName) -> String {
        format!("{}.{}", self.prefix, q.as_str())
    }
    /// The delay queue of one step of the ladder (see `ladder.rs`).
    pub fn delay(&self, q: QueueName, step: Duration) -> String {
        format!("{}.{}.delay.{}", self.prefix, q.as_str(), step.as_millis())
    }
    pub fn dlq(&self, q: QueueName) -> String {
        format!("{}.{}.dlq", self.prefix, q.as_str())
    }
    /// The fanout exchange of the notices to every ingest process (`notices.rs`).
    pub fn notices(&self) -> String {
        format!("{}.accounts", self.prefix)
    }
    pub fn node(&self, node: &str) -> String {
        format!("{}.node.{}", self.prefix, node)
    }
}
