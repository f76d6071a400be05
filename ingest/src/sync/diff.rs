//! Diffing what a folder's server holds against its stored index: a full
//! `UID FETCH 1:* (UID FLAGS)` listing, or QRESYNC's vanished ranges and changed messages.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use imapapi_common::model::FolderState;

use super::SyncError;
use crate::imap::Imap;
use crate::index::{FolderIndex, flag_changes};
use crate::message_flags::MessageFlags;

/// The changes found in one folder.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    pub removed: Vec<u32>,
    pub updated: Vec<FlagUpdate>,
    /// uid, flags; ascending by uid.
    pub new: Vec<(u32, MessageFlags)>,
}

/// A message whose flags changed.
#[derive(Debug, PartialEq)]
pub struct FlagUpdate {
    pub uid: u32,
    /// As indexed, by name.
    pub old: Vec<String>,
    /// As the server has them now.
    pub new: MessageFlags,
}

/// Sort one server entry into the diff: new, changed, or unchanged. Takes the flags by
/// value so a 100,000-message listing is moved into the diff, not copied; names are only
/// built for a message whose flags differ.
fn classify(d: &mut Diff, index: &FolderIndex, uid: u32, flags: MessageFlags) {
    match index.holds(uid, &flags) {
        None => d.new.push((uid, flags)),
        Some(true) => {}
        Some(false) => {
            let old = index.flags(uid).unwrap_or_default();
            let changes = flag_changes(&old, &flags.names());
            if !(changes.added.is_empty() && changes.deleted.is_empty()) {
                d.updated.push(FlagUpdate {
                    uid,
                    old,
                    new: flags,
                });
            }
        }
    }
}

/// Diff a full `uid → flags` listing from the server against the index.
pub fn diff_full(index: &FolderIndex, server: Vec<(u32, MessageFlags)>) -> Diff {
    let mut d = Diff {
        removed: removed_from(index, &server),
        ..Diff::default()
    };
    for (uid, flags) in server {
        classify(&mut d, index, uid, flags);
    }
    d.new.sort_by_key(|(u, _)| *u);
    d
}

/// The indexed uids missing from a full listing. A server lists by sequence number, so in
/// ascending uid order like the index: one walk along both, without a set of 100,000
/// uids; a set only for a listing out of order.
fn removed_from(index: &FolderIndex, server: &[(u32, MessageFlags)]) -> Vec<u32> {
    if index.is_empty() {
        return Vec::new();
    }
    if !server.is_sorted_by_key(|(u, _)| *u) {
        let on_server: HashSet<u32> = server.iter().map(|(u, _)| *u).collect();
        return index.uids().filter(|u| !on_server.contains(u)).collect();
    }
    let mut listed = server.iter().map(|(u, _)| *u).peekable();
    index
        .uids()
        .filter(|&u| {
            while listed.next_if(|&l| l < u).is_some() {}
            listed.peek() != Some(&u)
        })
        .collect()
}

/// Diff QRESYNC output (vanished ranges and changed messages) against the index.
pub fn diff_changes(
    index: &FolderIndex,
    vanished: &[RangeInclusive<u32>],
    changed: Vec<(u32, MessageFlags)>,
) -> Diff {
    let mut d = Diff::default();
    let span: u64 = vanished
        .iter()
        .map(|r| u64::from(*r.end()) - u64::from(*r.start()) + 1)
        .sum();
    if span > index.len() as u64 {
        d.removed = index
            .uids()
            .filter(|u| vanished.iter().any(|r| r.contains(u)))
            .collect();
    } else {
        for r in vanished {
            d.removed.extend(r.clone().filter(|u| index.contains(*u)));
        }
    }
    let removed: HashSet<u32> = d.removed.iter().copied().collect();
    let mut seen = HashSet::new();
    for (uid, flags) in changed {
        if seen.insert(uid) && !removed.contains(&uid) {
            classify(&mut d, index, uid, flags);
        }
    }
    d.new.sort_by_key(|(u, _)| *u);
    d
}

