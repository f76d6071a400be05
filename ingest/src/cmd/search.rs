//! `Search`: the contract's criteria as a `UID SEARCH`, paged newest first like a listing,
//! by page number or by cursor (the matches below a UID).
//!
//! Every value is typed by the API and goes out quoted or as a literal (`wire::Arg`), and
//! only our own keywords are text, so no input can add IMAP syntax to the command.

use chrono::NaiveDate;
use imapapi_common::command::listing::HeaderMatch;
use imapapi_common::command::{Search, SearchQuery};
use imapapi_common::error::ApiError;
use imapapi_common::model::MessageList;

use super::list_messages::{check_cursor, entries, next_cursor, page_count};
use super::{CommandCx, CommandError, Execute};
use crate::imap::{Arg, num_set};
use crate::message_cache::FolderKey;

/// What the server can search by, beyond IMAP4rev1.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchCaps {
    pub gmail: bool,
    pub object_id: bool,
    pub condstore: bool,
}

fn imap_date(d: NaiveDate) -> String {
    d.format("%-d-%b-%Y").to_string()
}

/// The criteria as command pieces (after `UID SEARCH `), and whether a string needs the
/// UTF-8 charset.
pub fn criteria(q: &SearchQuery, caps: SearchCaps) -> Result<(Vec<Arg>, bool), ApiError> {
    let mut keys: Vec<Vec<Arg>> = Vec::new();
    let text = |s: &str| vec![Arg::Text(s.to_string())];
    if let Some(s) = &q.seq {
        keys.push(text(s));
    }
    if let Some(s) = &q.uid {
        keys.push(text(&format!("UID {s}")));
    }
    let flag_keys = [
        (q.answered, "ANSWERED", "UNANSWERED"),
        (q.deleted, "DELETED", "UNDELETED"),
        (q.draft, "DRAFT", "UNDRAFT"),
        (q.flagged, "FLAGGED", "UNFLAGGED"),
        (q.seen, "SEEN", "UNSEEN"),
        (q.unseen, "UNSEEN", "SEEN"),
    ];
    for (v, yes, no) in flag_keys {
        if let Some(v) = v {
            keys.push(text(if v { yes } else { no }));
        }
    }
    let strings = [
        ("FROM", &q.from),
        ("TO", &q.to),
        ("CC", &q.cc),
        ("BCC", &q.bcc),
        ("BODY", &q.body),
        ("SUBJECT", &q.subject),
    ];
    for (key, v) in strings {
        if let Some(v) = v {
            keys.push(vec![Arg::Text(format!("{key} ")), Arg::Str(v.clone())]);
        }
    }
    if let Some(n) = q.larger {
        keys.push(text(&format!("LARGER {n}")));
    }
    if let Some(n) = q.smaller {
        keys.push(text(&format!("SMALLER {n}")));
    }
    if let Some(n) = q.modseq {
        if !caps.condstore {
            return Err(ApiError::invalid(
                "search.modseq",
                "is not supported by this server",
            ));
        }
        keys.push(text(&format!("MODSEQ {n}")));
    }
    let dates = [
        ("BEFORE", q.before),
        ("SINCE", q.since),
        ("SENTBEFORE", q.sent_before),
        ("SENTSINCE", q.sent_since),
    ];
    for (key, d) in dates {
        if let Some(d) = d {
            keys.push(text(&format!("{key} {}", imap_date(d.0))));
        }
    }
    for (field, gmail_key, object_key, v) in [
        ("search.emailId", "X-GM-MSGID", "EMAILID", &q.email_id),
        ("search.threadId", "X-GM-THRID", "THREADID", &q.thread_id),
    ] {
        let Some(v) = v else { continue };
        if caps.gmail {
            let n: u64 = v
                .parse()
                .map_err(|_| ApiError::invalid(field, "must be a Gmail numeric id"))?;
            keys.push(text(&format!("{gmail_key} {n}")));
        } else if caps.object_id {
            if !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ApiError::invalid(field, "is not a valid object id"));
            }
            keys.push(text(&format!("{object_key} {v}")));
        } else {
            return Err(ApiError::invalid(field, "is not supported by this server"));
        }
    }
    if let Some(h) = &q.header {
        for (name, m) in h {
            let value = match m {
                HeaderMatch::Contains(s) => s.clone(),
                HeaderMatch::Present(_) => String::new(),
            };
            keys.push(vec![
                Arg::Text("HEADER ".into()),
                Arg::Str(name.clone()),
                Arg::Text(" ".into()),
                Arg::Str(value),
            ]);
        }
    }
    if keys.is_empty() {
        keys.push(text("ALL"));
    }
    let utf8 = keys
        .iter()
        .flatten()
        .any(|a| matches!(a, Arg::Str(s) if !s.is_ascii()));
    let mut out = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(Arg::Text(" ".into()));
        }
        out.extend(k);
    }
    Ok((out, utf8))
}

