//! The outbox: `P:outbox` (queue id → entry JSON), `P:outbox:state` (queue id → state, so
//! the compare-and-set script need not parse JSON) and `P:outbox:mime` (queue id → MIME
//! bytes), all hashes; and `P:idem:E(key)`, a string with an expiry per idempotency key.

use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, backend};
use crate::model::{OutboxEntry, OutboxState};
use crate::store::record::{decode, encode};
use crate::store::{OutboxStore, StoreError};

/// KEYS: entries, states. ARGV: queue id, entry JSON, new state, expected states...
pub(super) const UPDATE_OUTBOX: &str = r"
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current then return 0 end
for i = 4, #ARGV do
  if ARGV[i] == current then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
    return 1
  end
end
return 0
";

impl RedisStore {
    fn idempotency_key(&self, key: &str) -> String {
        self.global(&format!("idem:{}", super::esc(key)))
    }
}

fn state_name(state: OutboxState) -> &'static str {
    match state {
        OutboxState::Queued => "queued",
        OutboxState::Sending => "sending",
        OutboxState::Sent => "sent",
        OutboxState::Failed => "failed",
        OutboxState::Cancelled => "cancelled",
    }
}

#[async_trait]
impl OutboxStore for RedisStore {
    async fn put_outbox(&self, entry: &OutboxEntry, mime: &[u8]) -> Result<(), StoreError> {
        let json = encode("outbox entry", entry)?;
        let id = entry.queue_id.as_str();
        // MIME first: an entry is never visible without its message.
        redis::pipe()
            .atomic()
            .hset(self.global("outbox:mime"), id, mime)
            .ignore()
            .hset(self.global("outbox"), id, json)
            .ignore()
            .hset(self.global("outbox:state"), id, state_name(entry.state))
            .ignore()
            .query_async::<()>(&mut self.con.clone())
            .await
            .map_err(backend)
    }

    async fn get_outbox(&self, queue_id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        let v: Option<Vec<u8>> = self
            .con
            .clone()
            .hget(self.global("outbox"), queue_id)
            .await
            .map_err(backend)?;
        v.map(|b| decode("outbox entry", &b)).transpose()
    }

    async fn outbox_mime(&self, queue_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.con
            .clone()
            .hget(self.global("outbox:mime"), queue_id)
            .await
            .map_err(backend)
    }

    async fn list_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let all: Vec<(String, Vec<u8>)> = self
            .con
            .clone()
            .hgetall(self.global("outbox"))
            .await
            .map_err(backend)?;
        let mut entries = all
            .iter()
            .map(|(_, v)| decode::<OutboxEntry>("outbox entry", v))
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by(|a, b| a.queue_id.cmp(&b.queue_id));
        Ok(entries)
    }

    async fn update_outbox(
        &self,
        entry: &OutboxEntry,
        expected: &[OutboxState],
    ) -> Result<bool, StoreError> {
        let mut call = self.update_outbox.prepare_invoke();
        call.key(self.global("outbox"))
            .key(self.global("outbox:state"))
            .arg(entry.queue_id.as_str())
            .arg(encode("outbox entry", entry)?)
            .arg(state_name(entry.state));
        for s in expected {
            call.arg(state_name(*s));
        }
        let done: i64 = call
            .invoke_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        Ok(done == 1)
    }

    async fn claim_idempotency(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let key = self.idempotency_key(key);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut self.con.clone())
            .await
            .map_err(backend)?;
        if set.is_some() {
            return Ok(None);
        }
        self.con.clone().get(&key).await.map_err(backend)
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        let () = self
            .con
            .clone()
            .del(self.idempotency_key(key))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_outbox(&self, queue_id: &str) -> Result<(), StoreError> {
        redis::pipe()
            .atomic()
            .hdel(self.global("outbox"), queue_id)
            .ignore()
            .hdel(self.global("outbox:state"), queue_id)
            .ignore()
            .hdel(self.global("outbox:mime"), queue_id)
            .ignore()
            .query_async::<()>(&mut self.con.clone())
            .await
            .map_err(backend)
    }
}
