//! The names of the queues and Redis keys, all derived from the queue name prefix of
//! `sqs://<prefix>`.

use crate::bus::QueueName;

/// The longest suffix we add (`-submit-dlq`), so that every name fits SQS's 80 characters.
const LONGEST_SUFFIX: usize = 11;
const SQS_NAME_MAX: usize = 80;

/// The names derived from the prefix.
#[derive(Debug, Clone)]
pub(super) struct Names {
    pub prefix: String,
}

impl Names {
    /// The prefix, refused when a queue name made from it would not be a valid SQS name.
    pub fn new(prefix: &str) -> Result<Names, String> {
        if prefix.is_empty() || prefix.len() + LONGEST_SUFFIX > SQS_NAME_MAX {
            return Err(format!(
                "an SQS queue name prefix has 1 to {} characters",
                SQS_NAME_MAX - LONGEST_SUFFIX
            ));
        }
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(
                "an SQS queue name prefix has only letters, digits, '-' and '_'".to_string(),
            );
        }
        Ok(Names {
            prefix: prefix.to_string(),
        })
    }

    pub fn queue(&self, q: QueueName) -> String {
        format!("{}-{}", self.prefix, q.as_str())
    }

    pub fn dlq(&self, q: QueueName) -> String {
        format!("{}-{}-dlq", self.prefix, q.as_str())
    }

    /// The prefix of the bus's Redis keys and channels.
    pub fn redis(&self) -> String {
        format!("{}:bus", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let n = Names::new("imapapi").unwrap();
        assert_eq!(n.queue(QueueName::Events), "imapapi-events");
        assert_eq!(n.dlq(QueueName::Submit), "imapapi-submit-dlq");
        assert_eq!(n.redis(), "imapapi:bus");
    }

    #[test]
    fn invalid_prefixes_are_refused() {
        assert!(Names::new("").is_err());
        assert!(Names::new("a.b").is_err());
        assert!(Names::new(&"a".repeat(70)).is_err());
        assert!(Names::new(&"a".repeat(69)).is_ok());
    }
}
