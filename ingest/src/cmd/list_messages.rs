//! `ListMessages`: one page of a folder, newest first, fetched by sequence number so the
//! page costs the same in a 100-message folder as in a 100,000-message one. A page by
//! cursor (the messages below a UID) finds that UID's sequence number first
//! ([`Imap::count_below`](crate::imap::Imap::count_below)), then fetches the same way.

use imapapi_common::command::{ListCursor, ListMessages};
use imapapi_common::model::{MessageList, MessageListEntry};

use std::collections::HashMap;
use std::sync::Arc;

use super::{CommandCx, CommandError, Execute};
use crate::decode::{self, FetchItems};
use crate::flag_reads::read_fresh;
use crate::imap::num_set;
use crate::message::Fresh;
use crate::message_cache::FolderKey;

/// Sequence numbers of one page, newest first: pages count from the end of the folder.
/// Returns `None` for a page past the end.
pub fn page_range(total: u32, page: u32, page_size: u32) -> Option<(u32, u32)> {
    let size = page_size.max(1);
    let skip = u64::from(page) * u64::from(size);
    if skip >= u64::from(total) {
        return None;
    }
    let hi = u64::from(total) - skip;
    let lo = hi.saturating_sub(u64::from(size) - 1).max(1);
    Some((lo as u32, hi as u32))
}

/// Number of pages: at least one, even for an empty folder.
pub fn page_count(total: u32, page_size: u32) -> u32 {
    total.div_ceil(page_size.max(1)).max(1)
}

/// Listing entries for a sequence or uid set (`FETCH 1:20` / `UID FETCH 5,9`), newest
/// first, with the ids and labels the server has (see [`FetchItems`]). In a folder whose
/// entries were read before, the flags (and labels) are fetched first and only the messages
/// not in the [`MessageCache`](crate::message_cache::MessageCache) are fetched whole;
/// otherwise everything is fetched in one round trip and kept. A folder that was never
/// synced has no mailbox id yet: its entries get id 0, which resolves to nothing rather
/// than to a wrong message, and are not kept.
pub async fn entries(
    cx: &mut CommandCx<'_>,
    folder: FolderKey<'_>,
    fetch: &str,
) -> Result<Vec<MessageListEntry>, CommandError> {
    let cacheable = folder.mailbox_id != 0 && cx.cache.enabled();
    let mut messages = if cacheable && cx.cache.is_warm(folder) {
        entries_over_cache(cx, folder, fetch).await?
    } else {
        let fetched = fetch_whole(cx, folder.mailbox_id, fetch).await?;
        if cacheable {
            cx.cache.put_entries(folder, &fetched);
        }
        fetched
    };
    messages.sort_by_key(|m| std::cmp::Reverse(m.uid));
    Ok(messages)
}

/// Every listing item of `fetch`, decoded as each response is read: one parse, and no
/// response kept.
async fn fetch_whole(
    cx: &mut CommandCx<'_>,
    mailbox_id: u32,
    fetch: &str,
) -> Result<Vec<MessageListEntry>, CommandError> {
    let items = FetchItems::of(cx.imap).list();
    Ok(cx
        .imap
        .fetch_decoded(&format!("{fetch} {items}"), |attrs| {
            decode::list_entry_of(mailbox_id, attrs)
        })
        .await?)
}

/// The flags of `fetch`, laid over cached entries; the messages not cached fetched whole
/// (by UID) and kept. A message expunged between the two FETCHes is left out.
async fn entries_over_cache(
    cx: &mut CommandCx<'_>,
    folder: FolderKey<'_>,
    fetch: &str,
) -> Result<Vec<MessageListEntry>, CommandError> {
    let fresh = read_fresh(cx.imap, fetch).await?;
    let mut found: Vec<(Fresh, Option<Arc<MessageListEntry>>)> = fresh
        .into_iter()
        .map(|f| {
            let cached = cx.cache.entry(folder, f.uid);
            (f, cached)
        })
        .collect();
    let missing: Vec<u32> = found
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(f, _)| f.uid)
        .collect();
    if !missing.is_empty() {
        let fetched = fetch_whole(
            cx,
            folder.mailbox_id,
            &format!("UID FETCH {}", num_set(&missing)),
        )
        .await?;
        // A page may hold up to 1000 messages: find each one's slot by uid, not by a scan.
        let slots: HashMap<u32, usize> = found
            .iter()
            .enumerate()
            .map(|(i, (f, _))| (f.uid, i))
            .collect();
        for kept in cx.cache.put_entries(folder, &fetched) {
            if let Some(&i) = slots.get(&kept.uid) {
                found[i].1 = Some(kept);
            }
        }
    }
    Ok(found
        .into_iter()
        .filter_map(|(fresh, cached)| Some(fresh.entry(cached.as_deref()?)))
        .collect())
}