/// Where a page of matches starts, in `uids` (newest first): its page number and the index
/// of its first match. A cursor's page starts at the first match below the cursor.
pub fn match_page(uids: &[u32], cmd: &Search) -> (u32, usize) {
    let size = cmd.page_size.max(1);
    match cmd.cursor {
        Some(c) => {
            let newer = uids.partition_point(|u| *u >= c.below);
            (u32::try_from(newer).unwrap_or(u32::MAX) / size, newer)
        }
        None => (cmd.page, (cmd.page as usize).saturating_mul(size as usize)),
    }
}

impl Execute for Search {
    async fn execute(self, cx: &mut CommandCx<'_>) -> Result<MessageList, CommandError> {
        self.query.validate()?;
        let caps = SearchCaps {
            gmail: cx.imap.has("X-GM-EXT-1"),
            object_id: cx.imap.has("OBJECTID"),
            condstore: cx.imap.has("CONDSTORE"),
        };
        let (keys, utf8) = criteria(&self.query, caps)?;
        let validity = cx.select_path(&self.path, false).await?;
        check_cursor(self.cursor, validity)?;
        let folder = FolderKey {
            account: cx.account,
            mailbox_id: cx.mailbox_id(&self.path, Some(validity)).await?,
            uid_validity: validity,
        };
        let mut uids = cx.imap.uid_search(keys, utf8).await?;
        uids.sort_unstable_by(|a, b| b.cmp(a));
        uids.dedup();
        let total = u32::try_from(uids.len()).unwrap_or(u32::MAX);
        let (page_no, start) = match_page(&uids, &self);
        let page: Vec<u32> = uids
            .iter()
            .skip(start)
            .take(self.page_size.max(1) as usize)
            .copied()
            .collect();
        let messages = if page.is_empty() {
            Vec::new()
        } else {
            entries(cx, folder, &format!("UID FETCH {}", num_set(&page))).await?
        };
        let more = start + page.len() < uids.len();
        Ok(MessageList {
            total,
            page: page_no,
            pages: page_count(total, self.page_size),
            messages,
            next_cursor: next_cursor(validity, page.last().copied(), more),
            state: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::wire::segments;

    fn line(q: &SearchQuery, caps: SearchCaps) -> String {
        let (args, _) = criteria(q, caps).unwrap();
        segments(&args, true)
            .into_iter()
            .map(|s| {
                let lit = s
                    .literal
                    .map(|l| format!("<{}>", String::from_utf8_lossy(&l)))
                    .unwrap_or_default();
                format!("{}{lit}", s.line)
            })
            .collect()
    }

    #[test]
    fn builds_typed_criteria() {
        let q: SearchQuery = serde_json::from_str(
            r#"{"seq":"1:5","unseen":true,"flagged":false,"from":"ann \"x\"","subject":"héllo",
                "larger":10,"since":"2024-01-02","header":{"X-Tag":"a","List-Id":true}}"#,
        )
        .unwrap();
        assert_eq!(
            line(&q, SearchCaps::default()),
            "1:5 UNFLAGGED UNSEEN FROM \"ann \\\"x\\\"\" SUBJECT {6+}<héllo> LARGER 10 SINCE 2-Jan-2024 HEADER \"List-Id\" \"\" HEADER \"X-Tag\" \"a\""
        );
        assert_eq!(line(&SearchQuery::default(), SearchCaps::default()), "ALL");
    }

    #[test]
    fn injection_stays_inside_a_string() {
        let q = SearchQuery {
            subject: Some("x\") UID 1:* (".into()),
            ..Default::default()
        };
        assert_eq!(
            line(&q, SearchCaps::default()),
            "SUBJECT \"x\\\") UID 1:* (\""
        );
    }

    #[test]
    fn a_cursor_page_starts_below_the_cursor() {
        let uids = [90, 70, 50, 30, 10];
        let cmd = |page, cursor: Option<u32>| Search {
            path: "INBOX".into(),
            page,
            page_size: 2,
            cursor: cursor.map(|below| imapapi_common::command::ListCursor {
                uid_validity: 1,
                below,
            }),
            query: SearchQuery::default(),
        };
        assert_eq!(match_page(&uids, &cmd(1, None)), (1, 2));
        assert_eq!(match_page(&uids, &cmd(0, Some(50))), (1, 3));
        assert_eq!(match_page(&uids, &cmd(0, Some(51))), (1, 2));
        assert_eq!(match_page(&uids, &cmd(0, Some(95))), (0, 0));
        assert_eq!(match_page(&uids, &cmd(0, Some(10))), (2, 5));
    }

    #[test]
    fn server_specific_keys_need_the_capability() {
        let q = SearchQuery {
            email_id: Some("123".into()),
            ..Default::default()
        };
        assert!(criteria(&q, SearchCaps::default()).is_err());
        let gmail = SearchCaps {
            gmail: true,
            ..Default::default()
        };
        assert_eq!(line(&q, gmail), "X-GM-MSGID 123");
        let q = SearchQuery {
            modseq: Some(5),
            ..Default::default()
        };
        assert!(criteria(&q, SearchCaps::default()).is_err());
    }
}
