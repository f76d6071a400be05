//! Which stored messages may be delivered now and which wait for a time lives only in
//! memory (the file holds just the messages and their due times), so it gets its own
//! state per queue, with the task that moves waiting messages to ready when they come due.

use std::collections::BTreeSet;
use std::sync::{Mutex, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;

use crate::bus::lock;
use crate::bus::unix_ms;

/// Sequence numbers deliverable now.
pub(super) type Ready = BTreeSet<u64>;
/// (due unix ms, sequence number) of messages waiting for their time.
pub(super) type Waiting = BTreeSet<(u64, u64)>;

pub(super) struct QueueState {
    /// Sequence numbers of stored messages that may be delivered now, lowest first, so
    /// a single consumer sees publish order.
    pub(super) ready: Mutex<Ready>,
    /// Woken whenever a message becomes ready or a delivery is settled (which may free
    /// prefetch room).
    pub(super) notify: Notify,
    /// Stored messages not to be delivered before a time: (due unix ms, sequence number).
    pub(super) waiting: Mutex<Waiting>,
    /// Woken when a message starts waiting, so the scheduler looks at the earliest again.
    pub(super) schedule: Notify,
}

impl QueueState {
    pub(super) fn new(ready: Ready, waiting: Waiting) -> QueueState {
        QueueState {
            ready: Mutex::new(ready),
            notify: Notify::new(),
            waiting: Mutex::new(waiting),
            schedule: Notify::new(),
        }
    }

    /// Move every waiting message that is due to ready; the wait until the next one.
    fn release_due(&self) -> Option<Duration> {
        let now = unix_ms(SystemTime::now());
        let mut next = None;
        let mut moved = false;
        {
            let mut waiting = lock(&self.waiting);
            while let Some(&(due, seq)) = waiting.first() {
                if due > now {
                    next = Some(Duration::from_millis(due - now));
                    break;
                }
                waiting.pop_first();
                lock(&self.ready).insert(seq);
                moved = true;
            }
        }
        if moved {
            self.notify.notify_waiters();
        }
        next
    }
}

/// Moves the waiting messages of one queue to ready as they come due. Holds the queue only
/// weakly between rounds, so it ends once the bus is gone (the queue state holds no file).
pub(super) async fn scheduler(state: Weak<QueueState>) {
    /// Longest sleep without looking: also how soon this task notices the bus is gone.
    const IDLE: Duration = Duration::from_secs(5);
    loop {
        let Some(state) = state.upgrade() else { return };
        // Registered before looking, so a message that starts waiting meanwhile wakes us.
        let woken = state.schedule.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let wait = state.release_due().map_or(IDLE, |w| w.min(IDLE));
        let _ = tokio::time::timeout(wait, woken).await;
    }
}
