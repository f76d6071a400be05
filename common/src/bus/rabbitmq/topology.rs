//! Declaring the exchange and queues (see the table in `mod.rs`): idempotent, run on every
//! (re)connection so that a broker that lost its definitions gets them back.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::link::Inner;
use super::wire::{backend, short};
use super::{QUEUES, ladder};
use crate::bus::{BusError, QueueName};

/// Every queue of the topology (not the per-node request queues).
pub(super) fn queue_names(inner: &Inner) -> Vec<String> {
    let n = &inner.names;
    let mut names = Vec::new();
    for q in QUEUES {
        names.push(n.queue(q));
        names.push(n.dlq(q));
        names.extend(ladder::steps().map(|s| n.delay(q, s)));
    }
    names
}

impl Inner {
    pub async fn declare(&self, ch: &Channel) -> Result<(), BusError> {
        let n = &self.names;
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        // The events exchange consumers bind to, and the fanout of account notices.
        for (name, kind) in [
            (n.exchange(), ExchangeKind::Topic),
            (n.notices(), ExchangeKind::Fanout),
        ] {
            ch.exchange_declare(
                short(name)?,
                kind,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(backend)?;
        }
        for q in QUEUES {
            let main = n.queue(q);
            ch.queue_declare(short(main.clone())?, durable, FieldTable::default())
                .await
                .map_err(backend)?;
            ch.queue_declare(short(n.dlq(q))?, durable, FieldTable::default())
                .await
                .map_err(backend)?;
            for step in ladder::steps() {
                let mut args = FieldTable::default();
                let ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
                args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ms));
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString("".into()),
                );
                args.insert(
                    "x-dead-letter-routing-key".into(),
                    AMQPValue::LongString(main.as_str().into()),
                );
                ch.queue_declare(short(n.delay(q, step))?, durable, args)
                    .await
                    .map_err(backend)?;
            }
        }
        ch.queue_bind(
            short(n.queue(QueueName::Events))?,
            short(n.exchange())?,
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(backend)?;
        Ok(())
    }
}
