//! The uid→flags index of one folder and its compact stored form.
//!
//! Sync diffs the server's `UID FETCH 1:* (FLAGS)` against this index, so it must hold every
//! message of every folder of every owned account: it has to be small both in memory and in
//! the store (the original spent 1–2 MiB of Redis per account on the same information).
//!
//! Uids are grouped in chunks of 4096 (`uid >> 12`) so that a flag change rewrites one small
//! chunk rather than the whole folder. A stored chunk is:
//!
//! ```text
//! version (1) ‖ varint K ‖ K × (varint len ‖ utf-8 keyword)
//!             ‖ per message: varint uid delta ‖ flags byte [‖ varint n ‖ n × varint keyword index]
//! ```
//!
//! The flags byte holds the common flags as bits, so a typical message costs two bytes; the
//! keyword list only follows when bit 7 is set, and names come from the chunk's own table so
//! a chunk decodes on its own.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use imapapi_common::model::event::FlagChanges;
use imapapi_common::store::{IndexChunk, IndexChunkUpdate};

use crate::message_flags::{MessageFlags, bit_names, is_recent};

const VERSION: u8 = 1;
const CHUNK_SHIFT: u32 = 12;
const LOW_MASK: u32 = (1 << CHUNK_SHIFT) - 1;
const HAS_KEYWORDS: u8 = 0x80;

/// A stored chunk that cannot be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    #[error("index chunk {chunk}: unsupported version {version}")]
    Version { chunk: u32, version: u8 },
    #[error("index chunk {chunk}: truncated")]
    Truncated { chunk: u32 },
    #[error("index chunk {chunk}: {reason}")]
    Corrupt { chunk: u32, reason: &'static str },
}

/// One message in memory: 8 bytes, so a 100,000-message folder costs under a MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    low: u16,
    bits: u8,
    /// Index into `FolderIndex::keyword_sets`; 0 is the empty set. u32 because a folder
    /// with per-message keywords can exceed 65536 distinct combinations.
    keywords: u32,
}

#[derive(Debug, Default, Clone)]
struct Chunk {
    /// Sorted by `low`.
    entries: Vec<Entry>,
}

/// The uid → flags map of one folder.
#[derive(Debug, Clone)]
pub struct FolderIndex {
    chunks: BTreeMap<u32, Chunk>,
    dirty: BTreeSet<u32>,
    len: usize,
    /// Interned keyword names; messages share a few, so they are stored once per folder.
    /// Never shrunk: bounded by the distinct keywords and combinations the folder has seen,
    /// and rebuilt from the chunks on every load.
    keywords: Vec<String>,
    keyword_ids: HashMap<String, u32>,
    /// Interned sorted sets of keyword ids; entry 0 is the empty set.
    keyword_sets: Vec<Vec<u32>>,
    keyword_set_ids: HashMap<Vec<u32>, u32>,
}

impl Default for FolderIndex {
    fn default() -> Self {
        Self::new()
    }
}

fn split(uid: u32) -> (u32, u16) {
    (uid >> CHUNK_SHIFT, (uid & LOW_MASK) as u16)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    chunk: u32,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, IndexError> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or(IndexError::Truncated { chunk: self.chunk })?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, IndexError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.corrupt("varint too long"))
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], IndexError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(IndexError::Truncated { chunk: self.chunk })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn corrupt(&self, reason: &'static str) -> IndexError {
        IndexError::Corrupt {
            chunk: self.chunk,
            reason,
        }
    }
}

impl FolderIndex {
    pub fn new() -> Self {
        FolderIndex {
            chunks: BTreeMap::new(),
            dirty: BTreeSet::new(),
            len: 0,
            keywords: Vec::new(),
            keyword_ids: HashMap::new(),
            keyword_sets: vec![Vec::new()],
            keyword_set_ids: HashMap::from([(Vec::new(), 0)]),
        }
    }

