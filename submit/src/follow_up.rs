//! What follows an accepted send, done by the ingest process that owns the account: the
//! copy in the Sent folder (not for Gmail, which files sent mail itself, nor with
//! `copy: false`) and `\Answered` or `$Forwarded` on the original of a reply or forward.

use imapapi_common::Services;
use imapapi_common::command::client::send;
use imapapi_common::command::{FlagUpdate, SaveSent, UpdateFlags, WireBytes};
use imapapi_common::error::ApiError;
use imapapi_common::model::{AccountConfig, OutboxEntry};

/// True for Gmail and Google Workspace accounts.
fn is_gmail(account: &AccountConfig) -> bool {
    let google = |host: &str| {
        let host = host.to_ascii_lowercase();
        host.ends_with("gmail.com") || host.ends_with("googlemail.com")
    };
    account.oauth2.is_some()
        || account.imap.as_ref().is_some_and(|i| google(&i.host))
        || account.smtp.as_ref().is_some_and(|s| google(&s.host))
}

/// Store the Sent copy and flag the original. An error means the owning ingest could not be
/// reached or failed (try again later); a reference that no longer exists is not one.
pub async fn run(
    services: &Services,
    account: &AccountConfig,
    entry: &OutboxEntry,
    mime: Vec<u8>,
) -> Result<(), ApiError> {
    if account.copy != Some(false) && !is_gmail(account) {
        let saved = send(
            services,
            &entry.account,
            SaveSent {
                raw: WireBytes(mime),
            },
        )
        .await?;
        tracing::debug!(queue_id = %entry.queue_id, path = ?saved.path, uid = ?saved.uid,
            "sent copy stored");
    }
    if let Some(reference) = &entry.reference {
        let flag = if reference.action == "forward" {
            "$Forwarded"
        } else {
            "\\Answered"
        };
        let request = UpdateFlags {
            message: reference.message.clone(),
            flags: Some(FlagUpdate {
                add: Some(vec![flag.to_string()]),
                delete: None,
                set: None,
            }),
            labels: None,
        };
        match send(services, &entry.account, request).await {
            Ok(_) => {}
            Err(e) if e.status_code == 404 => {
                tracing::info!(queue_id = %entry.queue_id, "the original is gone; not flagged");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_is_recognised_by_its_hosts() {
        let account: AccountConfig = serde_json::from_value(serde_json::json!({
            "account": "g", "name": "G",
            "smtp": {"host": "smtp.gmail.com", "port": 465, "secure": true}
        }))
        .unwrap();
        assert!(is_gmail(&account));
        let account: AccountConfig = serde_json::from_value(serde_json::json!({
            "account": "o", "name": "O",
            "smtp": {"host": "127.0.0.1", "port": 2587}
        }))
        .unwrap();
        assert!(!is_gmail(&account));
    }
}
