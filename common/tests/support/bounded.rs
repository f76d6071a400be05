//! Bounded waits for the bus tests: every wait has a limit, so a broken backend fails a
//! test instead of hanging the run.

use std::future::Future;
use std::time::Duration;

use imapapi_common::bus::{Consumer, Delivery};

/// Generous bound for anything that should happen "now", on a busy 2-core machine.
pub const SOON: Duration = Duration::from_secs(10);

/// `fut`'s output, or a panic after [`SOON`].
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(SOON, fut)
        .await
        .expect("timed out waiting for the bus")
}

/// The consumer's next delivery, within [`SOON`].
pub async fn next(c: &mut Box<dyn Consumer>) -> Delivery {
    within(c.next()).await.expect("consumer failed")
}