    /// Rebuild from stored chunks. Nothing is dirty afterwards.
    pub fn from_chunks(chunks: &[IndexChunk]) -> Result<FolderIndex, IndexError> {
        let mut index = FolderIndex::new();
        for c in chunks {
            index.decode_chunk(c)?;
        }
        Ok(index)
    }

    fn decode_chunk(&mut self, c: &IndexChunk) -> Result<(), IndexError> {
        let mut r = Reader {
            data: &c.data,
            pos: 0,
            chunk: c.chunk,
        };
        if c.chunk > (u32::MAX >> CHUNK_SHIFT) {
            return Err(r.corrupt("chunk number out of range"));
        }
        let version = r.byte()?;
        if version != VERSION {
            return Err(IndexError::Version {
                chunk: c.chunk,
                version,
            });
        }
        let k = r.varint()?;
        // Every keyword takes at least one byte, so a larger count is a lie, not a big table.
        if k > c.data.len() as u64 {
            return Err(r.corrupt("keyword count exceeds chunk size"));
        }
        let mut table = Vec::with_capacity(k as usize);
        for _ in 0..k {
            let n = r.varint()?;
            let n = usize::try_from(n).map_err(|_| r.corrupt("keyword length"))?;
            let bytes = r.bytes(n)?;
            let Ok(s) = std::str::from_utf8(bytes) else {
                return Err(r.corrupt("keyword not utf-8"));
            };
            table.push(self.intern_keyword(s));
        }
        let mut entries: Vec<Entry> = Vec::new();
        let mut prev: Option<u64> = None;
        while !r.done() {
            let delta = r.varint()?;
            let low = match prev {
                None => delta,
                Some(p) => {
                    if delta == 0 {
                        return Err(r.corrupt("uids not ascending"));
                    }
                    p.checked_add(delta)
                        .ok_or_else(|| r.corrupt("uid overflow"))?
                }
            };
            if low > u64::from(LOW_MASK) {
                return Err(r.corrupt("uid outside its chunk"));
            }
            prev = Some(low);
            let flags = r.byte()?;
            let mut keywords = 0;
            if flags & HAS_KEYWORDS != 0 {
                let n = r.varint()?;
                if n > table.len() as u64 {
                    return Err(r.corrupt("too many keywords"));
                }
                let mut set = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let i = r.varint()?;
                    let id = usize::try_from(i)
                        .ok()
                        .and_then(|i| table.get(i))
                        .ok_or_else(|| r.corrupt("keyword index out of range"))?;
                    set.push(*id);
                }
                keywords = self.intern_set(set);
            }
            entries.push(Entry {
                low: low as u16,
                bits: flags & !HAS_KEYWORDS,
                keywords,
            });
        }
        if entries.is_empty() {
            return Ok(());
        }
        // A chunk stored twice (should not happen) replaces the earlier one rather than
        // double counting.
        if let Some(old) = self.chunks.insert(c.chunk, Chunk { entries }) {
            self.len -= old.entries.len();
        }
        self.len += self.chunks[&c.chunk].entries.len();
        Ok(())
    }

    fn intern_keyword(&mut self, k: &str) -> u32 {
        if let Some(&id) = self.keyword_ids.get(k) {
            return id;
        }
        let id = self.keywords.len() as u32;
        self.keywords.push(k.to_string());
        self.keyword_ids.insert(k.to_string(), id);
        id
    }

    fn intern_set(&mut self, mut set: Vec<u32>) -> u32 {
        set.sort_unstable();
        set.dedup();
        if let Some(&id) = self.keyword_set_ids.get(&set) {
            return id;
        }
        let id = self.keyword_sets.len() as u32;
        self.keyword_sets.push(set.clone());
        self.keyword_set_ids.insert(set, id);
        id
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn entry(&self, uid: u32) -> Option<&Entry> {
        let (c, low) = split(uid);
        let chunk = self.chunks.get(&c)?;
        let i = chunk.entries.binary_search_by_key(&low, |e| e.low).ok()?;
        Some(&chunk.entries[i])
    }

    pub fn contains(&self, uid: u32) -> bool {
        self.entry(uid).is_some()
    }

    /// The flags of `uid`: bit flags in a fixed order, then keywords in first-seen order.
    pub fn flags(&self, uid: u32) -> Option<Vec<String>> {
        let e = self.entry(uid)?;
        let keywords = self.keyword_sets[e.keywords as usize]
            .iter()
            .map(|&k| self.keywords[k as usize].clone());
        Some(
            bit_names(e.bits)
                .map(str::to_string)
                .chain(keywords)
                .collect(),
        )
    }

    /// Whether `uid` is indexed with exactly `flags` (`None`: not indexed). Reads without
    /// allocating, so a full diff of a large folder builds nothing for its unchanged
    /// messages. `false` may still be no change to [`flag_changes`] (a system flag outside
    /// the bits in another case).
    pub fn holds(&self, uid: u32, flags: &MessageFlags) -> Option<bool> {
        let e = self.entry(uid)?;
        if flags.bits() != e.bits {
            return Some(false);
        }
        let stored = &self.keyword_sets[e.keywords as usize];
        // `others` holds each flag once, so equal sizes and each one stored is equality;
        // a keyword never indexed is in no stored set.
        Some(
            stored.len() == flags.others().len()
                && flags.others().iter().all(|k| {
                    self.keyword_ids
                        .get(k.as_str())
                        .is_some_and(|id| stored.binary_search(id).is_ok())
                }),
        )
    }

    /// Insert or replace the flags of `uid`.
    pub fn set(&mut self, uid: u32, flags: &MessageFlags) {
        let keywords = if flags.others().is_empty() {
            0
        } else {
            let ids = flags
                .others()
                .iter()
                .map(|k| self.intern_keyword(k))
                .collect();
            self.intern_set(ids)
        };
        let (c, low) = split(uid);
        let entry = Entry {
            low,
            bits: flags.bits(),
            keywords,
        };
        let chunk = self.chunks.entry(c).or_default();
        match chunk.entries.binary_search_by_key(&low, |e| e.low) {
            Ok(i) => {
                if chunk.entries[i] == entry {
                    return;
                }
                chunk.entries[i] = entry;
            }
            Err(i) => {
                chunk.entries.insert(i, entry);
                self.len += 1;
            }
        }
        self.dirty.insert(c);
    }

    pub fn remove(&mut self, uid: u32) -> bool {
        let (c, low) = split(uid);
        let Some(chunk) = self.chunks.get_mut(&c) else {
            return false;
        };
        let Ok(i) = chunk.entries.binary_search_by_key(&low, |e| e.low) else {
            return false;
        };
        chunk.entries.remove(i);
        if chunk.entries.is_empty() {
            self.chunks.remove(&c);
        }
        self.len -= 1;
        self.dirty.insert(c);
        true
    }

    /// All uids, ascending.
    pub fn uids(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks.iter().flat_map(|(&c, chunk)| {
            chunk
                .entries
                .iter()
                .map(move |e| (c << CHUNK_SHIFT) | u32::from(e.low))
        })
    }

    pub fn max_uid(&self) -> Option<u32> {
        let (&c, chunk) = self.chunks.iter().next_back()?;
        chunk
            .entries
            .last()
            .map(|e| (c << CHUNK_SHIFT) | u32::from(e.low))
    }

    /// Encoded changed chunks since the last call; an emptied chunk comes back as `None`.
    pub fn take_dirty(&mut self) -> Vec<IndexChunkUpdate> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|c| IndexChunkUpdate {
                chunk: c,
                data: self.chunks.get(&c).map(|chunk| self.encode(chunk)),
            })
            .collect()
    }

    /// Make the next `take_dirty` return every chunk (after a reset, to rewrite all).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.chunks.keys().copied());
    }

    fn encode(&self, chunk: &Chunk) -> Vec<u8> {
        // The chunk's keyword table holds only the keywords its messages use.
        let mut table: Vec<u32> = Vec::new();
        let mut local: HashMap<u32, u64> = HashMap::new();
        for e in &chunk.entries {
            for &k in &self.keyword_sets[e.keywords as usize] {
                local.entry(k).or_insert_with(|| {
                    table.push(k);
                    (table.len() - 1) as u64
                });
            }
        }
        let mut out = Vec::with_capacity(2 + chunk.entries.len() * 2);
        out.push(VERSION);
        put_varint(&mut out, table.len() as u64);
        for &k in &table {
            let name = self.keywords[k as usize].as_bytes();
            put_varint(&mut out, name.len() as u64);
            out.extend_from_slice(name);
        }
        let mut prev: Option<u16> = None;
        for e in &chunk.entries {
            put_varint(&mut out, u64::from(e.low - prev.unwrap_or(0)));
            prev = Some(e.low);
            let set = &self.keyword_sets[e.keywords as usize];
            if set.is_empty() {
                out.push(e.bits);
            } else {
                out.push(e.bits | HAS_KEYWORDS);
                put_varint(&mut out, set.len() as u64);
                for k in set {
                    put_varint(&mut out, local[k]);
                }
            }
        }
        out
    }
}

