//! What only the SQS bus has to do, beyond the conformance suite that every backend passes:
//! renew the visibility of messages a handler is still working on, hold a message that
//! arrives before its time (the hops of a wait past SQS's 15-minute delay cap), keep large
//! bodies in Redis only until their message is settled, and let SQS's redrive policy catch
//! a message that is never settled. Against moto's server and Redis, like the suite.

#[path = "support/bounded.rs"]
mod bounded;
#[path = "support/local_sqs.rs"]
mod local_sqs;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::MessageAttributeValue;
use bounded::{next, within};
use imapapi_common::bus::sqs::{SqsBus, SqsTuning};
use imapapi_common::bus::{DELAY_TOLERANCE, Message, QueueName, RetryPolicy, WorkQueues};
use local_sqs::{redis_client, sqs_client, unique_prefix};

async fn bus(prefix: &str, visibility: Duration) -> SqsBus {
    within(SqsBus::with_client(
        sqs_client(),
        prefix,
        RetryPolicy::default(),
        redis_client(),
        SqsTuning { visibility },
    ))
    .await
    .expect("an SQS server must be reachable at IMAPAPI_TEST_SQS, and Redis")
}

/// Runs `case` and deletes the queues afterwards, also when it fails.
async fn with_bus<F, Fut>(visibility: Duration, case: F)
where
    F: FnOnce(SqsBus, String) -> Fut,
    Fut: Future<Output = ()>,
{
    use futures::FutureExt;
    let prefix = unique_prefix();
    let bus = bus(&prefix, visibility).await;
    let result = std::panic::AssertUnwindSafe(case(bus.clone(), prefix))
        .catch_unwind()
        .await;
    within(bus.delete_topology()).await.unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn a_slow_handler_keeps_its_message_past_the_visibility_timeout() {
    with_bus(Duration::from_secs(2), |bus, _| async move {
        let m = Message::new("a.e", b"slow".to_vec());
        within(bus.publish(QueueName::Events, m.clone()))
            .await
            .unwrap();
        let mut first = within(bus.consume(QueueName::Events, 1)).await.unwrap();
        let mut second = within(bus.consume(QueueName::Events, 1)).await.unwrap();
        let d = next(&mut first).await;
        // Three visibility timeouts: without renewal the second consumer would get it.
        let stolen = tokio::time::timeout(Duration::from_secs(6), second.next()).await;
        assert!(
            stolen.is_err(),
            "delivered twice while still being worked on"
        );
        // Given back by a consumer that stops, it goes to the other one.
        drop(d);
        drop(first);
        let again = next(&mut second).await;
        assert_eq!(again.message, m);
        within(again.ack()).await.unwrap();
    })
    .await;
}

fn attribute(data_type: &str, value: String) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_message_back_before_its_time_waits_for_the_rest() {
    with_bus(Duration::from_secs(30), |bus, prefix| async move {
        // As a hop of a long wait arrives: SQS delivers it at once (its delay was capped),
        // while its not-before is still ahead.
        let wait = Duration::from_millis(2_500);
        let not_before = SystemTime::now() + wait;
        let ms = not_before.duration_since(UNIX_EPOCH).unwrap().as_millis();
        let id = uuid::Uuid::now_v7();
        let client = sqs_client();
        let url = client
            .get_queue_url()
            .queue_name(format!("{prefix}-submit"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let attributes = HashMap::from([
            ("id".to_string(), attribute("String", id.to_string())),
            ("key".to_string(), attribute("String", "job".into())),
            ("attempt".to_string(), attribute("Number", "0".into())),
            (
                "not-before".to_string(),
                attribute("Number", ms.to_string()),
            ),
        ]);
        let sent = Instant::now();
        within(
            client
                .send_message()
                .queue_url(&url)
                .message_body("{\"later\":true}")
                .set_message_attributes(Some(attributes))
                .send(),
        )
        .await
        .unwrap();
        let mut c = within(bus.consume(QueueName::Submit, 4)).await.unwrap();
        let d = next(&mut c).await;
        assert!(
            sent.elapsed() + DELAY_TOLERANCE >= wait,
            "delivered after {:?} of {wait:?}",
            sent.elapsed()
        );
        assert_eq!(d.message.id, id);
        assert_eq!(d.message.body, b"{\"later\":true}");
        within(d.ack()).await.unwrap();
        let twice = tokio::time::timeout(Duration::from_millis(1_500), c.next()).await;
        assert!(twice.is_err(), "the early copy was delivered as well");
    })
    .await;
}

async fn body_keys(prefix: &str) -> Vec<String> {
    let mut con = redis_client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}:bus:body:*"))
        .query_async(&mut con)
        .await
        .unwrap()
}

#[tokio::test]
async fn large_bodies_stay_in_redis_until_their_message_is_acked() {
    with_bus(Duration::from_secs(30), |bus, prefix| async move {
        let body: Vec<u8> = (0..600 * 1024u32).map(|i| (i % 253) as u8).collect();
        let m = Message::new("acc.big", body);
        within(bus.publish(QueueName::Submit, m.clone()))
            .await
            .unwrap();
        assert_eq!(body_keys(&prefix).await.len(), 1, "the body went to Redis");
        let mut c = within(bus.consume(QueueName::Submit, 1)).await.unwrap();
        // A retry keeps the same stored body.
        let d = next(&mut c).await;
        assert_eq!(d.message, m);
        within(d.retry()).await.unwrap();
        assert_eq!(body_keys(&prefix).await.len(), 1);
        let d = next(&mut c).await;
        assert_eq!(d.message.body, m.body);
        assert_eq!(d.message.attempt, 1);
        within(d.ack()).await.unwrap();
        assert!(body_keys(&prefix).await.is_empty(), "acked: body removed");
    })
    .await;
}

#[tokio::test]
async fn a_message_never_settled_is_redriven_to_the_dead_letters() {
    with_bus(Duration::from_secs(30), |bus, _| async move {
        let m = Message::new("acc.crash", b"crashes its consumer".to_vec());
        within(bus.publish(QueueName::Events, m.clone()))
            .await
            .unwrap();
        let mut c = within(bus.consume(QueueName::Events, 1)).await.unwrap();
        // Each drop is a consumer that died on it: the attempt count never moves, but SQS
        // counts the receives and redrives after ten.
        let mut receives = 0;
        while let Ok(d) = tokio::time::timeout(Duration::from_secs(5), c.next()).await {
            let d = d.unwrap();
            assert_eq!(d.message.attempt, 0);
            receives += 1;
            assert!(receives <= 10, "received {receives} times");
            drop(d);
        }
        assert_eq!(receives, 10);
        let dead = within(bus.dead_letters(QueueName::Events, 10))
            .await
            .unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].id, m.id);
        assert_eq!(dead[0].body, m.body);
    })
    .await;
}
