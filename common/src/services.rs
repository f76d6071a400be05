//! The handles every role is started with.

use std::sync::Arc;
use std::time::Instant;

use crate::bus::SharedBus;
use crate::config::Config;
use crate::counters::UsageCounters;
use crate::store::SharedStore;

/// Configuration, the shared store and bus, and this process's usage counters. Cheap to
/// clone.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub bus: SharedBus,
    /// Counts for `GET /v1/stats`, flushed to the store by the process's flusher task.
    pub counters: UsageCounters,
    /// When this process made its services: its uptime counts from here.
    pub started: Instant,
}

impl Services {
    /// The handles of one process, with no counts yet.
    pub fn new(config: Arc<Config>, store: SharedStore, bus: SharedBus) -> Services {
        Services {
            config,
            store,
            bus,
            counters: UsageCounters::default(),
            started: Instant::now(),
        }
    }
}
