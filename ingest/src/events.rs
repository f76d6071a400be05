//! Building change events in the documented shape and publishing them on the events
//! queue. Publishing happens before the matching index commit (at-least-once).

use imapapi_common::Services;
use imapapi_common::bus::{BusError, Message, QueueName};
use imapapi_common::counters::Counter;
use imapapi_common::ids::MessageId;
use imapapi_common::model::{AccountErrorEntry, Event, EventKind, FlagChanges, OrFalse};
use serde_json::json;

/// Where a message event happened.
#[derive(Debug, Clone)]
pub struct FolderRef<'a> {
    pub account: &'a str,
    pub path: &'a str,
    pub special_use: Option<&'a str>,
}

impl FolderRef<'_> {
    /// `specialUse` as the original wrote it: `false` for an ordinary folder.
    fn special_use_or_false(&self) -> OrFalse<String> {
        OrFalse(self.special_use.map(str::to_string))
    }
}

fn folder_event(f: &FolderRef<'_>, kind: EventKind, data: serde_json::Value) -> Event {
    let mut e = Event::new(f.account, kind, Some(f.path.to_string()), data);
    e.special_use = Some(f.special_use_or_false());
    e
}

/// `messageNew` with the entry of `decode::event_entry` (as JSON: it may carry the text
/// content too).
pub fn message_new(f: &FolderRef<'_>, entry: serde_json::Value) -> Event {
    folder_event(f, EventKind::MessageNew, entry)
}

/// `messageDeleted`: `{id, uid}`.
pub fn message_deleted(f: &FolderRef<'_>, mailbox_id: u32, uid: u32) -> Event {
    folder_event(
        f,
        EventKind::MessageDeleted,
        json!({ "id": MessageId::new(mailbox_id, uid).encode(), "uid": uid }),
    )
}

/// `messageUpdated`: `{id, uid, changes: {flags: {added, deleted}}}`.
pub fn message_updated(
    f: &FolderRef<'_>,
    mailbox_id: u32,
    uid: u32,
    changes: &FlagChanges,
) -> Event {
    folder_event(
        f,
        EventKind::MessageUpdated,
        json!({
            "id": MessageId::new(mailbox_id, uid).encode(),
            "uid": uid,
            "changes": { "flags": changes },
        }),
    )
}

/// The last path segment, decoded from modified UTF-7.
pub fn folder_name(path: &str, delimiter: Option<&str>) -> String {
    let last = match delimiter {
        Some(d) if !d.is_empty() => path.rsplit(d).next().unwrap_or(path),
        _ => path,
    };
    crate::utf7::decode(last)
}

/// `mailboxNew`, `mailboxDeleted`, `mailboxReset`.
pub fn mailbox(
    f: &FolderRef<'_>,
    kind: EventKind,
    delimiter: Option<&str>,
    uid_validity: Option<u32>,
    prev_uid_validity: Option<u32>,
) -> Event {
    folder_event(
        f,
        kind,
        json!({
            "path": f.path,
            "name": folder_name(f.path, delimiter),
            "specialUse": f.special_use_or_false(),
            "uidValidity": uid_validity.map(|v| v.to_string()),
            "prevUidValidity": prev_uid_validity.map(|v| v.to_string()),
        }),
    )
}

/// `authenticationSuccess`: `{user}`, the user that logged in (never a credential).
pub fn authentication_success(account: &str, user: &str) -> Event {
    Event::new(
        account,
        EventKind::AuthenticationSuccess,
        None,
        json!({ "user": user }),
    )
}

/// `authenticationError` or `connectError`: `{response, serverResponseCode}`, the server's
/// answer and its response code (absent when it gave none).
pub fn connection_error(account: &str, kind: EventKind, error: &AccountErrorEntry) -> Event {
    let data = serde_json::to_value(error).unwrap_or_else(|_| json!({}));
    Event::new(account, kind, None, data)
}

/// Publish one event on the events queue, and count it for `GET /v1/stats`.
pub async fn publish(services: &Services, event: &Event) -> Result<(), BusError> {
    let body = serde_json::to_vec(event).map_err(|e| BusError::Backend(e.to_string()))?;
    services
        .bus
        .publish(QueueName::Events, Message::new(event.routing_key(), body))
        .await
        .inspect_err(|_| {
            metrics::counter!("imapapi_bus_errors_total", "op" => "publish").increment(1);
        })?;
    services.counters.add(Counter::Event(event.event));
    metrics::counter!("imapapi_events_published_total", "event" => event.event.name()).increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox() -> FolderRef<'static> {
        FolderRef {
            account: "acc",
            path: "INBOX",
            special_use: Some("\\Inbox"),
        }
    }

    #[test]
    fn message_events_have_the_contract_shape() {
        let e = message_deleted(&inbox(), 1, 481);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "messageDeleted");
        assert_eq!(v["data"]["id"], "AAAAAQAAAeE");
        assert_eq!(v["data"]["uid"], 481);
        assert_eq!(v["specialUse"], "\\Inbox");
        assert_eq!(e.routing_key(), "acc.messageDeleted");

        let ch = FlagChanges {
            added: vec!["\\Seen".into()],
            deleted: vec![],
        };
        let v = serde_json::to_value(message_updated(&inbox(), 1, 2, &ch)).unwrap();
        assert_eq!(v["data"]["changes"]["flags"]["added"][0], "\\Seen");
    }

    #[test]
    fn mailbox_events_name_the_folder() {
        let f = FolderRef {
            account: "a",
            path: "Archive/&AMk-t&AOk-",
            special_use: None,
        };
        let v = serde_json::to_value(mailbox(&f, EventKind::MailboxNew, Some("/"), Some(5), None))
            .unwrap();
        assert_eq!(v["data"]["name"], "Été");
        assert_eq!(v["data"]["uidValidity"], "5");
        assert_eq!(v["event"], "mailboxNew");
        // No special use: `false`, in the data and on the event, as the original.
        assert_eq!(v["data"]["specialUse"], false);
        assert_eq!(v["specialUse"], false);
        let v = serde_json::to_value(mailbox(
            &inbox(),
            EventKind::MailboxReset,
            Some("/"),
            Some(6),
            Some(5),
        ))
        .unwrap();
        assert_eq!(v["data"]["specialUse"], "\\Inbox");
        assert_eq!(v["data"]["prevUidValidity"], "5");
        let v = serde_json::to_value(message_deleted(&f, 1, 1)).unwrap();
        assert_eq!(v["specialUse"], false);
    }

    #[test]
    fn connection_events_carry_the_user_or_the_server_answer() {
        let v = serde_json::to_value(authentication_success("a", "me@example.com")).unwrap();
        assert_eq!(v["event"], "authenticationSuccess");
        assert_eq!(v["data"], json!({"user": "me@example.com"}));
        assert!(v.get("path").is_none() && v.get("specialUse").is_none());

        let refused = AccountErrorEntry {
            response: "Authentication failed.".into(),
            server_response_code: Some("AUTHENTICATIONFAILED".into()),
        };
        let v = serde_json::to_value(connection_error(
            "a",
            EventKind::AuthenticationError,
            &refused,
        ))
        .unwrap();
        assert_eq!(
            v["data"],
            json!({"response": "Authentication failed.", "serverResponseCode": "AUTHENTICATIONFAILED"})
        );
        let lost = AccountErrorEntry {
            response: "Connection timed out".into(),
            server_response_code: None,
        };
        let v =
            serde_json::to_value(connection_error("a", EventKind::ConnectError, &lost)).unwrap();
        assert_eq!(v["event"], "connectError");
        assert_eq!(v["data"], json!({"response": "Connection timed out"}));
    }
}
