//! Picking up a new or changed account at once: the api announces every account change on
//! the bus (`AccountNotices`), and this wakes the supervisor's scan for it instead of
//! leaving it to the next `ingest.scanInterval` tick. Wakes are debounced: notices that
//! arrive before the scan count as one, and scans for notices start at most once per
//! [`PICKUP_GAP`], so a burst of 300 registrations costs a few scans, not 300. The periodic
//! scan stays the safety net: a lost notice only costs the scan interval.

use std::sync::Arc;
use std::time::Duration;

use imapapi_common::bus::{NoticeListener, SharedBus};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The shortest time between two scans started for notices.
pub const PICKUP_GAP: Duration = Duration::from_millis(250);
/// Pause before listening again when the bus refused a subscription.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// When the supervisor should scan for notices: debounced, and cancel-safe, so that it can
/// sit in a `select!` beside the interval tick and the session tasks.
pub struct Pickup {
    signal: Arc<Notify>,
    gap: Duration,
    /// A notice was taken and no scan has run since.
    pending: bool,
    /// When the last scan for notices started.
    last: Option<Instant>,
}

impl Pickup {
    /// Scans for notices at most once per `gap`.
    pub fn new(gap: Duration) -> Pickup {
        Pickup {
            signal: Arc::new(Notify::new()),
            gap,
            pending: false,
            last: None,
        }
    }

    /// Where notices are signalled; any number of signals before the next scan count as one.
    pub fn signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    /// Waits until a scan is due for a notice: one was signalled, and the gap since the
    /// last scan for notices has passed. Dropping the wait keeps a notice already taken.
    pub async fn due(&mut self) {
        if !self.pending {
            self.signal.notified().await;
            self.pending = true;
        }
        if let Some(last) = self.last {
            tokio::time::sleep_until(last + self.gap).await;
        }
        self.last = Some(Instant::now());
    }

    /// A scan ran (for a notice or on the tick): it saw every change announced before.
    pub fn scanned(&mut self) {
        self.pending = false;
    }
}

/// Listen for account notices and signal each one to `signal`, until `shutdown`. Subscribes
/// before it returns (when the bus lets it), so that no notice announced after that is
/// missed; then keeps listening in a task of its own, subscribing again after an error.
pub async fn listen(
    bus: SharedBus,
    signal: Arc<Notify>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let first = subscribe(&bus).await;
    tokio::spawn(async move {
        let mut listener = first;
        loop {
            if let Some(l) = listener.as_mut() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    got = l.next() => match got {
                        Ok(()) => signal.notify_one(),
                        Err(e) => {
                            failed("listening for account notices stopped", &e);
                            listener = None;
                        }
                    },
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(LISTEN_RETRY) => {}
            }
            listener = subscribe(&bus).await;
            // Notices may have been missed while not listening.
            signal.notify_one();
        }
    })
}

async fn subscribe(bus: &SharedBus) -> Option<Box<dyn NoticeListener>> {
    match bus.listen_accounts_changed().await {
        Ok(l) => Some(l),
        Err(e) => {
            failed("cannot listen for account notices", &e);
            None
        }
    }
}

fn failed(what: &str, e: &imapapi_common::bus::BusError) {
    metrics::counter!("imapapi_bus_errors_total", "op" => "listen").increment(1);
    tracing::warn!(error = %e, "{what}; new accounts wait for the next scan");
}

#[cfg(test)]
mod tests {
    use super::*;
    use imapapi_common::bus::embedded::EmbeddedBus;

    /// A gap long enough that a busy test machine does not blur it.
    const GAP: Duration = Duration::from_secs(1);

    /// Whether `due` returns within `wait`.
    async fn fires(pickup: &mut Pickup, wait: Duration) -> bool {
        tokio::time::timeout(wait, pickup.due()).await.is_ok()
    }

    #[tokio::test]
    async fn a_burst_of_notices_is_one_scan() {
        let mut pickup = Pickup::new(GAP);
        for _ in 0..300 {
            pickup.signal().notify_one();
        }
        assert!(fires(&mut pickup, Duration::from_secs(1)).await);
        pickup.scanned();
        assert!(!fires(&mut pickup, GAP * 2).await);
    }

    #[tokio::test]
    async fn scans_for_notices_keep_the_gap() {
        let gap = Duration::from_millis(100);
        let mut pickup = Pickup::new(gap);
        let signal = pickup.signal();
        // A notice every 5 ms for a second: about one scan per gap, not 200.
        let sender = tokio::spawn(async move {
            for _ in 0..200 {
                signal.notify_one();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let started = Instant::now();
        let mut scans = 0u32;
        let mut starts = Vec::new();
        while fires(&mut pickup, Duration::from_millis(500)).await {
            starts.push(Instant::now());
            pickup.scanned();
            scans += 1;
        }
        sender.await.unwrap();
        let span = started.elapsed();
        assert!(starts.windows(2).all(|w| w[1] - w[0] >= gap), "{starts:?}");
        assert!(scans >= 2, "{scans} scans in {span:?}");
        assert!(scans <= 20, "{scans} scans in {span:?}");
    }

    #[tokio::test]
    async fn a_notice_after_a_quiet_while_is_scanned_at_once() {
        let mut pickup = Pickup::new(GAP);
        let started = Instant::now();
        pickup.signal().notify_one();
        assert!(fires(&mut pickup, GAP / 2).await);
        pickup.scanned();
        tokio::time::sleep(GAP).await;
        let started_again = Instant::now();
        pickup.signal().notify_one();
        assert!(fires(&mut pickup, GAP / 2).await);
        assert!(started_again.elapsed() < GAP / 2);
        assert!(started.elapsed() < GAP * 2);
    }

    #[tokio::test]
    async fn a_dropped_wait_keeps_its_notice() {
        let mut pickup = Pickup::new(GAP);
        pickup.signal().notify_one();
        assert!(fires(&mut pickup, GAP / 2).await);
        pickup.scanned();
        // Taken, then dropped while waiting out the gap (the tick won the select).
        pickup.signal().notify_one();
        assert!(!fires(&mut pickup, Duration::from_millis(10)).await);
        assert!(fires(&mut pickup, GAP * 2).await, "the notice was lost");
    }

    #[tokio::test]
    async fn a_tick_scan_settles_a_pending_notice() {
        let mut pickup = Pickup::new(GAP);
        pickup.signal().notify_one();
        assert!(fires(&mut pickup, GAP / 2).await);
        pickup.scanned();
        // Taken while waiting out the gap; then the tick's scan runs first.
        pickup.signal().notify_one();
        assert!(!fires(&mut pickup, Duration::from_millis(10)).await);
        pickup.scanned();
        assert!(!fires(&mut pickup, GAP * 2).await);
    }

    #[tokio::test]
    async fn notices_on_the_bus_wake_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let bus: SharedBus = Arc::new(
            EmbeddedBus::open(dir.path(), imapapi_common::bus::RetryPolicy::default())
                .await
                .unwrap(),
        );
        let mut pickup = Pickup::new(GAP);
        let shutdown = CancellationToken::new();
        let task = listen(bus.clone(), pickup.signal(), shutdown.clone()).await;
        assert!(!fires(&mut pickup, Duration::from_millis(200)).await);
        bus.announce_accounts_changed().await.unwrap();
        assert!(fires(&mut pickup, Duration::from_secs(5)).await);
        shutdown.cancel();
        task.await.unwrap();
    }
}