fn same_flag(a: &str, b: &str) -> bool {
    // System flags (`\Seen`) are case-insensitive by RFC 3501; servers echo keywords as
    // they were stored, so those compare exactly.
    if a.starts_with('\\') || b.starts_with('\\') {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// What changed between two flag lists, in the order the flags appear in each list.
/// `\Recent` is never a change (see [`FolderIndex::set`]).
pub fn flag_changes(old: &[String], new: &[String]) -> FlagChanges {
    let diff = |from: &[String], against: &[String]| {
        let mut out: Vec<String> = Vec::new();
        for f in from {
            if !is_recent(f)
                && !against.iter().any(|g| same_flag(f, g))
                && !out.iter().any(|g| same_flag(f, g))
            {
                out.push(f.clone());
            }
        }
        out
    };
    FlagChanges {
        added: diff(new, old),
        deleted: diff(old, new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn m(v: &[&str]) -> MessageFlags {
        MessageFlags::from_names(v)
    }

    fn reload(idx: &mut FolderIndex, store: &mut BTreeMap<u32, Vec<u8>>) -> FolderIndex {
        for u in idx.take_dirty() {
            match u.data {
                Some(d) => store.insert(u.chunk, d),
                None => store.remove(&u.chunk),
            };
        }
        let chunks: Vec<IndexChunk> = store
            .iter()
            .map(|(&chunk, data)| IndexChunk {
                chunk,
                data: data.clone(),
            })
            .collect();
        FolderIndex::from_chunks(&chunks).unwrap()
    }

    #[test]
    fn round_trip() {
        let mut idx = FolderIndex::new();
        idx.set(1, &m(&["\\Seen"]));
        idx.set(2, &m(&["\\Recent"]));
        idx.set(5, &m(&["\\seen", "\\Flagged", "$Forwarded", "\\Draft"]));
        idx.set(7, &m(&["\\Answered", "\\Deleted", "$junk"]));
        let mut store = BTreeMap::new();
        let back = reload(&mut idx, &mut store);
        assert_eq!(back.len(), 4);
        assert_eq!(back.uids().collect::<Vec<_>>(), vec![1, 2, 5, 7]);
        assert_eq!(back.flags(1).unwrap(), s(&["\\Seen"]));
        assert_eq!(back.flags(2).unwrap(), Vec::<String>::new());
        assert_eq!(
            back.flags(5).unwrap(),
            s(&["\\Seen", "\\Flagged", "\\Draft", "$Forwarded"])
        );
        assert_eq!(
            back.flags(7).unwrap(),
            s(&["\\Answered", "\\Deleted", "$Junk"])
        );
        assert!(back.flags(3).is_none());
        assert_eq!(back.max_uid(), Some(7));
        assert!(idx.take_dirty().is_empty(), "nothing dirty after take");
    }

    #[test]
    fn chunk_boundaries() {
        let mut idx = FolderIndex::new();
        let uids = [0u32, 4095, 4096, 4097, 8191, 8192, u32::MAX - 1, u32::MAX];
        for &u in &uids {
            idx.set(u, &m(&["\\Seen"]));
        }
        let dirty = idx.take_dirty();
        let chunks: Vec<u32> = dirty.iter().map(|d| d.chunk).collect();
        assert_eq!(chunks, vec![0, 1, 2, (u32::MAX >> 12)]);
        let stored: Vec<IndexChunk> = dirty
            .into_iter()
            .map(|d| IndexChunk {
                chunk: d.chunk,
                data: d.data.unwrap(),
            })
            .collect();
        let back = FolderIndex::from_chunks(&stored).unwrap();
        assert_eq!(back.uids().collect::<Vec<_>>(), uids.to_vec());
        assert_eq!(back.max_uid(), Some(u32::MAX));
        // Changing one uid dirties only its chunk.
        let mut back = back;
        back.set(4097, &m(&[]));
        back.set(4097, &m(&[]));
        let d = back.take_dirty();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].chunk, 1);
        // Re-setting identical flags is not a change.
        back.set(0, &m(&["\\SEEN"]));
        assert!(back.take_dirty().is_empty());
    }

    #[test]
    fn keyword_flags() {
        let mut idx = FolderIndex::new();
        idx.set(10, &m(&["\\Seen", "Work", "$NotJunk"]));
        idx.set(11, &m(&["Work"]));
        idx.set(5000, &m(&["Ümlaut", "\\Flagged"]));
        idx.set(12, &m(&["$NotJunk", "Work"]));
        let mut store = BTreeMap::new();
        let back = reload(&mut idx, &mut store);
        assert_eq!(back.flags(10).unwrap(), s(&["\\Seen", "Work", "$NotJunk"]));
        assert_eq!(back.flags(11).unwrap(), s(&["Work"]));
        let f12 = back.flags(12).unwrap();
        assert_eq!(f12.len(), 2);
        assert!(f12.contains(&"Work".to_string()) && f12.contains(&"$NotJunk".to_string()));
        assert_eq!(back.flags(5000).unwrap(), s(&["\\Flagged", "Ümlaut"]));
        // Chunk 1 carries only its own keyword.
        assert!(!store[&1].windows(4).any(|w| w == b"Work"));
    }

    #[test]
    fn many_distinct_keyword_sets() {
        let mut idx = FolderIndex::new();
        for uid in 1..=70_000u32 {
            idx.set(uid, &MessageFlags::from_names(&[format!("k{uid}")]));
        }
        let mut store = BTreeMap::new();
        let back = reload(&mut idx, &mut store);
        assert_eq!(back.flags(1).unwrap(), s(&["k1"]));
        assert_eq!(back.flags(70_000).unwrap(), s(&["k70000"]));
        assert_eq!(idx.flags(66_000).unwrap(), s(&["k66000"]));
    }

    #[test]
    fn removal_empties_a_chunk() {
        let mut idx = FolderIndex::new();
        idx.set(1, &m(&["\\Seen"]));
        idx.set(5000, &m(&["\\Seen"]));
        let mut store = BTreeMap::new();
        reload(&mut idx, &mut store);
        assert!(idx.remove(5000));
        assert!(!idx.remove(5000));
        assert!(!idx.remove(77));
        let d = idx.take_dirty();
        assert_eq!(
            d,
            vec![IndexChunkUpdate {
                chunk: 1,
                data: None
            }]
        );
        assert_eq!(idx.len(), 1);
        assert_eq!(idx.max_uid(), Some(1));
        idx.mark_all_dirty();
        assert_eq!(idx.take_dirty().len(), 1);
        assert!(idx.remove(1));
        assert!(idx.is_empty());
        assert_eq!(idx.max_uid(), None);
    }

    #[test]
    fn rejects_bad_chunks_without_panicking() {
        let mut idx = FolderIndex::new();
        idx.set(3, &m(&["\\Seen", "kw"]));
        idx.set(9, &m(&["\\Seen"]));
        let good = idx.take_dirty().remove(0).data.unwrap();
        for cut in 0..good.len() {
            let _ = FolderIndex::from_chunks(&[IndexChunk {
                chunk: 0,
                data: good[..cut].to_vec(),
            }]);
        }
        let bad = [
            vec![2u8],
            vec![
                1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            vec![1, 0, 0x80, 0x40, 0],
            vec![1, 0, 1, 0, 0, 0],
            vec![1, 0, 1, 0x80, 1, 5],
        ];
        for b in bad {
            assert!(
                FolderIndex::from_chunks(&[IndexChunk {
                    chunk: 0,
                    data: b.clone()
                }])
                .is_err(),
                "{b:?}"
            );
        }
    }

    #[test]
    fn bytes_per_message() {
        let mut idx = FolderIndex::new();
        let n = 100_000u32;
        let mut uid = 0u32;
        for i in 0..n {
            // Gaps from deleted messages, mostly read mail, some replied/flagged/labelled.
            uid += if i % 10 == 0 { 3 } else { 1 };
            let mut f = Vec::new();
            if i % 5 != 0 {
                f.push("\\Seen".to_string());
            }
            if i % 13 == 0 {
                f.push("\\Answered".to_string());
            }
            if i % 50 == 0 {
                f.push("\\Flagged".to_string());
            }
            if i % 97 == 0 {
                f.push("$NotJunk".to_string());
            }
            if i % 211 == 0 {
                f.push("Important".to_string());
            }
            idx.set(uid, &MessageFlags::from_names(&f));
        }
        let total: usize = idx
            .take_dirty()
            .iter()
            .map(|d| d.data.as_ref().map_or(0, Vec::len))
            .sum();
        let per = total as f64 / f64::from(n);
        println!("index: {total} bytes for {n} messages = {per:.2} bytes/message");
        assert!(per < 20.0, "{per}");
    }

    #[test]
    fn holds_tells_indexed_flags_without_building_them() {
        let mut idx = FolderIndex::new();
        idx.set(1, &m(&["\\Seen", "$Work", "$Home"]));
        idx.set(2, &m(&[]));
        assert_eq!(
            idx.holds(1, &m(&["$Home", "\\seen", "$Work", "\\Recent"])),
            Some(true)
        );
        assert_eq!(idx.holds(1, &m(&["\\Seen", "$Work"])), Some(false));
        assert_eq!(
            idx.holds(1, &m(&["\\Seen", "$Work", "$Home", "$New"])),
            Some(false)
        );
        assert_eq!(
            idx.holds(1, &m(&["\\Flagged", "$Work", "$Home"])),
            Some(false)
        );
        assert_eq!(idx.holds(2, &m(&[])), Some(true));
        assert_eq!(idx.holds(2, &m(&["$Work"])), Some(false));
        assert_eq!(idx.holds(3, &m(&[])), None);
    }

    #[test]
    fn flag_changes_are_order_stable() {
        let c = flag_changes(
            &s(&["\\Seen", "Work", "\\Flagged"]),
            &s(&["\\SEEN", "$Label", "\\Answered", "work"]),
        );
        assert_eq!(c.added, s(&["$Label", "\\Answered", "work"]));
        assert_eq!(c.deleted, s(&["Work", "\\Flagged"]));
        let none = flag_changes(&s(&["\\Seen"]), &s(&["\\seen", "\\Recent"]));
        assert!(none.added.is_empty() && none.deleted.is_empty());
    }
}
