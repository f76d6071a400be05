//! How many IMAP sessions of one ingest process may be setting up their connection (TCP,
//! TLS, login) at once, after a random pause. When a process starts, or takes over a dead
//! node's accounts, a thousand sessions would otherwise open a thousand TLS handshakes in
//! the same instant: a CPU spike here and a login storm on the IMAP server. Bounded and
//! spread out, they still all connect within seconds (a set-up takes tens of
//! milliseconds), and the sync that follows is not throttled.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connection set-ups at once per process.
pub const CONCURRENT_SETUPS: usize = 16;
/// The longest random pause before a set-up.
pub const MAX_JITTER: Duration = Duration::from_millis(250);

/// Shared by every session of a process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConnectThrottle {
    permits: Arc<Semaphore>,
}

impl Default for ConnectThrottle {
    fn default() -> Self {
        ConnectThrottle::new(CONCURRENT_SETUPS)
    }
}

impl ConnectThrottle {
    pub fn new(concurrent: usize) -> ConnectThrottle {
        ConnectThrottle {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
        }
    }

    /// Wait a random moment, then for a free slot; the set-up holds the permit until it is
    /// logged in (or failed).
    pub async fn enter(&self) -> OwnedSemaphorePermit {
        let jitter = MAX_JITTER.mul_f64(rand::rng().random::<f64>());
        tokio::time::sleep(jitter).await;
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the throttle's semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_than_the_bound_set_up_at_once() {
        let throttle = ConnectThrottle::new(2);
        let a = throttle.enter().await;
        let _b = throttle.enter().await;
        let third = tokio::time::timeout(Duration::from_millis(400), throttle.enter()).await;
        assert!(third.is_err(), "a third set-up went through");
        drop(a);
        let third = tokio::time::timeout(Duration::from_millis(400), throttle.enter()).await;
        assert!(third.is_ok());
    }
}
