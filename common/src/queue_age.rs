//! How long a message waited in its queue, as the consumer sees it: the time from when it
//! was made (an event's `date`, a send's `created`) to this attempt. Recorded as a
//! histogram by dispatch and submit, it is the queue's age where the brokers cannot tell
//! one (RabbitMQ reports only counts; SQS's age of the oldest message is a CloudWatch
//! metric, not an API answer), and it includes the retries' backoff.

/// Seconds from the RFC 3339 `made` to now; `None` when it does not parse.
pub fn seconds_since(made: &str) -> Option<f64> {
    let made = chrono::DateTime::parse_from_rfc3339(made).ok()?;
    let age = chrono::Utc::now().signed_duration_since(made);
    Some(age.num_milliseconds().max(0) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_from_a_timestamp() {
        let minute_ago = (chrono::Utc::now() - chrono::Duration::seconds(60))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let age = seconds_since(&minute_ago).unwrap();
        assert!((59.0..70.0).contains(&age), "{age}");
        assert_eq!(seconds_since("yesterday"), None);
        let future = (chrono::Utc::now() + chrono::Duration::seconds(60)).to_rfc3339();
        assert_eq!(
            seconds_since(&future),
            Some(0.0),
            "a clock ahead is no negative age"
        );
    }
}
