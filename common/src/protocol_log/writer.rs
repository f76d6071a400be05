//! The protocol log writer: takes the lines that the taps of one logged account's
//! connections record (see [`super::tap`]) and appends them to the `LogStore` in batches,
//! from a task of its own, so that a mail connection never waits for the store.
//!
//! Ingest starts one per logged account and session connect (its command connections share
//! it through the login they are opened with); submit starts one per logged send. Either
//! way it ends once the last connection holding it is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::mpsc;

use crate::model::Settings;
use crate::store::LogStore;
use crate::store::logs::{is_logged, max_log_lines};

/// Lines waiting for an account's writer; past this they are dropped. A full queue holds
/// at most this many lines of at most `LINE_CAP` bytes (about 2 MiB).
pub const QUEUE: usize = 1024;
/// Most lines appended in one store call.
const BATCH: usize = 256;

/// Who sent a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The gateway (`C:`).
    Client,
    /// The mail server (`S:`).
    Server,
}

/// Which connection a line comes from. IMAP lines carry no tag, as the original's log had
/// none; SMTP ones are tagged so that one account's log can hold both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Smtp,
}

impl Protocol {
    /// What goes before a line's text.
    fn tag(self) -> &'static str {
        match self {
            Protocol::Imap => "",
            Protocol::Smtp => "[smtp] ",
        }
    }
}

/// One recorded line, credentials already redacted.
#[derive(Debug)]
pub struct Line {
    /// When its first byte went over the wire.
    pub at: DateTime<Utc>,
    pub direction: Direction,
    pub protocol: Protocol,
    pub text: String,
}

impl Line {
    /// As stored and served: `<ISO time> <C:|S:> <tag><text>`, where the tag is empty for
    /// IMAP and `[smtp] ` for SMTP.
    fn render(&self) -> String {
        let prefix = match self.direction {
            Direction::Client => "C:",
            Direction::Server => "S:",
        };
        let at = self.at.to_rfc3339_opts(SecondsFormat::Millis, true);
        format!("{at} {prefix} {}{}", self.protocol.tag(), self.text)
    }
}

/// Where one account's connections send their lines. Each connection holds a clone; the
/// writer ends once every clone is dropped.
#[derive(Debug, Clone)]
pub struct ProtocolLog {
    tx: mpsc::Sender<Line>,
    dropped: Arc<AtomicU64>,
}

impl ProtocolLog {
    /// The log of `account`, with its writer started, when `settings` say that its
    /// connections are logged.
    pub fn for_account(
        store: Arc<dyn LogStore>,
        settings: &Settings,
        account: &str,
    ) -> Option<Self> {
        is_logged(settings, account)
            .then(|| Self::start(store, account.to_string(), max_log_lines(settings), QUEUE))
    }

    /// Start a writer appending to the log of `account`, which keeps `max` lines, with
    /// room for `queue` lines waiting.
    pub fn start(store: Arc<dyn LogStore>, account: String, max: u64, queue: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_batches(rx, store, account, max, dropped.clone()));
        ProtocolLog { tx, dropped }
    }

    /// Hand a line to the writer. Never waits: logging must never slow a connection down,
    /// so when the writer is behind (its queue is full) the line is dropped and counted.
    pub fn record(&self, line: Line) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer: whatever has queued up since the last store call goes in the next one, so
/// batches grow by themselves when the store is slow.
async fn write_batches(
    mut rx: mpsc::Receiver<Line>,
    store: Arc<dyn LogStore>,
    account: String,
    max: u64,
    dropped: Arc<AtomicU64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let lines: Vec<String> = batch.drain(..).map(|l: Line| l.render()).collect();
        if let Err(error) = store.append_log(&account, &lines, max).await {
            tracing::warn!(%account, %error, lines = lines.len(), "protocol log lines lost");
        }
        report_dropped(&account, &dropped);
    }
    report_dropped(&account, &dropped);
}

fn report_dropped(account: &str, dropped: &AtomicU64) {
    let lost = dropped.swap(0, Ordering::Relaxed);
    if lost > 0 {
        metrics::counter!("imapapi_protocol_log_dropped_total").increment(lost);
        tracing::warn!(%account, lines = lost, "protocol log writer behind: lines dropped");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::store::StoreError;

    /// One account's log in memory.
    #[derive(Default)]
    struct Memory(Mutex<Vec<String>>);

    #[async_trait]
    impl LogStore for Memory {
        async fn append_log(&self, _: &str, lines: &[String], _: u64) -> Result<bool, StoreError> {
            self.0.lock().unwrap().extend_from_slice(lines);
            Ok(true)
        }
        async fn read_log(&self, _: &str, _: u64) -> Result<Vec<String>, StoreError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn delete_log(&self, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn line(direction: Direction, text: &str) -> Line {
        Line {
            at: Utc::now(),
            direction,
            protocol: Protocol::Imap,
            text: text.into(),
        }
    }

    async fn stored(store: &Memory, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let lines = store.0.lock().unwrap().clone();
            if lines.len() >= count {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the writer did not store {count} lines");
    }

    #[tokio::test]
    async fn lines_are_stored_in_order_with_time_and_direction() {
        let store = Arc::new(Memory::default());
        let log = ProtocolLog::start(store.clone(), "a".into(), 10, QUEUE);
        log.record(line(Direction::Server, "* OK ready"));
        log.record(line(Direction::Client, "A1 NOOP"));
        log.record(Line {
            protocol: Protocol::Smtp,
            ..line(Direction::Client, "EHLO gw")
        });
        drop(log);
        let lines = stored(&store, 3).await;
        assert!(lines[0].ends_with("Z S: * OK ready"), "{}", lines[0]);
        assert!(lines[1].ends_with("Z C: A1 NOOP"), "{}", lines[1]);
        assert!(lines[2].ends_with("Z C: [smtp] EHLO gw"), "{}", lines[2]);
        let at = lines[0].split(' ').next().unwrap();
        assert!(DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let store = Arc::new(Memory::default());
        let log = ProtocolLog::start(store.clone(), "a".into(), 10, 2);
        // The writer cannot run before this test yields: the queue fills after two lines.
        for i in 0..10 {
            log.record(line(Direction::Server, &format!("* {i} EXISTS")));
        }
        assert_eq!(log.dropped.load(Ordering::Relaxed), 8);
        drop(log);
        let lines = stored(&store, 2).await;
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with("* 1 EXISTS"));
    }
}
