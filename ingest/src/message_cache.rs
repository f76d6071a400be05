//! What never changes about a message, decoded once and kept for the listings and details
//! that follow. Under one UIDVALIDITY a UID always names the same message (RFC 3501 §2.3.1.1):
//! its headers, addresses, size and parts stay as they were; only its flags (and Gmail's
//! labels) move. So a listing page whose messages were read before asks the server for
//! `UID FLAGS` only: a fraction of the server's work, and none of the MIME decoding that
//! made up most of the gateway's own cost per call. A reset folder gets a new mailbox id
//! and UIDVALIDITY, so nothing cached under the old ones is ever served for it.
//!
//! One cache per ingest process, over all its accounts, bounded by `ingest.messageCache`
//! bytes (the size of each value as JSON); quick_cache evicts the least used first.

use std::io::Write;
use std::sync::Arc;

use imapapi_common::command::TextType;
use imapapi_common::model::{MessageDetails, MessageListEntry, TextInfo};
use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

use crate::message::partial::TextPart;

/// One incarnation of one account's folder: its stored mailbox id and its UIDVALIDITY.
#[derive(Debug, Clone, Copy)]
pub struct FolderKey<'a> {
    pub account: &'a str,
    pub mailbox_id: u32,
    pub uid_validity: u32,
}

/// What a cached value is: a listing entry, message details, or the mark that a folder has
/// entries in the cache (its listings then read the flags first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    Entry,
    Details,
    Warm,
}

/// The key as stored. Field order and types hash exactly as [`KeyRef`]'s (`String` hashes
/// as `str`), so lookups need no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    account: String,
    mailbox_id: u32,
    uid_validity: u32,
    uid: u32,
    shape: Shape,
}

#[derive(Debug, Hash)]
struct KeyRef<'a> {
    account: &'a str,
    mailbox_id: u32,
    uid_validity: u32,
    uid: u32,
    shape: Shape,
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.uid == key.uid
            && self.mailbox_id == key.mailbox_id
            && self.uid_validity == key.uid_validity
            && self.shape == key.shape
            && self.account == key.account
    }
}

impl FolderKey<'_> {
    fn at(&self, uid: u32, shape: Shape) -> KeyRef<'_> {
        KeyRef {
            account: self.account,
            mailbox_id: self.mailbox_id,
            uid_validity: self.uid_validity,
            uid,
            shape,
        }
    }

    fn owned(&self, uid: u32, shape: Shape) -> Key {
        Key {
            account: self.account.to_string(),
            mailbox_id: self.mailbox_id,
            uid_validity: self.uid_validity,
            uid,
            shape,
        }
    }
}

/// Message details as cached: without flags, labels and text, with the text parts its
/// BODYSTRUCTURE names (every plain and html part), so a `textType` call needs no
/// BODYSTRUCTURE either.
#[derive(Debug, Clone)]
pub struct CachedDetails {
    pub details: MessageDetails,
    /// The id and sizes the text goes under.
    pub text_info: Option<TextInfo>,
    pub text_parts: Vec<TextPart>,
}

impl CachedDetails {
    /// The text parts `text_type` wants, in order.
    pub fn text_parts_for(&self, text_type: TextType) -> Vec<TextPart> {
        self.text_parts
            .iter()
            .filter(|p| {
                if p.html {
                    text_type.wants_html()
                } else {
                    text_type.wants_plain()
                }
            })
            .cloned()
            .collect()
    }
}

#[derive(Debug, Clone)]
enum Value {
    Entry(Arc<MessageListEntry>),
    Details(Arc<CachedDetails>),
    Warm,
}

/// A value with its weight, measured once when it is put in.
#[derive(Debug, Clone)]
struct Weighed {
    bytes: u64,
    value: Value,
}

#[derive(Debug, Clone, Copy)]
struct ByBytes;

impl Weighter<Key, Weighed> for ByBytes {
    fn weight(&self, key: &Key, value: &Weighed) -> u64 {
        // The key and the bookkeeping around each item count too.
        value.bytes + key.account.len() as u64 + 64
    }
}

