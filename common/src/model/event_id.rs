//! Event ids derived from what the change is. Delivery is at-least-once: a folder resynced
//! after a reconnect, a lease taken over by another ingest process, a sync interrupted
//! before its commit all announce some changes again. When the id is a function of the
//! change (account, folder, UIDVALIDITY, uid, kind, and for flag changes the folder's
//! commit generation and the new flags), every announcement of one change carries the same
//! id, and "drop duplicates by id" works across all of those, not only across broker
//! redeliveries.
//!
//! The id is a UUID version 8 (RFC 9562's custom layout) holding the first 122 bits of a
//! SHA-256 over the length-prefixed parts, so no two different part lists collide by
//! concatenation (`("ab", "c")` vs `("a", "bc")`).

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::EventKind;

/// Domain separation: a later scheme changes this and cannot collide with this one.
const SCHEME: &[u8] = b"imapapi/event-id/1";

/// One part of a change's identity.
#[derive(Debug, Clone, Copy)]
pub enum IdPart<'a> {
    Text(&'a str),
    Number(u64),
}

impl<'a> From<&'a str> for IdPart<'a> {
    fn from(s: &'a str) -> Self {
        IdPart::Text(s)
    }
}

impl From<u32> for IdPart<'_> {
    fn from(n: u32) -> Self {
        IdPart::Number(n.into())
    }
}

impl From<u64> for IdPart<'_> {
    fn from(n: u64) -> Self {
        IdPart::Number(n)
    }
}

/// The id of the change `kind` of `account` identified by `parts`: the same inputs give the
/// same id in every process and version of this scheme.
pub fn change_id(account: &str, kind: EventKind, parts: &[IdPart<'_>]) -> Uuid {
    let mut hash = Sha256::new();
    hash.update(SCHEME);
    let mut field = |tag: u8, bytes: &[u8]| {
        hash.update([tag]);
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    field(b'a', account.as_bytes());
    field(b'k', kind.name().as_bytes());
    for part in parts {
        match part {
            IdPart::Text(s) => field(b't', s.as_bytes()),
            IdPart::Number(n) => field(b'n', &n.to_be_bytes()),
        }
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_change_same_id_and_version_8() {
        let a = change_id(
            "acc",
            EventKind::MessageNew,
            &["INBOX".into(), 7u32.into(), 42u32.into()],
        );
        let b = change_id(
            "acc",
            EventKind::MessageNew,
            &["INBOX".into(), 7u32.into(), 42u32.into()],
        );
        assert_eq!(a, b);
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn every_input_counts() {
        let base = change_id("acc", EventKind::MessageNew, &["INBOX".into(), 7u32.into()]);
        for other in [
            change_id("acd", EventKind::MessageNew, &["INBOX".into(), 7u32.into()]),
            change_id(
                "acc",
                EventKind::MessageDeleted,
                &["INBOX".into(), 7u32.into()],
            ),
            change_id("acc", EventKind::MessageNew, &["Inbox".into(), 7u32.into()]),
            change_id("acc", EventKind::MessageNew, &["INBOX".into(), 8u32.into()]),
            change_id("acc", EventKind::MessageNew, &["INBOX".into(), "7".into()]),
            change_id("acc", EventKind::MessageNew, &["INBOX".into()]),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn parts_do_not_run_together() {
        let ab_c = change_id("x", EventKind::MailboxNew, &["ab".into(), "c".into()]);
        let a_bc = change_id("x", EventKind::MailboxNew, &["a".into(), "bc".into()]);
        assert_ne!(ab_c, a_bc);
        // Nor does the account run into the first part.
        let acc = change_id("ab", EventKind::MailboxNew, &["c".into()]);
        let acc2 = change_id("a", EventKind::MailboxNew, &["bc".into()]);
        assert_ne!(acc, acc2);
    }
}
