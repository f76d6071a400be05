//! Consume imapapi's events straight from the queue, without webhooks, and print them
//! (JSON events: see `common/schema/events-v1.schema.json`).
//!
//! On RabbitMQ: declare a queue of your own, bind it to the events exchange with a routing
//! pattern, and read it; dispatch keeps its own queue, so webhooks go on as before.
//!
//! ```text
//! cargo run --example consume_events -- amqp://guest:guest@127.0.0.1:5672/%2f '*.messageNew'
//! ```
//!
//! On SQS (`sqs://<prefix>`, with the AWS environment and `REDIS_URL` as the gateway has
//! them): read `<prefix>-events` through imapapi's own bus, which decodes the message
//! attributes and fetches large bodies from Redis. Consumers of an SQS queue share its
//! messages: run this only where no dispatch process reads the queue. The pattern is
//! matched here, on the routing key (`*` one word, `#` everything).
//!
//! ```text
//! AWS_REGION=eu-west-1 REDIS_URL=redis://127.0.0.1:6379 cargo run --example consume_events -- sqs://imapapi '#'
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
    if let Some(sqs_prefix) = imapapi_common::bus::sqs::prefix_of(&url) {
        return consume_sqs(sqs_prefix, &pattern).await;
    }

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
        print_event(&delivery.data)?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    Ok(())
}

fn print_event(body: &[u8]) -> anyhow::Result<()> {
    let event: serde_json::Value = serde_json::from_slice(body)?;
    println!(
        "{} {} {} {}",
        event["date"].as_str().unwrap_or_default(),
        event["account"].as_str().unwrap_or_default(),
        event["event"].as_str().unwrap_or_default(),
        event["data"]
    );
    Ok(())
}

/// Whether routing `key` matches an AMQP-style `pattern` of dot-separated words.
fn matches(pattern: &str, key: &str) -> bool {
    fn words(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => words(&p[1..], k) || (!k.is_empty() && words(p, &k[1..])),
            (Some(w), Some(kw)) if *w == "*" || w == kw => words(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    words(&p, &k)
}

async fn consume_sqs(prefix: &str, pattern: &str) -> anyhow::Result<()> {
    use imapapi_common::bus::sqs::{SqsBus, SqsTuning};
    use imapapi_common::bus::{QueueName, RetryPolicy, WorkQueues};
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let bus = SqsBus::connect(prefix, RetryPolicy::default(), &redis, SqsTuning::default()).await?;
    let mut events = bus.consume(QueueName::Events, 10).await?;
    eprintln!("reading {}; waiting for events", bus.events_queue());
    loop {
        let delivery = events.next().await?;
        if matches(pattern, &delivery.message.key) {
            print_event(&delivery.message.body)?;
        }
        delivery.ack().await?;
    }
}