/// What changed in the selected folder since `index`: with QRESYNC, only what the
/// server reported on EXAMINE (plus anything past the stored UIDNEXT); otherwise a full
/// `UID FETCH 1:* (UID FLAGS)` compared entry by entry.
pub(super) async fn read_diff(
    imap: &mut Imap,
    sel: &mut crate::imap::Selected,
    index: &FolderIndex,
    stored: Option<&FolderState>,
    qresync_used: bool,
) -> Result<Diff, SyncError> {
    Ok(if qresync_used {
        let mut changed: Vec<(u32, MessageFlags)> = std::mem::take(&mut sel.fetched)
            .into_iter()
            .filter_map(|f| Some((f.uid()?, MessageFlags::from_names(&f.into_flags()?))))
            .collect();
        let prev_next = stored.map(|s| s.uid_next).unwrap_or(1).max(1);
        if sel.uid_next.is_some_and(|n| n > prev_next) && sel.exists > 0 {
            let newer = imap.fetch_flags(&format!("{prev_next}:*")).await?;
            changed.extend(newer.into_iter().filter(|(u, _)| *u >= prev_next));
        }
        diff_changes(index, &sel.vanished, changed)
    } else {
        let server: Vec<(u32, MessageFlags)> = if sel.exists > 0 {
            imap.fetch_flags("1:*").await?
        } else {
            Vec::new()
        };
        diff_full(index, server)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> MessageFlags {
        MessageFlags::from_names(v)
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn update(uid: u32, old: &[&str], new: &[&str]) -> FlagUpdate {
        FlagUpdate {
            uid,
            old: names(old),
            new: s(new),
        }
    }

    fn index(entries: &[(u32, &[&str])]) -> FolderIndex {
        let mut i = FolderIndex::new();
        for (u, f) in entries {
            i.set(*u, &s(f));
        }
        i
    }

    #[test]
    fn full_diff_finds_removed_updated_and_new() {
        let i = index(&[(1, &[]), (2, &["\\Seen"]), (3, &[])]);
        let server = vec![
            (2, s(&[])),
            (3, s(&[])),
            (5, s(&["\\Flagged"])),
            (4, s(&[])),
        ];
        let d = diff_full(&i, server);
        assert_eq!(d.removed, vec![1]);
        assert_eq!(d.updated, vec![update(2, &["\\Seen"], &[])]);
        assert_eq!(d.new, vec![(4, s(&[])), (5, s(&["\\Flagged"]))]);
    }

    #[test]
    fn removed_uids_are_found_in_order_and_out_of_order() {
        let i = index(&[
            (1, &[]),
            (2, &[]),
            (5, &[]),
            (6, &[]),
            (4097, &[]),
            (9000, &[]),
        ]);
        let listing = |uids: &[u32]| uids.iter().map(|&u| (u, s(&[]))).collect::<Vec<_>>();
        for listed in [
            vec![2, 3, 6, 4097],
            vec![],
            vec![1, 2, 5, 6, 4097, 9000, 9001],
            vec![7, 8],
        ] {
            let mut reversed = listing(&listed);
            reversed.reverse();
            let want: Vec<u32> = i.uids().filter(|u| !listed.contains(u)).collect();
            assert_eq!(removed_from(&i, &listing(&listed)), want, "{listed:?}");
            assert_eq!(removed_from(&i, &reversed), want, "{listed:?} reversed");
        }
    }

    #[test]
    fn only_real_flag_changes_are_updates() {
        let i = index(&[(1, &["\\Seen", "$Work"]), (2, &["\\Custom"]), (3, &[])]);
        let server = vec![
            (1, s(&["$Work", "\\SEEN", "\\Recent"])),
            (2, s(&["\\custom"])),
            (3, s(&["$Work"])),
        ];
        let d = diff_full(&i, server);
        assert_eq!(d.updated, vec![update(3, &[], &["$Work"])]);
        assert!(d.removed.is_empty() && d.new.is_empty());
    }

    #[test]
    fn qresync_diff_uses_ranges_both_ways() {
        let i = index(&[(1, &[]), (2, &[]), (10, &["\\Seen"])]);
        let d = diff_changes(&i, &[1..=1, 5..=7], vec![(10, s(&[])), (11, s(&[]))]);
        assert_eq!(d.removed, vec![1]);
        assert_eq!(d.updated.len(), 1);
        assert_eq!(d.new, vec![(11, s(&[]))]);
        // a huge range is checked against the index instead of enumerated
        let d = diff_changes(&i, &[1..=u32::MAX - 1], vec![]);
        assert_eq!(d.removed, vec![1, 2, 10]);
    }
}
