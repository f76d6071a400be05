//! Per-account protocol logs (`logs` settings, `GET /v1/logs/:account`): what a logged
//! account's IMAP connections (ingest) and SMTP connections (submit) sent and received,
//! recorded by a [`Tap`] around the connection's plain-text stream, with credentials
//! hidden, and appended to the store by a batching [`ProtocolLog`] writer. Shared because
//! both roles record into the same log.

pub mod imap;
pub mod lines;
pub mod smtp;
pub mod tap;
pub mod writer;

pub use imap::Imap;
pub use smtp::Smtp;
pub use tap::{Dialect, Recorder, Tap};
pub use writer::{Direction, Line, Protocol, ProtocolLog};

/// Bytes of a line (with its literals) kept in the log; the rest is counted, not kept.
pub const LINE_CAP: usize = 2048;
/// What stands for a secret in a logged line.
pub const REDACTED: &str = "******";