/// Sequence numbers of the page below a cursor, newest first: the `page_size` messages
/// up to `below` (how many have a lower UID than the cursor). `None` when there are none.
pub fn cursor_range(below: u32, page_size: u32) -> Option<(u32, u32)> {
    (below > 0).then(|| (below.saturating_sub(page_size.max(1) - 1).max(1), below))
}

/// The page number a cursor's page starts in: the messages newer than it, in pages.
pub fn page_of(total: u32, below: u32, page_size: u32) -> u32 {
    total.saturating_sub(below) / page_size.max(1)
}

/// `nextCursor` of a page whose lowest message has `lowest` as UID: absent when nothing is
/// older (`more` is false) or the page is empty.
pub fn next_cursor(uid_validity: u32, lowest: Option<u32>, more: bool) -> Option<String> {
    let below = lowest.filter(|_| more)?;
    Some(
        ListCursor {
            uid_validity,
            below,
        }
        .encode(),
    )
}

/// 404 `FolderReset` when the cursor was made under another UIDVALIDITY.
pub fn check_cursor(cursor: Option<ListCursor>, uid_validity: u32) -> Result<(), CommandError> {
    match cursor.and_then(|c| c.folder_reset(uid_validity)) {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Where a page starts: its page number and sequence range (`None`: past the end).
async fn locate(
    cx: &mut CommandCx<'_>,
    cmd: &ListMessages,
) -> Result<(u32, Option<(u32, u32)>), CommandError> {
    let Some(cursor) = cmd.cursor else {
        let range = page_range(cx.imap.exists, cmd.page, cmd.page_size);
        return Ok((cmd.page, range));
    };
    let below = cx.imap.count_below(cursor.below).await?;
    Ok((
        page_of(cx.imap.exists, below, cmd.page_size),
        cursor_range(below, cmd.page_size),
    ))
}

impl Execute for ListMessages {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<MessageList, CommandError> {
        let validity = cx.select_path(&self.path, false).await?;
        check_cursor(self.cursor, validity)?;
        let folder = FolderKey {
            account: cx.account,
            mailbox_id: cx.mailbox_id(&self.path, Some(validity)).await?,
            uid_validity: validity,
        };
        let (page, range) = locate(cx, &self).await?;
        let mut messages = match range {
            Some((lo, hi)) => entries(cx, folder, &format!("FETCH {lo}:{hi}")).await?,
            None => Vec::new(),
        };
        // Never a message at or above the cursor, whatever the folder did meanwhile.
        if let Some(c) = self.cursor {
            messages.retain(|m| m.uid < c.below);
        }
        let more = range.is_some_and(|(lo, _)| lo > 1);
        let total = cx.imap.exists;
        Ok(MessageList {
            total,
            page,
            pages: page_count(total, self.page_size),
            next_cursor: next_cursor(validity, messages.last().map(|m| m.uid), more),
            state: None,
            messages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_from_the_end() {
        assert_eq!(page_range(45, 0, 20), Some((26, 45)));
        assert_eq!(page_range(45, 1, 20), Some((6, 25)));
        assert_eq!(page_range(45, 2, 20), Some((1, 5)));
        assert_eq!(page_range(45, 3, 20), None);
        assert_eq!(page_range(0, 0, 20), None);
        assert_eq!(page_range(20, 0, 20), Some((1, 20)));
        assert_eq!(page_range(5, u32::MAX, 1000), None);
    }

    #[test]
    fn cursor_pages_end_at_the_message_below_it() {
        assert_eq!(cursor_range(45, 20), Some((26, 45)));
        assert_eq!(cursor_range(5, 20), Some((1, 5)));
        assert_eq!(cursor_range(20, 20), Some((1, 20)));
        assert_eq!(cursor_range(0, 20), None);
        assert_eq!(page_of(50, 45, 20), 0);
        assert_eq!(page_of(50, 30, 20), 1);
        assert_eq!(page_of(50, 0, 20), 2);
    }

    #[test]
    fn next_cursor_only_when_older_mail_is_left() {
        let c = next_cursor(7, Some(30), true).unwrap();
        assert_eq!(
            ListCursor::decode(&c).unwrap(),
            ListCursor {
                uid_validity: 7,
                below: 30
            }
        );
        assert_eq!(next_cursor(7, Some(30), false), None);
        assert_eq!(next_cursor(7, None, true), None);
    }

    #[test]
    fn page_count_is_at_least_one() {
        assert_eq!(page_count(0, 20), 1);
        assert_eq!(page_count(20, 20), 1);
        assert_eq!(page_count(21, 20), 2);
    }
}
