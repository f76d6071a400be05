//! Per-account protocol logs (`logs` settings, `GET /v1/logs/:account`), as the original
//! kept them: the newest lines an account's IMAP and SMTP connections sent and received, for
//! an operator debugging that account. Its own trait because only the log writer
//! (`crate::protocol_log`) and the two api routes that read or reset a log use it.
//!
//! A log is a list of opaque, already formatted lines (`<time> <C:|S:> <text>`): the store
//! neither parses nor orders them, it keeps them in the order appended.

use async_trait::async_trait;

use super::StoreError;
use crate::model::Settings;

/// Lines kept per account when the settings give no `logs.maxLogLines` (the original's
/// default).
pub const DEFAULT_MAX_LOG_LINES: u64 = 10_000;

/// The stored protocol logs.
#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    /// Append `lines` (oldest first) to the log of `account`, then keep only its newest
    /// `max` lines (0 keeps none). Lines for an account that does not exist are dropped,
    /// so that a connection still closing after the account was deleted cannot bring its
    /// log back; whether they were stored.
    async fn append_log(
        &self,
        account: &str,
        lines: &[String],
        max: u64,
    ) -> Result<bool, StoreError>;
    /// The newest `limit` lines of the log of `account`, oldest first.
    async fn read_log(&self, account: &str, limit: u64) -> Result<Vec<String>, StoreError>;
    /// Drop the log of `account`.
    async fn delete_log(&self, account: &str) -> Result<(), StoreError>;
}

/// Whether the connections of `account` are logged: `logs.all`, or the account listed in
/// `logs.accounts`.
pub fn is_logged(settings: &Settings, account: &str) -> bool {
    settings.logs.as_ref().is_some_and(|l| {
        l.all == Some(true)
            || l.accounts
                .as_ref()
                .is_some_and(|a| a.iter().any(|id| id == account))
    })
}

/// How many lines a log keeps: `logs.maxLogLines`, else [`DEFAULT_MAX_LOG_LINES`].
pub fn max_log_lines(settings: &Settings) -> u64 {
    settings
        .logs
        .as_ref()
        .and_then(|l| l.max_log_lines)
        .unwrap_or(DEFAULT_MAX_LOG_LINES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogSettings;

    fn with(logs: LogSettings) -> Settings {
        Settings {
            logs: Some(logs),
            ..Default::default()
        }
    }

    #[test]
    fn logged_when_all_or_listed() {
        assert!(!is_logged(&Settings::default(), "a"));
        let all = with(LogSettings {
            all: Some(true),
            ..Default::default()
        });
        assert!(is_logged(&all, "a"));
        let listed = with(LogSettings {
            accounts: Some(vec!["a".into()]),
            ..Default::default()
        });
        assert!(is_logged(&listed, "a"));
        assert!(!is_logged(&listed, "b"));
        assert_eq!(max_log_lines(&listed), DEFAULT_MAX_LOG_LINES);
    }
}
