//! Gathers single operations into SQS batch calls (up to 10 entries, and for sends up to
//! 256 KiB together), with a few batches in flight at once. Callers await their own entry's
//! outcome, so batching is invisible to them: a lone publish goes out at once, and under
//! load the calls that queue up behind a batch in flight form the next one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::bus::BusError;

/// SQS's cap on entries per batch call.
pub(super) const MAX_ENTRIES: usize = 10;
/// SQS's cap on a batch's total payload (256 KiB), less room for the request's own fields.
pub(super) const MAX_BATCH_BYTES: usize = 250 * 1024;
/// Batch calls in flight at once per batcher.
const MAX_IN_FLIGHT: usize = 8;
/// Entries waiting for a batch; beyond this callers wait (back-pressure).
const QUEUE_BOUND: usize = 1024;

type Outcomes = Vec<Result<(), BusError>>;
/// Sends one batch; returns one outcome per entry, in order.
pub(super) type Flush<T> =
    Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = Outcomes> + Send>> + Send + Sync>;

struct Job<T> {
    item: T,
    weight: usize,
    done: oneshot::Sender<Result<(), BusError>>,
}

/// A handle to one batching task; the task ends when every handle is gone.
pub(super) struct Batcher<T> {
    tx: mpsc::Sender<Job<T>>,
}

impl<T: Send + 'static> Batcher<T> {
    pub fn spawn(flush: Flush<T>) -> Batcher<T> {
        let (tx, rx) = mpsc::channel(QUEUE_BOUND);
        tokio::spawn(run(rx, flush));
        Batcher { tx }
    }

    /// Sends `item` in the next batch; `weight` is its size toward `MAX_BATCH_BYTES`.
    pub async fn submit(&self, item: T, weight: usize) -> Result<(), BusError> {
        let (done, outcome) = oneshot::channel();
        self.tx
            .send(Job { item, weight, done })
            .await
            .map_err(|_| BusError::Closed)?;
        outcome.await.map_err(|_| BusError::Closed)?
    }
}

async fn run<T: Send + 'static>(mut rx: mpsc::Receiver<Job<T>>, flush: Flush<T>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut carry: Option<Job<T>> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut weight = first.weight;
        let mut jobs = vec![first];
        while jobs.len() < MAX_ENTRIES {
            let Ok(job) = rx.try_recv() else { break };
            if weight + job.weight > MAX_BATCH_BYTES {
                carry = Some(job);
                break;
            }
            weight += job.weight;
            jobs.push(job);
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let flush = flush.clone();
        tokio::spawn(async move {
            let (items, dones): (Vec<T>, Vec<_>) =
                jobs.into_iter().map(|j| (j.item, j.done)).unzip();
            let outcomes = flush(items).await;
            for (done, outcome) in dones.into_iter().zip(outcomes) {
                let _ = done.send(outcome);
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn entries_queued_together_share_a_call_within_the_caps() {
        let calls: Arc<Mutex<Vec<Vec<u32>>>> = Arc::default();
        let seen = calls.clone();
        let gate = Arc::new(tokio::sync::Notify::new());
        let open = gate.clone();
        let flush: Flush<u32> = Arc::new(move |items: Vec<u32>| {
            let seen = seen.clone();
            let open = open.clone();
            Box::pin(async move {
                // The first call waits, so that the rest queue up behind it.
                if items == [0] {
                    open.notified().await;
                }
                let n = items.len();
                seen.lock().unwrap().push(items);
                (0..n).map(|_| Ok(())).collect()
            })
        });
        let batcher = Arc::new(Batcher::spawn(flush));
        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.submit(0, 1).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut rest = Vec::new();
        for i in 1..=12u32 {
            let b = batcher.clone();
            rest.push(tokio::spawn(async move { b.submit(i, 1).await }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        gate.notify_one();
        first.await.unwrap().unwrap();
        for r in rest {
            r.await.unwrap().unwrap();
        }
        let calls = calls.lock().unwrap();
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|n| *n <= MAX_ENTRIES), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 13);
        assert!(sizes.len() < 13, "nothing was batched: {sizes:?}");
    }

    #[tokio::test]
    async fn a_batch_never_exceeds_the_byte_cap() {
        let calls: Arc<Mutex<Vec<usize>>> = Arc::default();
        let seen = calls.clone();
        let flush: Flush<usize> = Arc::new(move |items: Vec<usize>| {
            let seen = seen.clone();
            Box::pin(async move {
                seen.lock().unwrap().push(items.iter().sum());
                items.iter().map(|_| Ok(())).collect()
            })
        });
        let batcher = Arc::new(Batcher::spawn(flush));
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let b = batcher.clone();
                tokio::spawn(async move { b.submit(100 * 1024, 100 * 1024).await })
            })
            .collect();
        for j in jobs {
            j.await.unwrap().unwrap();
        }
        assert!(calls.lock().unwrap().iter().all(|b| *b <= MAX_BATCH_BYTES));
    }
}
