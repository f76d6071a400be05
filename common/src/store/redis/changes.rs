//! The changes feed (`P:acct:{E(id)}:changes`: a sorted set scored by change number, each
//! member `<number>:<event JSON>` so that equal events stay apart; `…:changes:floor`: the
//! highest number dropped), numbered by `P:changes:seq`. An append is one script so that
//! the existence check, the number, the add and the trim cannot interleave with a deletion;
//! a read is one script so that floor, current state and changes agree.

use async_trait::async_trait;

use super::{RedisStore, backend};
use crate::store::changes::{ChangePage, MAX_CHANGES_PER_READ, StoredChange};
use crate::store::{ChangeStore, StoreError};

/// KEYS: accounts, seq, changes, floor. ARGV: id, changes to keep (at least 1), event.
/// -1 for an account that is gone.
pub(super) const APPEND_CHANGE: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], seq, seq .. ':' .. ARGV[3])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[2])
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], over)
  redis.call('SET', KEYS[4], popped[#popped])
end
return seq
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
    async fn append_change(
        &self,
        account: &str,
        event: &[u8],
        max: u64,
    ) -> Result<Option<u64>, StoreError> {
        let seq: i64 = self
            .append_change
            .key(self.global("accounts"))
            .key(self.global("changes:seq"))
            .key(self.acct(account, "changes"))
            .key(self.acct(account, "changes:floor"))
            .arg(account)
            .arg(max.max(1))
            .arg(event)
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(u64::try_from(seq).ok())
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
