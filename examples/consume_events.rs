//! Consume imapapi's events straight from RabbitMQ, without webhooks: declare a queue of
//! your own, bind it to the events exchange with a routing pattern, and read JSON events
//! (see `common/schema/events-v1.schema.json`).
//!
//! ```text
//! cargo run --example consume_events -- amqp://guest:guest@127.0.0.1:5672/%2f '*.messageNew'
//! ```
//!
//! Arguments: the broker URL (default `amqp://guest:guest@127.0.0.1:5672/%2f`), the binding
//! pattern (default `#`: everything; `user@example%2Ecom.*` for one account, whose dots are
//! escaped in routing keys), and the exchange prefix (`queue.prefix`, default `imapapi`).
//! Events are acked after they are printed; delivery is at-least-once, so a real consumer
//! drops duplicates by `id`.

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let pattern = args.next().unwrap_or_else(|| "#".into());
    let prefix = args.next().unwrap_or_else(|| "imapapi".into());

    let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    // A server-named, exclusive queue: it lives as long as this consumer. Give it a name
    // and `durable: true` instead to keep events while the consumer is down.
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.name().clone(),
            format!("{prefix}.events").into(),
            pattern.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut deliveries = channel
        .basic_consume(
            queue.name().clone(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    eprintln!("bound to {prefix}.events with {pattern}; waiting for events");
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let event: serde_json::Value = serde_json::from_slice(&delivery.data)?;
        println!(
            "{} {} {} {}",
            event["date"].as_str().unwrap_or_default(),
            event["account"].as_str().unwrap_or_default(),
            event["event"].as_str().unwrap_or_default(),
            event["data"]
        );
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    Ok(())
}
