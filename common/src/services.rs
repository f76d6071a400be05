//! The handles every role is started with.

use std::sync::Arc;

use crate::bus::SharedBus;
use crate::config::Config;
use crate::store::SharedStore;

/// Configuration plus the shared store and bus. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub bus: SharedBus,
}
