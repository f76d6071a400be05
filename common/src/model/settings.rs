//! Gateway-wide settings (`/v1/settings`): webhook target, event filter, notify options.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::model::event::EventKind;

/// Log settings (kept for contract compatibility).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LogSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_logged_accounts: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_lines: Option<u64>,
}

/// All settings keys. Every key is optional; `POST /v1/settings` merges the given keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_headers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_text: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_text_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmail_client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmail_client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmail_redirect_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogSettings>,
}

fn check_url(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    if let Some(u) = value {
        // An empty string clears the setting, as in the original.
        let has_scheme = u.starts_with("http://") || u.starts_with("https://");
        if !u.is_empty() && !has_scheme {
            return Err(ApiError::invalid(
                field,
                "must be a valid uri with a scheme matching the http|https pattern",
            ));
        }
    }
    Ok(())
}

impl Settings {
    /// Validate values; the error names the offending field.
    pub fn validate(&self) -> Result<(), ApiError> {
        check_url("webhooks", &self.webhooks)?;
        check_url("authServer", &self.auth_server)?;
        check_url("gmailRedirectUrl", &self.gmail_redirect_url)?;
        if let Some(events) = &self.webhook_events {
            for (i, e) in events.iter().enumerate() {
                if e != "*" && EventKind::from_name(e).is_none() {
                    return Err(ApiError::invalid(
                        &format!("webhookEvents[{i}]"),
                        format!("must be one of [*, {}]", EventKind::names().join(", ")),
                    ));
                }
            }
        }
        if let Some(l) = &self.logs
            && l.max_log_lines.is_some_and(|n| n > 1_000_000)
        {
            return Err(ApiError::invalid(
                "logs.maxLogLines",
                "must be less than or equal to 1000000",
            ));
        }
        Ok(())
    }

    /// Overlay the keys set in `update` on top of `self`.
    pub fn merge(&mut self, update: Settings) {
        macro_rules! take {
            ($($f:ident),*) => { $( if update.$f.is_some() { self.$f = update.$f; } )* };
        }
        take!(
            webhooks,
            webhook_events,
            notify_headers,
            notify_text,
            notify_text_size,
            auth_server,
            gmail_client_id,
            gmail_client_secret,
            gmail_redirect_url,
            logs
        );
    }

    /// Whether an event of this kind should be sent to the webhook URL.
    pub fn wants_event(&self, kind: EventKind) -> bool {
        match &self.webhook_events {
            None => true,
            Some(list) => list.iter().any(|e| e == "*" || e == kind.name()),
        }
    }

    /// A copy fit for a response: the Gmail client secret hidden.
    pub fn redacted(&self) -> Settings {
        let mut s = self.clone();
        if s.gmail_client_secret.is_some() {
            s.gmail_client_secret = Some(crate::model::secret::REDACTED.to_string());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_bad_field() {
        let s: Settings = serde_json::from_str(r#"{"webhooks":"ftp://x"}"#).unwrap();
        assert!(s.validate().unwrap_err().message.contains("\"webhooks\""));
        let s: Settings = serde_json::from_str(r#"{"webhookEvents":["nope"]}"#).unwrap();
        assert!(
            s.validate()
                .unwrap_err()
                .message
                .contains("webhookEvents[0]")
        );
    }

    #[test]
    fn filters_events() {
        let mut s = Settings::default();
        assert!(s.wants_event(EventKind::MessageNew));
        s.webhook_events = Some(vec!["messageDeleted".into()]);
        assert!(!s.wants_event(EventKind::MessageNew));
        s.webhook_events = Some(vec!["*".into()]);
        assert!(s.wants_event(EventKind::MessageNew));
    }
}
