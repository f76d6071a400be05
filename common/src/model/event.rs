//! Change events: the public, versioned JSON that webhooks carry and that users may consume
//! straight from the queue.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::or_false::OrFalse;

/// Version of the event JSON schema; bumped on any incompatible change.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// The nine event types of the original, and the three of sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    MessageNew,
    MessageDeleted,
    MessageUpdated,
    MailboxReset,
    MailboxDeleted,
    MailboxNew,
    AuthenticationError,
    AuthenticationSuccess,
    ConnectError,
    /// The SMTP server accepted a queued message.
    MessageSent,
    /// One send attempt failed (it may be retried).
    MessageDeliveryError,
    /// A queued message was given up.
    MessageFailed,
}

impl EventKind {
    /// Every kind, in the original's order.
    pub const ALL: [EventKind; 12] = [
        EventKind::MessageNew,
        EventKind::MessageDeleted,
        EventKind::MessageUpdated,
        EventKind::MailboxReset,
        EventKind::MailboxDeleted,
        EventKind::MailboxNew,
        EventKind::AuthenticationError,
        EventKind::AuthenticationSuccess,
        EventKind::ConnectError,
        EventKind::MessageSent,
        EventKind::MessageDeliveryError,
        EventKind::MessageFailed,
    ];

    /// The name in JSON, routing keys and `webhookEvents`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::MessageNew => "messageNew",
            EventKind::MessageDeleted => "messageDeleted",
            EventKind::MessageUpdated => "messageUpdated",
            EventKind::MailboxReset => "mailboxReset",
            EventKind::MailboxDeleted => "mailboxDeleted",
            EventKind::MailboxNew => "mailboxNew",
            EventKind::AuthenticationError => "authenticationError",
            EventKind::AuthenticationSuccess => "authenticationSuccess",
            EventKind::ConnectError => "connectError",
            EventKind::MessageSent => "messageSent",
            EventKind::MessageDeliveryError => "messageDeliveryError",
            EventKind::MessageFailed => "messageFailed",
        }
    }

    /// The kind called `name`, if any.
    pub fn from_name(name: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Every name, for `GET /v1/settings?eventTypes=true` and error messages.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|k| k.name()).collect()
    }
}

/// One change event. `id` names the change: every announcement of one change carries the
/// same id (see [`super::event_id`]); consumers drop duplicates by it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: Uuid,
    /// The version of this JSON schema ([`EVENT_SCHEMA_VERSION`]).
    pub v: u32,
    pub account: String,
    /// RFC 3339 time the change was seen.
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Set on folder events: the folder's special use, `false` for an ordinary folder (as
    /// in the original). Absent on connection events, which concern no folder.
    #[schema(schema_with = super::or_false::schema::string_or_false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_use: Option<OrFalse<String>>,
    pub event: EventKind,
    /// What changed; its shape depends on `event`.
    #[serde(default)]
    pub data: serde_json::Value,
    /// The account's state once this change is counted: `since` for
    /// `GET /v1/account/:account/changes`. Absent when the history could not record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Event {
    /// A new event seen now, with a fresh id and no special use (folder events set it).
    pub fn new(
        account: &str,
        event: EventKind,
        path: Option<String>,
        data: serde_json::Value,
    ) -> Self {
        Event {
            id: Uuid::now_v7(),
            v: EVENT_SCHEMA_VERSION,
            account: account.to_string(),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            path,
            special_use: None,
            event,
            data,
            state: None,
        }
    }

    /// The same event under `id`, the id of the change it announces.
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Routing key on the events exchange: `<account>.<event>`, the account id escaped by
    /// [`routing_account`] so that a binding such as `*.messageNew` matches every account,
    /// `user@example.com` included.
    pub fn routing_key(&self) -> String {
        format!("{}.{}", routing_account(&self.account), self.event.name())
    }
}

/// An account id as one word of a routing key: `.` separates words in AMQP topic
/// bindings, so it becomes `%2E` (and `%` itself `%25`, to keep the escaping reversible):
/// `user@example.com` → `user@example%2Ecom`. Bind `user@example%2Ecom.*` for one account.
pub fn routing_account(account: &str) -> String {
    account.replace('%', "%25").replace('.', "%2E")
}

/// `messageUpdated.data.changes.flags`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FlagChanges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_keep_the_account_one_word() {
        let e = Event::new(
            "user@example.com",
            EventKind::MessageNew,
            None,
            serde_json::json!({}),
        );
        assert_eq!(e.routing_key(), "user@example%2Ecom.messageNew");
        assert_eq!(routing_account("plain"), "plain");
        assert_eq!(routing_account("a%2Eb.c"), "a%252Eb%2Ec");
        assert_ne!(routing_account("a.b"), routing_account("a%2Eb"));
    }

    #[test]
    fn special_use_is_absent_false_or_the_value() {
        let mut e = Event::new(
            "acc",
            EventKind::AuthenticationSuccess,
            None,
            Default::default(),
        );
        let v = serde_json::to_value(&e).unwrap();
        assert!(v.get("specialUse").is_none(), "no folder, no specialUse");

        e.special_use = Some(OrFalse(None));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["specialUse"], false);
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back.special_use, Some(OrFalse(None)));

        e.special_use = Some(OrFalse(Some("\\Inbox".into())));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["specialUse"], "\\Inbox");
        assert_eq!(serde_json::from_value::<Event>(v).unwrap(), e);
    }
}
