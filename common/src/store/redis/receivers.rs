//! Failing webhook receivers (`P:receivers`: target → record JSON).

use async_trait::async_trait;
use redis::AsyncCommands;

use super::{RedisStore, backend};
use crate::model::FailingReceiver;
use crate::store::record::{decode, encode};
use crate::store::{ReceiverStore, StoreError};

#[async_trait]
impl ReceiverStore for RedisStore {
    async fn set_receiver_failing(&self, receiver: &FailingReceiver) -> Result<(), StoreError> {
        let json = encode("receiver", receiver)?;
        let () = self
            .con
            .clone()
            .hset(self.global("receivers"), &receiver.target, json)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn clear_receiver(&self, target: &str) -> Result<(), StoreError> {
        let _: u32 = self
            .con
            .clone()
            .hdel(self.global("receivers"), target)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn failing_receivers(&self) -> Result<Vec<FailingReceiver>, StoreError> {
        let all: Vec<(String, Vec<u8>)> = self
            .con
            .clone()
            .hgetall(self.global("receivers"))
            .await
            .map_err(backend)?;
        let mut out: Vec<FailingReceiver> = all
            .iter()
            .map(|(_, v)| decode("receiver", v))
            .collect::<Result<_, _>>()?;
        out.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(out)
    }
}
