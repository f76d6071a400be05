//! `ListMessages`: one page of a folder, newest first, fetched by sequence number so the
//! page costs the same in a 100-message folder as in a 100,000-message one.

use imapapi_common::command::ListMessages;
use imapapi_common::model::{MessageList, MessageListEntry};

use super::{CommandCx, CommandError, Execute};
use crate::decode::{self, FetchItems};

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

/// Fetch listing entries for a sequence or uid set (`FETCH 1:20` / `UID FETCH 5,9`),
/// newest first, with the ids and labels the server has (see [`FetchItems`]). A folder
/// that was never synced has no mailbox id yet: its entries get id 0, which resolves to
/// nothing rather than to a wrong message.
pub async fn entries(
    cx: &mut CommandCx<'_>,
    mailbox_id: u32,
    fetch: &str,
) -> Result<Vec<MessageListEntry>, CommandError> {
    let items = FetchItems::of(cx.imap).list();
    // Decoded as each response is read: one parse, and no response kept.
    let mut messages = cx
        .imap
        .fetch_decoded(&format!("{fetch} {items}"), |attrs| {
            decode::list_entry_of(mailbox_id, attrs)
        })
        .await?;
    messages.sort_by_key(|m| std::cmp::Reverse(m.uid));
    Ok(messages)
}

impl Execute for ListMessages {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<MessageList, CommandError> {
        cx.select_path(&self.path, false).await?;
        let mailbox_id = cx.mailbox_id(&self.path).await?;
        let total = cx.imap.exists;
        let messages = match page_range(total, self.page, self.page_size) {
            Some((lo, hi)) => entries(cx, mailbox_id, &format!("FETCH {lo}:{hi}")).await?,
            None => Vec::new(),
        };
        Ok(MessageList {
            total,
            page: self.page,
            pages: page_count(total, self.page_size),
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
    fn page_count_is_at_least_one() {
        assert_eq!(page_count(0, 20), 1);
        assert_eq!(page_count(20, 20), 1);
        assert_eq!(page_count(21, 20), 2);
    }
}
