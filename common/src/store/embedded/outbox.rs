//! The outbox in two tables: `outbox` (queue id → entry JSON) and `outbox_mime` (queue id
//! → MIME bytes). A compare-and-set update reads and writes in one write transaction, which
//! redb serializes. Idempotency keys: `idempotency` (key → 8 bytes of expiry, unix ms big
//! endian, then the answer) and `idempotency_expiry` ((expiry, key) → ()) to prune them.

use crate::clock::now_ms;
use std::time::Duration;

use async_trait::async_trait;
use redb::ReadableTable;

use super::{EmbeddedStore, IDEMPOTENCY, IDEMPOTENCY_EXPIRY, OUTBOX, OUTBOX_MIME, backend};
use crate::model::{OutboxEntry, OutboxState};
use crate::store::record::{decode, encode};
use crate::store::{OutboxStore, StoreError};

/// Expired idempotency keys removed per claim: keeps the table bounded without a sweeper,
/// and a claim's work bounded too.
const PRUNE_PER_CLAIM: usize = 16;

/// The expiry (unix ms) at the head of an idempotency record.
fn expiry(record: &[u8]) -> u64 {
    record
        .first_chunk::<8>()
        .map(|b| u64::from_be_bytes(*b))
        .unwrap_or(0)
}

#[async_trait]
impl OutboxStore for EmbeddedStore {
    async fn put_outbox(&self, entry: &OutboxEntry, mime: &[u8]) -> Result<(), StoreError> {
        let id = entry.queue_id.clone();
        let json = encode("outbox entry", entry)?;
        let mime = mime.to_vec();
        self.write(true, move |txn| {
            txn.open_table(OUTBOX)
                .map_err(backend)?
                .insert(id.as_str(), json.as_slice())
                .map_err(backend)?;
            txn.open_table(OUTBOX_MIME)
                .map_err(backend)?
                .insert(id.as_str(), mime.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn get_outbox(&self, queue_id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        self.read_record(OUTBOX, queue_id, "outbox entry").await
    }

    async fn outbox_mime(&self, queue_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let id = queue_id.to_string();
        self.read(move |txn| {
            let t = txn.open_table(OUTBOX_MIME).map_err(backend)?;
            Ok(t.get(id.as_str())
                .map_err(backend)?
                .map(|v| v.value().to_vec()))
        })
        .await
    }

    async fn list_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read(|txn| {
            let t = txn.open_table(OUTBOX).map_err(backend)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                out.push(decode("outbox entry", v.value())?);
            }
            Ok(out)
        })
        .await
    }

    async fn update_outbox(
        &self,
        entry: &OutboxEntry,
        expected: &[OutboxState],
    ) -> Result<bool, StoreError> {
        let id = entry.queue_id.clone();
        let json = encode("outbox entry", entry)?;
        let expected = expected.to_vec();
        self.write(true, move |txn| {
            let mut t = txn.open_table(OUTBOX).map_err(backend)?;
            let current: Option<OutboxEntry> = t
                .get(id.as_str())
                .map_err(backend)?
                .map(|v| decode("outbox entry", v.value()))
                .transpose()?;
            match current {
                Some(c) if expected.contains(&c.state) => {
                    t.insert(id.as_str(), json.as_slice()).map_err(backend)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn claim_idempotency(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        let now = now_ms();
        let expires = now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        self.write(true, move |txn| {
            let mut keys = txn.open_table(IDEMPOTENCY).map_err(backend)?;
            let mut by_expiry = txn.open_table(IDEMPOTENCY_EXPIRY).map_err(backend)?;
            // Keys past their time go first, oldest first, a bounded number per claim.
            let expired: Vec<(u64, String)> = by_expiry
                .range((0, "")..(now, ""))
                .map_err(backend)?
                .take(PRUNE_PER_CLAIM)
                .map(|r| r.map(|(k, _)| (k.value().0, k.value().1.to_string())))
                .collect::<Result<_, _>>()
                .map_err(backend)?;
            for (at, old) in expired {
                by_expiry.remove((at, old.as_str())).map_err(backend)?;
                let stale = keys
                    .get(old.as_str())
                    .map_err(backend)?
                    .is_some_and(|v| expiry(v.value()) <= now);
                if stale {
                    keys.remove(old.as_str()).map_err(backend)?;
                }
            }
            if let Some(v) = keys.get(key.as_str()).map_err(backend)? {
                let record = v.value();
                if expiry(record) > now {
                    return Ok(Some(String::from_utf8_lossy(&record[8..]).into_owned()));
                }
            }
            let mut record = expires.to_be_bytes().to_vec();
            record.extend_from_slice(value.as_bytes());
            keys.insert(key.as_str(), record.as_slice())
                .map_err(backend)?;
            by_expiry
                .insert((expires, key.as_str()), ())
                .map_err(backend)?;
            Ok(None)
        })
        .await
    }

    async fn release_idempotency(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.write(true, move |txn| {
            txn.open_table(IDEMPOTENCY)
                .map_err(backend)?
                .remove(key.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete_outbox(&self, queue_id: &str) -> Result<(), StoreError> {
        let id = queue_id.to_string();
        self.write(true, move |txn| {
            txn.open_table(OUTBOX)
                .map_err(backend)?
                .remove(id.as_str())
                .map_err(backend)?;
            txn.open_table(OUTBOX_MIME)
                .map_err(backend)?
                .remove(id.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}
