//! Building change events in the documented shape and publishing them on the events
//! queue. Publishing happens before the matching index commit (at-least-once), so folder
//! and message events get ids derived from the change (`model::event_id`): announced
//! again, a change keeps its id. Connection events are occurrences, not changes: each has
//! a fresh id.

use imapapi_common::Services;
use imapapi_common::event_sink;
use imapapi_common::ids::MessageId;
use imapapi_common::model::event_id::{IdPart, change_id};
use imapapi_common::model::{AccountErrorEntry, Event, EventKind, FlagChanges, OrFalse};
use serde_json::json;

/// Where a message event happened.
#[derive(Debug, Clone)]
pub struct FolderRef<'a> {
    pub account: &'a str,
    pub path: &'a str,
    pub special_use: Option<&'a str>,
    /// The folder's UIDVALIDITY: with the path it names one incarnation of the folder.
    pub uid_validity: u32,
}

impl FolderRef<'_> {
    /// `specialUse` as the original wrote it: `false` for an ordinary folder.
    fn special_use_or_false(&self) -> OrFalse<String> {
        OrFalse(self.special_use.map(str::to_string))
    }
}

/// A folder event whose id is the change `kind` of this folder named by `parts` (after the
/// path and UIDVALIDITY, which every folder change has).
fn folder_event(
    f: &FolderRef<'_>,
    kind: EventKind,
    parts: &[IdPart<'_>],
    data: serde_json::Value,
) -> Event {
    let mut identity = vec![IdPart::from(f.path), IdPart::from(f.uid_validity)];
    identity.extend_from_slice(parts);
    let mut e = Event::new(f.account, kind, Some(f.path.to_string()), data)
        .with_id(change_id(f.account, kind, &identity));
    e.special_use = Some(f.special_use_or_false());
    e
}

/// `messageNew` of `uid` with the entry of `decode::event_entry` (as JSON: it may carry the
/// text content too). A uid is new once per UIDVALIDITY: that is its identity.
pub fn message_new(f: &FolderRef<'_>, uid: u32, entry: serde_json::Value) -> Event {
    folder_event(f, EventKind::MessageNew, &[uid.into()], entry)
}

/// `messageDeleted`: `{id, uid}`.
pub fn message_deleted(f: &FolderRef<'_>, mailbox_id: u32, uid: u32) -> Event {
    folder_event(
        f,
        EventKind::MessageDeleted,
        &[uid.into()],
        json!({ "id": MessageId::new(mailbox_id, uid).encode(), "uid": uid }),
    )
}

/// One flag change of a message, as far as its identity goes.
#[derive(Debug, Clone, Copy)]
pub struct FlagChange<'a> {
    pub mailbox_id: u32,
    pub uid: u32,
    /// The folder state's generation the change was found from (`FolderState::generation`).
    pub generation: u64,
    /// The flags after the change.
    pub flags: &'a [String],
    pub changes: &'a FlagChanges,
}

/// `messageUpdated`: `{id, uid, changes: {flags: {added, deleted}}}`. Its identity adds the
/// generation and the resulting flags to the uid: found again from the same stored state
/// it is the same change; the same flags set again after a commit is a new one.
pub fn message_updated(f: &FolderRef<'_>, change: FlagChange<'_>) -> Event {
    let mut flags: Vec<&str> = change.flags.iter().map(String::as_str).collect();
    flags.sort_unstable();
    let flags = flags.join(" ");
    folder_event(
        f,
        EventKind::MessageUpdated,
        &[
            change.uid.into(),
            change.generation.into(),
            flags.as_str().into(),
        ],
        json!({
            "id": MessageId::new(change.mailbox_id, change.uid).encode(),
            "uid": change.uid,
            "changes": { "flags": change.changes },
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
    let parts = [prev_uid_validity.unwrap_or(0).into()];
    folder_event(
        f,
        kind,
        &parts,
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

pub use imapapi_common::event_sink::PublishError;

/// Record one event in the account's changes history, then publish it on the events queue
/// with the state the history gave it (see [`event_sink::publish`]).
pub async fn publish(services: &Services, event: Event) -> Result<(), PublishError> {
    event_sink::publish(services, vec![event]).await
}

/// [`publish`] for a batch: one store round trip and one bus batch for all of them.
pub async fn publish_all(services: &Services, events: Vec<Event>) -> Result<(), PublishError> {
    event_sink::publish(services, events).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox() -> FolderRef<'static> {
        FolderRef {
            account: "acc",
            path: "INBOX",
            special_use: Some("\\Inbox"),
            uid_validity: 7,
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
        let flags = vec!["\\Seen".to_string()];
        let change = FlagChange {
            mailbox_id: 1,
            uid: 2,
            generation: 3,
            flags: &flags,
            changes: &ch,
        };
        let v = serde_json::to_value(message_updated(&inbox(), change)).unwrap();
        assert_eq!(v["data"]["changes"]["flags"]["added"][0], "\\Seen");
    }

    #[test]
    fn a_change_announced_again_keeps_its_id() {
        let entry = json!({"uid": 9});
        let first = message_new(&inbox(), 9, entry.clone());
        let again = message_new(&inbox(), 9, entry.clone());
        assert_eq!(first.id, again.id);
        assert_ne!(first.id, message_new(&inbox(), 10, entry.clone()).id);
        let reset = FolderRef {
            uid_validity: 8,
            ..inbox()
        };
        assert_ne!(
            first.id,
            message_new(&reset, 9, entry).id,
            "a reset folder is another"
        );
        assert_ne!(first.id, message_deleted(&inbox(), 1, 9).id, "another kind");

        let ch = FlagChanges {
            added: vec!["\\Seen".into()],
            deleted: vec![],
        };
        let seen = vec!["\\Seen".to_string(), "$Label".to_string()];
        let change = |generation, flags| FlagChange {
            mailbox_id: 1,
            uid: 9,
            generation,
            flags,
            changes: &ch,
        };
        let a = message_updated(&inbox(), change(4, &seen)).id;
        let reordered = vec!["$Label".to_string(), "\\Seen".to_string()];
        assert_eq!(a, message_updated(&inbox(), change(4, &reordered)).id);
        assert_ne!(
            a,
            message_updated(&inbox(), change(5, &seen)).id,
            "set again later"
        );
        assert_ne!(
            a,
            message_updated(&inbox(), change(4, &[])).id,
            "other flags"
        );

        let new = mailbox(&inbox(), EventKind::MailboxNew, None, Some(7), None);
        assert_eq!(
            new.id,
            mailbox(&inbox(), EventKind::MailboxNew, None, Some(7), None).id
        );
        let gone = mailbox(&inbox(), EventKind::MailboxDeleted, None, Some(7), None);
        assert_ne!(new.id, gone.id);
        // Connection events are occurrences: each is new.
        assert_ne!(
            authentication_success("acc", "u").id,
            authentication_success("acc", "u").id
        );
    }

    #[test]
    fn mailbox_events_name_the_folder() {
        let f = FolderRef {
            account: "a",
            path: "Archive/&AMk-t&AOk-",
            special_use: None,
            uid_validity: 5,
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
