//! Failing webhook receivers, in the `receivers` table (target → record JSON).

use async_trait::async_trait;
use redb::ReadableTable;

use super::{EmbeddedStore, RECEIVERS, backend};
use crate::model::FailingReceiver;
use crate::store::record::{decode, encode};
use crate::store::{ReceiverStore, StoreError};

#[async_trait]
impl ReceiverStore for EmbeddedStore {
    async fn set_receiver_failing(&self, receiver: &FailingReceiver) -> Result<(), StoreError> {
        let json = encode("receiver", receiver)?;
        let target = receiver.target.clone();
        self.write(true, move |txn| {
            txn.open_table(RECEIVERS)
                .map_err(backend)?
                .insert(target.as_str(), json.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn clear_receiver(&self, target: &str) -> Result<(), StoreError> {
        let target = target.to_string();
        self.write(true, move |txn| {
            txn.open_table(RECEIVERS)
                .map_err(backend)?
                .remove(target.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn failing_receivers(&self) -> Result<Vec<FailingReceiver>, StoreError> {
        self.read(|txn| {
            let t = txn.open_table(RECEIVERS).map_err(backend)?;
            let mut out = Vec::new();
            for row in t.iter().map_err(backend)? {
                let (_, v) = row.map_err(backend)?;
                out.push(decode("receiver", v.value())?);
            }
            Ok(out)
        })
        .await
    }
}
