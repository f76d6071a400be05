//! The one place that knows how the queues sit in `queue.redb` (table names, the byte
//! layout of a stored message) and the small helpers every other part needs to touch the
//! file or shared state, so the rest never spells a table name or a byte offset.

use redb::TableDefinition;
use uuid::Uuid;

use crate::bus::{BusError, Message, QueueName};

pub(super) fn queue_table(q: QueueName) -> TableDefinition<'static, u64, &'static [u8]> {
    match q {
        QueueName::Events => TableDefinition::new("queue.events"),
        QueueName::Submit => TableDefinition::new("queue.submit"),
    }
}

pub(super) fn delay_table(q: QueueName) -> TableDefinition<'static, u64, u64> {
    match q {
        QueueName::Events => TableDefinition::new("delay.events"),
        QueueName::Submit => TableDefinition::new("delay.submit"),
    }
}

pub(super) fn dead_table(q: QueueName) -> TableDefinition<'static, u64, &'static [u8]> {
    match q {
        QueueName::Events => TableDefinition::new("dead.events"),
        QueueName::Submit => TableDefinition::new("dead.submit"),
    }
}

pub(super) fn index(q: QueueName) -> usize {
    match q {
        QueueName::Events => 0,
        QueueName::Submit => 1,
    }
}

pub(super) fn backend(e: impl std::fmt::Display) -> BusError {
    BusError::Backend(e.to_string())
}

/// Stored form: id (16) | attempt (u32 LE) | key length (u32 LE) | key | body.
pub(super) fn encode(m: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + m.key.len() + m.body.len());
    out.extend_from_slice(m.id.as_bytes());
    out.extend_from_slice(&m.attempt.to_le_bytes());
    out.extend_from_slice(&(m.key.len() as u32).to_le_bytes());
    out.extend_from_slice(m.key.as_bytes());
    out.extend_from_slice(&m.body);
    out
}

pub(super) fn decode(b: &[u8]) -> Result<Message, BusError> {
    let bad = || BusError::Backend("corrupt message record in queue.redb".into());
    if b.len() < 24 {
        return Err(bad());
    }
    let id = Uuid::from_slice(&b[..16]).map_err(|_| bad())?;
    let attempt = u32::from_le_bytes(b[16..20].try_into().map_err(|_| bad())?);
    let klen = u32::from_le_bytes(b[20..24].try_into().map_err(|_| bad())?) as usize;
    let key = b.get(24..24 + klen).ok_or_else(bad)?;
    let key = String::from_utf8(key.to_vec()).map_err(|_| bad())?;
    Ok(Message {
        id,
        key,
        attempt,
        body: b[24 + klen..].to_vec(),
        // Kept in `delay.<name>`, and due by the time the message is delivered.
        not_before: None,
    })
}

/// Runs a blocking redb operation off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BusError> + Send + 'static,
) -> Result<T, BusError> {
    tokio::task::spawn_blocking(f).await.map_err(backend)?
}