/// The size of `value` as JSON, counted without building it.
fn json_size(value: &impl serde::Serialize) -> u64 {
    struct Count(u64);
    impl Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Decoded messages of every account of this process (see the module doc).
pub struct MessageCache {
    /// `None` when `ingest.messageCache` is 0.
    cache: Option<Cache<Key, Weighed, ByBytes>>,
}

/// A rough average size of an entry, for the cache's initial table size.
const TYPICAL_ENTRY: u64 = 1024;

impl MessageCache {
    /// A cache of at most `bytes` (0: one that keeps nothing).
    pub fn new(bytes: u64) -> Arc<Self> {
        let cache = (bytes > 0).then(|| {
            let items = (bytes / TYPICAL_ENTRY).clamp(16, 1 << 20) as usize;
            Cache::with_weighter(items, bytes, ByBytes)
        });
        Arc::new(MessageCache { cache })
    }

    /// Whether this cache keeps anything.
    pub fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// Whether `folder` has had entries put in (since its mark was last evicted).
    pub fn is_warm(&self, folder: FolderKey<'_>) -> bool {
        self.get(folder.at(0, Shape::Warm)).is_some()
    }

    /// The cached listing entry of `uid` (flags and labels empty).
    pub fn entry(&self, folder: FolderKey<'_>, uid: u32) -> Option<Arc<MessageListEntry>> {
        match self.get(folder.at(uid, Shape::Entry))?.value {
            Value::Entry(e) => Some(e),
            _ => None,
        }
    }

    /// The cached details of `uid` (flags, labels and text empty).
    pub fn details(&self, folder: FolderKey<'_>, uid: u32) -> Option<Arc<CachedDetails>> {
        match self.get(folder.at(uid, Shape::Details))?.value {
            Value::Details(d) => Some(d),
            _ => None,
        }
    }

    /// Keep what never changes of each of `entries` (in order, as kept); marks the folder
    /// warm once, when there were any.
    pub fn put_entries(
        &self,
        folder: FolderKey<'_>,
        entries: &[MessageListEntry],
    ) -> Vec<Arc<MessageListEntry>> {
        let kept: Vec<_> = entries.iter().map(|e| self.put_entry(folder, e)).collect();
        if !kept.is_empty() {
            self.put(folder.owned(0, Shape::Warm), 0, Value::Warm);
        }
        kept
    }

    fn put_entry(&self, folder: FolderKey<'_>, entry: &MessageListEntry) -> Arc<MessageListEntry> {
        let mut kept = entry.clone();
        kept.flags = Vec::new();
        kept.labels = None;
        kept.text = None;
        kept.headers = None;
        let kept = Arc::new(kept);
        self.put(
            folder.owned(entry.uid, Shape::Entry),
            json_size(&*kept),
            Value::Entry(kept.clone()),
        );
        kept
    }

    /// Keep what never changes of `details`, with its text parts.
    pub fn put_details(
        &self,
        folder: FolderKey<'_>,
        mut kept: CachedDetails,
    ) -> Arc<CachedDetails> {
        let d = &mut kept.details;
        d.flags = Vec::new();
        d.labels = None;
        d.text = None;
        d.state = None;
        let parts: u64 = kept
            .text_parts
            .iter()
            .map(|p| p.part.len() as u64 + 64)
            .sum();
        let bytes = json_size(&kept.details) + json_size(&kept.text_info) + parts;
        let uid = kept.details.uid;
        let kept = Arc::new(kept);
        self.put(
            folder.owned(uid, Shape::Details),
            bytes,
            Value::Details(kept.clone()),
        );
        kept
    }

    fn get(&self, key: KeyRef<'_>) -> Option<Weighed> {
        self.cache.as_ref()?.get(&key)
    }

    fn put(&self, key: Key, bytes: u64, value: Value) {
        if let Some(cache) = &self.cache {
            cache.insert(key, Weighed { bytes, value });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uid: u32, subject: &str) -> MessageListEntry {
        MessageListEntry {
            id: format!("id{uid}"),
            uid,
            subject: Some(subject.to_string()),
            flags: vec!["\\Seen".into()],
            labels: Some(vec!["Work".into()]),
            ..Default::default()
        }
    }

    const INBOX: FolderKey<'static> = FolderKey {
        account: "a",
        mailbox_id: 1,
        uid_validity: 7,
    };

    #[test]
    fn entries_come_back_without_what_changes() {
        let cache = MessageCache::new(1 << 20);
        assert!(!cache.is_warm(INBOX));
        assert!(cache.entry(INBOX, 5).is_none());
        cache.put_entries(INBOX, &[entry(5, "Hello")]);
        assert!(cache.is_warm(INBOX));
        let e = cache.entry(INBOX, 5).unwrap();
        assert_eq!(e.subject.as_deref(), Some("Hello"));
        assert!(e.flags.is_empty(), "flags are read fresh");
        assert_eq!(e.labels, None, "labels are read fresh");
    }

    #[test]
    fn another_account_folder_or_incarnation_sees_nothing() {
        let cache = MessageCache::new(1 << 20);
        cache.put_entries(INBOX, &[entry(5, "Hello")]);
        let others = [
            FolderKey {
                account: "b",
                ..INBOX
            },
            FolderKey {
                mailbox_id: 2,
                ..INBOX
            },
            FolderKey {
                uid_validity: 8,
                ..INBOX
            },
        ];
        for other in others {
            assert!(cache.entry(other, 5).is_none(), "{other:?}");
            assert!(!cache.is_warm(other), "{other:?}");
        }
        assert!(cache.details(INBOX, 5).is_none(), "entries are not details");
    }

    #[test]
    fn text_types_pick_their_parts_in_order() {
        let part = |name: &str, html| TextPart {
            part: name.into(),
            html,
            wire: crate::message::Wire {
                encoding: "7bit".into(),
                charset: None,
            },
            size: 10,
        };
        let cached = CachedDetails {
            details: MessageDetails::default(),
            text_info: None,
            text_parts: vec![part("1", false), part("2", true), part("3", false)],
        };
        let names = |t| {
            cached
                .text_parts_for(t)
                .into_iter()
                .map(|p| p.part)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(TextType::Plain), ["1", "3"]);
        assert_eq!(names(TextType::Html), ["2"]);
        assert_eq!(names(TextType::All), ["1", "2", "3"]);
    }

    #[test]
    fn a_zero_size_cache_keeps_nothing() {
        let cache = MessageCache::new(0);
        assert!(!cache.enabled());
        cache.put_entries(INBOX, &[entry(5, "Hello")]);
        assert!(cache.entry(INBOX, 5).is_none());
        assert!(!cache.is_warm(INBOX));
    }

    #[test]
    fn the_byte_bound_holds() {
        let cache = MessageCache::new(64 << 10);
        let subject = "x".repeat(1000);
        for uid in 1..=1000 {
            cache.put_entries(INBOX, &[entry(uid, &subject)]);
        }
        let kept = (1..=1000)
            .filter(|u| cache.entry(INBOX, *u).is_some())
            .count();
        assert!(kept > 10, "some are kept: {kept}");
        assert!(kept < 70, "at most ~64 KiB of ~1 KiB entries: {kept}");
    }
}
