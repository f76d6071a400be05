//! Gateway-wide settings (`/v1/settings`): webhook target, event filter, notify options.

use std::fmt;

use crate::model::account::redact_url_password;
use crate::model::secret::REDACTED;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::error::ApiError;
use crate::model::event::EventKind;

/// Log settings (kept for contract compatibility).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_events: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_headers: Option<Vec<String>>,
    /// Also read from the original's truthy strings (`"yes"`, `"0"`, …); stored as a bool.
    #[schema(schema_with = truthy_schema)]
    #[serde(
        default,
        deserialize_with = "truthy",
        skip_serializing_if = "Option::is_none"
    )]
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

/// The strings the original took for booleans (compared case-insensitively).
const TRUE_WORDS: [&str; 4] = ["true", "1", "yes", "on"];
const FALSE_WORDS: [&str; 4] = ["false", "0", "no", "off"];

/// A boolean from JSON `true`/`false` or one of [`TRUE_WORDS`] / [`FALSE_WORDS`]: clients
/// of the original send form-style values such as `"notifyText": "yes"`.
fn truthy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(TruthyVisitor)
}

/// The OpenAPI schema of a [`truthy`] field: a boolean or one of the words.
fn truthy_schema() -> Schema {
    let words = TRUE_WORDS.iter().chain(FALSE_WORDS.iter()).copied();
    let word = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words))
        .description(Some("Compared ignoring case and surrounding spaces"));
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(word)
        .description(Some(
            "Also read from the original's truthy strings; stored and returned as a boolean.",
        ))
        .into()
}

struct TruthyVisitor;

impl<'de> Visitor<'de> for TruthyVisitor {
    type Value = Option<bool>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a boolean or one of {}, {}",
            TRUE_WORDS.join(", "),
            FALSE_WORDS.join(", ")
        )
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let word = v.trim();
        let is = |words: [&str; 4]| words.iter().any(|w| w.eq_ignore_ascii_case(word));
        if is(TRUE_WORDS) {
            Ok(Some(true))
        } else if is(FALSE_WORDS) {
            Ok(Some(false))
        } else {
            Err(E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
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
    pub fn merge(&mut self, mut update: Settings) {
        // What a client read back (secrets and URL passwords as `******`) and sends again
        // leaves the stored value alone.
        let redacted = self.redacted();
        if update.gmail_client_secret.as_deref() == Some(REDACTED) {
            update.gmail_client_secret = None;
        }
        if update.webhooks.is_some() && update.webhooks == redacted.webhooks {
            update.webhooks = None;
        }
        if update.auth_server.is_some() && update.auth_server == redacted.auth_server {
            update.auth_server = None;
        }
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

    /// A copy fit for a response: the Gmail client secret hidden, and the password of
    /// the webhook and auth server URLs.
    pub fn redacted(&self) -> Settings {
        let mut s = self.clone();
        if s.gmail_client_secret.is_some() {
            s.gmail_client_secret = Some(REDACTED.to_string());
        }
        s.webhooks = s.webhooks.as_deref().map(redact_url_password);
        s.auth_server = s.auth_server.as_deref().map(redact_url_password);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_values_sent_back_keep_the_stored_ones() {
        let mut stored = Settings {
            webhooks: Some("https://u:pw@h.example/hook".into()),
            gmail_client_secret: Some("cs".into()),
            ..Default::default()
        };
        let shown = stored.redacted();
        assert_eq!(
            shown.webhooks.as_deref(),
            Some("https://u:******@h.example/hook")
        );
        assert_eq!(shown.gmail_client_secret.as_deref(), Some("******"));
        stored.merge(shown);
        assert_eq!(
            stored.webhooks.as_deref(),
            Some("https://u:pw@h.example/hook")
        );
        assert_eq!(stored.gmail_client_secret.as_deref(), Some("cs"));
        stored.merge(Settings {
            webhooks: Some("https://v:new@h.example/hook".into()),
            ..Default::default()
        });
        assert_eq!(
            stored.webhooks.as_deref(),
            Some("https://v:new@h.example/hook")
        );
    }

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
    fn notify_text_takes_booleans_and_the_original_truthy_strings() {
        let read = |v: serde_json::Value| {
            serde_json::from_value::<Settings>(serde_json::json!({ "notifyText": v }))
                .map(|s| s.notify_text)
        };
        for yes in ["true", "1", "yes", "on", "YES", "On", " true "] {
            assert_eq!(read(yes.into()).unwrap(), Some(true), "{yes}");
        }
        for no in ["false", "0", "no", "off", "OFF"] {
            assert_eq!(read(no.into()).unwrap(), Some(false), "{no}");
        }
        assert_eq!(read(true.into()).unwrap(), Some(true));
        assert_eq!(read(false.into()).unwrap(), Some(false));
        assert_eq!(read(serde_json::Value::Null).unwrap(), None);
        assert!(read("maybe".into()).is_err());
        assert!(read(1.into()).is_err());
        // Stored as a bool whatever it was sent as.
        let s: Settings = serde_json::from_str(r#"{"notifyText":"yes"}"#).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"{"notifyText":true}"#);
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
