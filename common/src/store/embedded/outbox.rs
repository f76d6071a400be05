//! The outbox in two tables: `outbox` (queue id → entry JSON) and `outbox_mime` (queue id
//! → MIME bytes). A compare-and-set update reads and writes in one write transaction, which
//! redb serializes.

use async_trait::async_trait;
use redb::ReadableTable;

use super::{EmbeddedStore, OUTBOX, OUTBOX_MIME, backend};
use crate::model::{OutboxEntry, OutboxState};
use crate::store::record::{decode, encode};
use crate::store::{OutboxStore, StoreError};

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
