//! The changes feed (`P:acct:{E(id)}:changes`: a sorted set scored by change number, each
//! member `<number>:<event JSON>` so that equal events stay apart; `…:changes:floor`: the
//! highest number dropped), numbered by `P:changes:seq`. An append (of one change or a
//! batch) is one script so that the existence check, the numbers, the adds and the trim
//! cannot interleave with a deletion, and a batch costs one round trip;
//! a read is one script so that floor, current state and changes agree.

use async_trait::async_trait;

use super::{RedisStore, backend};
use crate::store::changes::{ChangePage, MAX_CHANGES_PER_READ, StoredChange};
use crate::store::{ChangeStore, StoreError};

/// KEYS: accounts, seq, changes, floor. ARGV: id, changes to keep (at least 1), then the
/// events (at least one). The first of their consecutive numbers, or -1 for an account
/// that is gone. The trim pops from the front by count (ZCARD is O(1)), never counting rows.
pub(super) const APPEND_CHANGES: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local n = #ARGV - 2
local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
for i = 1, n do
  local seq = first + i - 1
  redis.call('ZADD', KEYS[3], seq, seq .. ':' .. ARGV[i + 2])
end
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[2])
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], over)
  redis.call('SET', KEYS[4], popped[#popped])
end
return first
";

/// KEYS: changes, floor. ARGV: since (exclusive), limit + 1. Answers floor, newest number
/// (or the floor), then the members after `since`.
pub(super) const READ_CHANGES: &str = r"
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local current = floor
if #newest == 2 then current = math.max(floor, tonumber(newest[2])) end
local out = {tostring(floor), tostring(current)}
if tonumber(ARGV[2]) > 0 then
  local rows = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'LIMIT', 0, ARGV[2])
  for _, m in ipairs(rows) do out[#out + 1] = m end
end
return out
";

/// A member `<number>:<event>` split.
fn parse_member(member: &[u8]) -> Result<StoredChange, StoreError> {
    let colon = member
        .iter()
        .position(|b| *b == b':')
        .ok_or_else(|| StoreError::Corrupt("change without a number".into()))?;
    let seq = std::str::from_utf8(&member[..colon])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("change with a bad number".into()))?;
    Ok(StoredChange {
        seq,
        event: member[colon + 1..].to_vec(),
    })
}

fn number(reply: Option<&Vec<u8>>) -> Result<u64, StoreError> {
    reply
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("changes state unreadable".into()))
}

#[async_trait]
impl ChangeStore for RedisStore {
    async fn append_changes(
        &self,
        account: &str,
        events: Vec<Vec<u8>>,
        max: u64,
    ) -> Result<Option<Vec<u64>>, StoreError> {
        if events.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let added = events.len() as u64;
        let mut call = self.append_changes.key(self.global("accounts"));
        call.key(self.global("changes:seq"))
            .key(self.acct(account, "changes"))
            .key(self.acct(account, "changes:floor"))
            .arg(account)
            .arg(max.max(1));
        for event in &events {
            call.arg(event.as_slice());
        }
        let first: i64 = call
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(u64::try_from(first)
            .ok()
            .map(|first| (first..first + added).collect()))
    }

    async fn changes_since(
        &self,
        account: &str,
        since: u64,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        let limit = limit.min(MAX_CHANGES_PER_READ);
        let reply: Vec<Vec<u8>> = self
            .read_changes
            .key(self.acct(account, "changes"))
            .key(self.acct(account, "changes:floor"))
            .arg(since)
            .arg(if limit == 0 { 0 } else { limit + 1 })
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        let floor = number(reply.first())?;
        let current = number(reply.get(1))?;
        let mut changes = reply
            .iter()
            .skip(2)
            .map(|m| parse_member(m))
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = changes.len() > limit;
        changes.truncate(limit);
        Ok(ChangePage {
            floor,
            current,
            changes,
            has_more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_split_at_the_first_colon() {
        let c = parse_member(br#"42:{"a":"b:c"}"#).unwrap();
        assert_eq!(c.seq, 42);
        assert_eq!(c.event, br#"{"a":"b:c"}"#);
        assert!(parse_member(b"nocolon").is_err());
        assert!(parse_member(b"x:{}").is_err());
    }
}
