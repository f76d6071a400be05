//! One conformance suite for every `Bus` backend: each case runs against the in-process
//! bus (in a temporary directory), against a real RabbitMQ (`IMAPAPI_TEST_AMQP`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`) and against an SQS-compatible server
//! (`IMAPAPI_TEST_SQS`, default moto's at `http://127.0.0.1:4566`, with Redis at
//! `IMAPAPI_TEST_REDIS` for node requests and large bodies), each with a unique prefix per
//! test whose queues and exchanges are deleted afterwards, so the roles can rely on the
//! same semantics whichever backend the configuration picks. Every wait is bounded, so a broken backend fails a
//! test instead of hanging the run.

use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bounded::{SOON, next, within};
use futures::FutureExt;
use imapapi_common::bus::embedded::EmbeddedBus;
use imapapi_common::bus::rabbitmq::RabbitBus;
use imapapi_common::bus::sqs::{SqsBus, SqsTuning};
use imapapi_common::bus::{
    Bus, BusError, Consumer, DELAY_TOLERANCE, Message, NoticeListener, QueueDepth, QueueName,
    RetryOutcome, RetryPolicies, RetryPolicy, WorkQueues,
};
use local_sqs::{redis_client, sqs_client, unique_prefix};

#[path = "support/bounded.rs"]
mod bounded;
#[path = "support/local_sqs.rs"]
mod local_sqs;

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(100),
    max_delay: Duration::MAX,
    jitter: false,
};
/// The submit queue's: fewer attempts, with jitter.
const SUBMIT_POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    base_delay: Duration::from_millis(400),
    max_delay: Duration::MAX,
    jitter: true,
};
const POLICIES: RetryPolicies = RetryPolicies {
    events: POLICY,
    submit: SUBMIT_POLICY,
};

/// How long we watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(400);

fn amqp_url() -> String {
    std::env::var("IMAPAPI_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_string())
}

/// One backend under test, plus what is needed to open it again.
enum Fixture {
    Embedded {
        /// Kept so the directory lives as long as the bus.
        _dir: tempfile::TempDir,
        bus: Arc<EmbeddedBus>,
    },
    Rabbit {
        prefix: String,
        bus: Arc<RabbitBus>,
    },
    Sqs {
        prefix: String,
        bus: Arc<SqsBus>,
    },
}

impl Fixture {
    async fn embedded() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let bus = EmbeddedBus::open(dir.path(), POLICIES).await.unwrap();
        Fixture::Embedded {
            _dir: dir,
            bus: Arc::new(bus),
        }
    }

    async fn rabbit() -> Fixture {
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let bus = within(RabbitBus::connect(&amqp_url(), &prefix, POLICIES))
            .await
            .expect("RabbitMQ must be reachable at IMAPAPI_TEST_AMQP");
        Fixture::Rabbit {
            prefix,
            bus: Arc::new(bus),
        }
    }

    async fn sqs() -> Fixture {
        let prefix = unique_prefix();
        let bus = Arc::new(Self::sqs_bus(&prefix).await);
        Fixture::Sqs { prefix, bus }
    }

    async fn sqs_bus(prefix: &str) -> SqsBus {
        within(SqsBus::with_client(
            sqs_client(),
            prefix,
            POLICIES,
            redis_client(),
            SqsTuning::default(),
        ))
        .await
        .expect("an SQS server must be reachable at IMAPAPI_TEST_SQS, and Redis")
    }

    /// Another handle on the same queues, as a second process would open them: its own
    /// connections to the broker (the embedded bus has no second process: itself).
    async fn peer(&self) -> Arc<dyn Bus> {
        match self {
            Fixture::Embedded { bus, .. } => bus.clone(),
            Fixture::Rabbit { prefix, .. } => Arc::new(
                within(RabbitBus::connect(&amqp_url(), prefix, POLICIES))
                    .await
                    .unwrap(),
            ),
            Fixture::Sqs { prefix, .. } => Arc::new(Self::sqs_bus(prefix).await),
        }
    }

    fn bus(&self) -> Arc<dyn Bus> {
        match self {
            Fixture::Embedded { bus, .. } => bus.clone(),
            Fixture::Rabbit { bus, .. } => bus.clone(),
            Fixture::Sqs { bus, .. } => bus.clone(),
        }
    }

    async fn cleanup(&self) {
        match self {
            Fixture::Rabbit { bus, .. } => within(bus.delete_topology()).await.unwrap(),
            Fixture::Sqs { bus, .. } => within(bus.delete_topology()).await.unwrap(),
            Fixture::Embedded { .. } => {}
        }
    }
}

/// Runs one case against a fresh fixture, cleaning the broker up even when it fails.
async fn run<F, Fut>(fixture: Fixture, case: F)
where
    F: FnOnce(Arc<Fixture>) -> Fut,
    Fut: Future<Output = ()>,
{
    let fixture = Arc::new(fixture);
    let result = AssertUnwindSafe(case(fixture.clone())).catch_unwind().await;
    fixture.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn assert_nothing(c: &mut Box<dyn Consumer>) {
    if let Ok(d) = tokio::time::timeout(QUIET, c.next()).await {
        panic!("unexpected delivery: {:?}", d.map(|d| d.message));
    }
}

fn msg(key: &str, body: &str) -> Message {
    Message::new(key, body.as_bytes().to_vec())
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::run(super::Fixture::embedded().await, super::$name).await
                }
            )*
        }
        mod rabbitmq {
            $(
                #[tokio::test]
                async fn $name() {
                    super::run(super::Fixture::rabbit().await, super::$name).await
                }
            )*
        }
        mod sqs {
            $(
                #[tokio::test]
                async fn $name() {
                    super::run(super::Fixture::sqs().await, super::$name).await
                }
            )*
        }
    };
}

conformance!(
    publish_consume_ack,
    single_consumer_keeps_order,
    two_consumers_share,
    prefetch_bounds_unsettled,
    dropped_delivery_is_redelivered,
    dropped_consumer_delivery_is_redelivered,
    retry_backs_off_then_dead_letters,
    ids_survive_redelivery,
    large_payload,
    queues_are_separate,
    request_reply_round_trip,
    concurrent_requests_get_their_own_replies,
    request_times_out,
    request_without_server_has_no_route,
    delayed_message_waits_for_its_time,
    dead_letter_at_once,
    each_queue_has_its_retry_policy,
    redrive_by_id_delivers_that_one_again,
    redrive_all_in_bounded_calls,
    drop_by_id,
    drop_all,
    unknown_ids_touch_nothing,
    redriven_message_that_fails_again_is_dead_lettered_again,
    depth_counts_ready_in_flight_and_dead,
    notices_reach_every_listener,
    notices_without_listeners_are_fine,
    many_notices_merge_and_end,
    batch_is_delivered_once_each_in_order,
    batch_holds_its_delayed_messages,
    batch_beyond_one_call_with_large_bodies,
);

async fn publish_consume_ack(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let m = msg("acc1.messageNew", "hello");
    within(bus.publish(QueueName::Events, m.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Events, 10)).await.unwrap();
    let d = next(&mut c).await;
    assert_eq!(d.message, m);
    within(d.ack()).await.unwrap();
    assert_nothing(&mut c).await;
    drop(c);
    // Acked means gone, also for a new consumer.
    let mut c = within(bus.consume(QueueName::Events, 10)).await.unwrap();
    assert_nothing(&mut c).await;
}

async fn single_consumer_keeps_order(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let sent: Vec<Message> = (0..20).map(|i| msg("a.e", &format!("m{i}"))).collect();
    for m in &sent {
        within(bus.publish(QueueName::Events, m.clone()))
            .await
            .unwrap();
    }
    let mut c = within(bus.consume(QueueName::Events, 5)).await.unwrap();
    for m in &sent {
        let d = next(&mut c).await;
        assert_eq!(&d.message, m);
        within(d.ack()).await.unwrap();
    }
}

async fn two_consumers_share(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let mut c1 = within(bus.consume(QueueName::Submit, 1)).await.unwrap();
    let mut c2 = within(bus.consume(QueueName::Submit, 1)).await.unwrap();
    let sent: HashSet<_> = {
        let mut ids = HashSet::new();
        for i in 0..10 {
            let m = msg("job", &format!("j{i}"));
            ids.insert(m.id);
            within(bus.publish(QueueName::Submit, m)).await.unwrap();
        }
        ids
    };
    // Each holds one unsettled delivery: with prefetch 1 they must be different messages.
    let d1 = next(&mut c1).await;
    let d2 = next(&mut c2).await;
    assert_ne!(d1.message.id, d2.message.id);
    let mut seen = HashSet::from([d1.message.id, d2.message.id]);
    within(d1.ack()).await.unwrap();
    within(d2.ack()).await.unwrap();
    let mut from_each = [1, 1];
    while seen.len() < sent.len() {
        tokio::select! {
            d = c1.next() => { let d = d.unwrap(); from_each[0] += 1; assert!(seen.insert(d.message.id)); d.ack().await.unwrap(); }
            d = c2.next() => { let d = d.unwrap(); from_each[1] += 1; assert!(seen.insert(d.message.id)); d.ack().await.unwrap(); }
            _ = tokio::time::sleep(SOON) => panic!("timed out; got {} of {}", seen.len(), sent.len()),
        }
    }
    assert_eq!(seen, sent);
    assert_nothing(&mut c1).await;
    assert_nothing(&mut c2).await;
}

async fn prefetch_bounds_unsettled(fx: Arc<Fixture>) {
    let bus = fx.bus();
    for i in 0..3 {
        within(bus.publish(QueueName::Events, msg("a.e", &format!("{i}"))))
            .await
            .unwrap();
    }
    let mut c = within(bus.consume(QueueName::Events, 2)).await.unwrap();
    let d1 = next(&mut c).await;
    let _d2 = next(&mut c).await;
    assert_nothing(&mut c).await;
    within(d1.ack()).await.unwrap();
    let d3 = next(&mut c).await;
    assert_eq!(d3.message.body, b"2");
}

async fn dropped_delivery_is_redelivered(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let m = msg("a.e", "drop me");
    within(bus.publish(QueueName::Events, m.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Events, 1)).await.unwrap();
    let d = next(&mut c).await;
    drop(d);
    let d = next(&mut c).await;
    assert_eq!(d.message, m, "same id, key, body and attempt");
    within(d.ack()).await.unwrap();
}

async fn dropped_consumer_delivery_is_redelivered(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let m = msg("a.e", "consumer dies");
    within(bus.publish(QueueName::Events, m.clone()))
        .await
        .unwrap();
    let mut c1 = within(bus.consume(QueueName::Events, 1)).await.unwrap();
    let d = next(&mut c1).await;
    assert_eq!(d.message.id, m.id);
    // The consumer dies with its unsettled delivery.
    drop(c1);
    drop(d);
    let mut c2 = within(bus.consume(QueueName::Events, 1)).await.unwrap();
    let d = next(&mut c2).await;
    assert_eq!(d.message, m);
    within(d.ack()).await.unwrap();
}

async fn retry_backs_off_then_dead_letters(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let m = msg("acc.failing", "poison");
    within(bus.publish(QueueName::Events, m.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Events, 1)).await.unwrap();
    for attempt in 0..POLICY.max_attempts {
        let d = next(&mut c).await;
        assert_eq!(d.message.id, m.id);
        assert_eq!(d.message.body, m.body);
        assert_eq!(d.message.key, m.key);
        assert_eq!(d.message.attempt, attempt);
        // Before the retry call: its delay starts inside it, and on a loaded machine the
        // call can return (after the broker's confirm) well into that delay.
        let started = Instant::now();
        let outcome = within(d.retry()).await.unwrap();
        if attempt + 1 < POLICY.max_attempts {
            let delay = POLICY.delay(attempt);
            assert_eq!(outcome, RetryOutcome::Scheduled(delay));
            // Not before the delay. Measured on arrival rather than with a timer racing the
            // delivery: on a loaded machine a timer fires late and would blame the bus.
            let d = next(&mut c).await;
            assert!(
                started.elapsed() >= delay.mul_f32(0.9),
                "redelivered before the backoff delay"
            );
            // Put it back untouched for the next loop round to fail it again.
            drop(d);
        } else {
            assert_eq!(outcome, RetryOutcome::DeadLettered);
        }
    }
    assert_nothing(&mut c).await;
    let dead = within(bus.dead_letters(QueueName::Events, 10))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, m.id);
    assert_eq!(dead[0].body, m.body);
    assert_eq!(dead[0].key, m.key);
    assert_eq!(dead[0].attempt, POLICY.max_attempts);
    // Listing does not remove.
    let again = within(bus.dead_letters(QueueName::Events, 10))
        .await
        .unwrap();
    assert_eq!(again, dead);
    assert!(
        within(bus.dead_letters(QueueName::Submit, 10))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn ids_survive_redelivery(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let sent: Vec<Message> = (0..5).map(|i| msg("a.e", &format!("{i}"))).collect();
    for m in &sent {
        within(bus.publish(QueueName::Submit, m.clone()))
            .await
            .unwrap();
    }
    let mut c = within(bus.consume(QueueName::Submit, 10)).await.unwrap();
    let mut first = Vec::new();
    for _ in &sent {
        first.push(next(&mut c).await);
    }
    // Fail some, drop the others.
    for (i, d) in first.into_iter().enumerate() {
        if i % 2 == 0 {
            assert!(matches!(
                within(d.retry()).await.unwrap(),
                RetryOutcome::Scheduled(_)
            ));
        } else {
            drop(d);
        }
    }
    let mut got = Vec::new();
    for _ in &sent {
        let d = next(&mut c).await;
        got.push(d.message.clone());
        within(d.ack()).await.unwrap();
    }
    for m in &sent {
        let r = got.iter().find(|g| g.id == m.id).expect("redelivered");
        assert_eq!(r.body, m.body);
        assert_eq!(r.key, m.key);
    }
    assert_nothing(&mut c).await;
}

async fn large_payload(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let body: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let m = Message::new("acc.big", body);
    within(bus.publish(QueueName::Submit, m.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Submit, 1)).await.unwrap();
    let d = next(&mut c).await;
    assert_eq!(d.message, m);
    within(d.ack()).await.unwrap();
}

async fn queues_are_separate(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let e = msg("a.e", "event");
    let s = msg("job", "send");
    within(bus.publish(QueueName::Events, e.clone()))
        .await
        .unwrap();
    within(bus.publish(QueueName::Submit, s.clone()))
        .await
        .unwrap();
    let mut ce = within(bus.consume(QueueName::Events, 5)).await.unwrap();
    let mut cs = within(bus.consume(QueueName::Submit, 5)).await.unwrap();
    let d = next(&mut ce).await;
    assert_eq!(d.message, e);
    within(d.ack()).await.unwrap();
    let d = next(&mut cs).await;
    assert_eq!(d.message, s);
    within(d.ack()).await.unwrap();
    assert_nothing(&mut ce).await;
}

/// Serves `node` by answering each request with `re:` + its body, after an optional delay
/// taken from the first byte (in tens of milliseconds), concurrently.
async fn echo_server(bus: &Arc<dyn Bus>, node: &str) -> tokio::task::JoinHandle<()> {
    let mut server = within(bus.serve(node)).await.unwrap();
    tokio::spawn(async move {
        while let Ok(req) = server.next().await {
            tokio::spawn(async move {
                let delay = req.body.first().copied().unwrap_or(0) % 10;
                tokio::time::sleep(Duration::from_millis(u64::from(delay) * 10)).await;
                let mut reply = b"re:".to_vec();
                reply.extend_from_slice(&req.body);
                req.replier.reply(reply).await.unwrap();
            });
        }
    })
}

async fn request_reply_round_trip(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let server = echo_server(&bus, "node-a").await;
    let reply = within(bus.request("node-a", b"\x00ping".to_vec(), SOON))
        .await
        .unwrap();
    assert_eq!(reply, b"re:\x00ping");
    server.abort();
}

async fn concurrent_requests_get_their_own_replies(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let server = echo_server(&bus, "node-b").await;
    let requests = (0..40u8).map(|i| {
        let bus = bus.clone();
        async move {
            // Later requests answer sooner, so replies come back out of order.
            let body = vec![9 - i % 10, i];
            let reply = bus.request("node-b", body.clone(), SOON).await.unwrap();
            assert_eq!(reply[3..], body[..]);
        }
    });
    within(futures::future::join_all(requests)).await;
    server.abort();
}

async fn request_times_out(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let mut server = within(bus.serve("node-c")).await.unwrap();
    // Takes requests and never answers.
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok(req) = server.next().await {
            held.push(req);
        }
    });
    let started = Instant::now();
    let timeout = Duration::from_millis(300);
    let result = within(bus.request("node-c", b"x".to_vec(), timeout)).await;
    assert!(matches!(result, Err(BusError::Timeout)), "{result:?}");
    assert!(started.elapsed() >= timeout.mul_f32(0.9));
    hold.abort();
}

async fn request_without_server_has_no_route(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let result = within(bus.request("nobody", b"x".to_vec(), SOON)).await;
    assert!(matches!(result, Err(BusError::NoRoute(_))), "{result:?}");

    // A server that goes away unregisters.
    let server = within(bus.serve("node-d")).await.unwrap();
    drop(server);
    within(async {
        loop {
            match bus
                .request("node-d", b"x".to_vec(), Duration::from_millis(200))
                .await
            {
                Err(BusError::NoRoute(_)) => break,
                Err(BusError::Timeout) => tokio::time::sleep(Duration::from_millis(50)).await,
                other => panic!("{other:?}"),
            }
        }
    })
    .await;
}

/// Whether `listener` reports a notice within `wait`.
async fn noticed(listener: &mut Box<dyn NoticeListener>, wait: Duration) -> bool {
    match tokio::time::timeout(wait, listener.next()).await {
        Ok(result) => {
            result.expect("listener failed");
            true
        }
        Err(_) => false,
    }
}

/// Every listener, in this process or another, gets each notice: a broadcast, not a work
/// queue; and a listener hears nothing when nothing was announced.
async fn notices_reach_every_listener(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let peer = fx.peer().await;
    let mut here = within(bus.listen_accounts_changed()).await.unwrap();
    let mut there = within(peer.listen_accounts_changed()).await.unwrap();
    assert!(
        !noticed(&mut here, QUIET).await,
        "a notice nobody announced"
    );
    within(bus.announce_accounts_changed()).await.unwrap();
    assert!(noticed(&mut here, SOON).await);
    assert!(noticed(&mut there, SOON).await);
    // From the other side too.
    within(peer.announce_accounts_changed()).await.unwrap();
    assert!(noticed(&mut here, SOON).await);
    assert!(noticed(&mut there, SOON).await);
    assert!(!noticed(&mut here, QUIET).await);
}

/// Nobody listening is no error, and a listener that went away does not block others.
async fn notices_without_listeners_are_fine(fx: Arc<Fixture>) {
    let bus = fx.bus();
    within(bus.announce_accounts_changed()).await.unwrap();
    let gone = within(bus.listen_accounts_changed()).await.unwrap();
    drop(gone);
    let mut kept = within(bus.listen_accounts_changed()).await.unwrap();
    within(bus.announce_accounts_changed()).await.unwrap();
    assert!(noticed(&mut kept, SOON).await);
}

/// A burst of notices to a listener that does not take them reaches it as at least one
/// notice, and then stops: the backlog is drained, none is left over for later.
async fn many_notices_merge_and_end(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let mut listener = within(bus.listen_accounts_changed()).await.unwrap();
    for _ in 0..50 {
        within(bus.announce_accounts_changed()).await.unwrap();
    }
    assert!(noticed(&mut listener, SOON).await);
    let mut more = 0;
    while noticed(&mut listener, QUIET).await {
        more += 1;
        assert!(more < 50, "more notices than were announced");
    }
}

#[tokio::test]
async fn embedded_messages_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let slow = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_secs(2),
        max_delay: Duration::MAX,
        jitter: false,
    };
    let sent: Vec<Message> = (0..4).map(|i| msg("a.e", &format!("{i}"))).collect();
    let job = msg("job", "send me");
    let dead = msg("a.dead", "dead");
    let retried_at;
    {
        let bus = EmbeddedBus::open(dir.path(), slow).await.unwrap();
        for m in sent.iter().chain([&dead]) {
            bus.publish(QueueName::Events, m.clone()).await.unwrap();
        }
        bus.publish(QueueName::Submit, job.clone()).await.unwrap();
        let mut c = bus.consume(QueueName::Events, 10).await.unwrap();
        // sent[0]: acked; sent[1]: waiting 2 s for its retry; sent[2]: in flight;
        // sent[3]: never settled; dead: waiting 2 s for its last attempt.
        let d = next(&mut c).await;
        d.ack().await.unwrap();
        let d = next(&mut c).await;
        retried_at = Instant::now();
        assert!(matches!(
            d.retry().await.unwrap(),
            RetryOutcome::Scheduled(_)
        ));
        let in_flight = next(&mut c).await;
        let _never_settled = next(&mut c).await;
        let d = next(&mut c).await;
        assert_eq!(d.message.id, dead.id);
        assert_eq!(
            d.retry().await.unwrap(),
            RetryOutcome::Scheduled(slow.base_delay)
        );
        // A second bus on the same file must be refused while this one is open.
        assert!(EmbeddedBus::open(dir.path(), slow).await.is_err());
        // The process dies with deliveries unsettled.
        drop((in_flight, _never_settled, c));
    }
    // The process "restarted": what was in flight is delivered again at once; what waits
    // for a retry keeps waiting for its time, then comes too.
    let bus = EmbeddedBus::open(dir.path(), slow).await.unwrap();
    let mut c = bus.consume(QueueName::Events, 10).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(next(&mut c).await);
    }
    assert_nothing(&mut c).await;
    let find = |m: &Message| {
        got.iter()
            .position(|d| d.message.id == m.id)
            .unwrap_or_else(|| panic!("{:?} lost", m.body))
    };
    assert!(find(&sent[2]) < 2 && find(&sent[3]) < 2, "ready ones first");
    assert!(
        retried_at.elapsed() >= slow.base_delay,
        "a retry came before its time"
    );
    assert_eq!(got[find(&sent[1])].message.attempt, 1);
    assert_eq!(got[find(&sent[2])].message.attempt, 0);
    assert_eq!(got[find(&sent[3])].message, sent[3]);
    assert!(got.iter().all(|d| d.message.id != sent[0].id));
    for d in got {
        if d.message.id == dead.id {
            assert_eq!(d.retry().await.unwrap(), RetryOutcome::DeadLettered);
        } else {
            d.ack().await.unwrap();
        }
    }
    let mut s = bus.consume(QueueName::Submit, 1).await.unwrap();
    assert_eq!(next(&mut s).await.message, job);
    drop((c, s, bus));
    let bus = EmbeddedBus::open(dir.path(), slow).await.unwrap();
    let letters = bus.dead_letters(QueueName::Events, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, dead.id);
    // The job was delivered but never acked: still there.
    let mut s = bus.consume(QueueName::Submit, 1).await.unwrap();
    assert_eq!(next(&mut s).await.message, job);
}

/// A user's own queue `<prefix>.user.<name>` bound to the events exchange with `pattern`,
/// on a connection of its own (returned with its channel and the queue name).
async fn bind_user_queue(
    prefix: &str,
    name: &str,
    pattern: &str,
) -> (lapin::Connection, lapin::Channel, String) {
    use lapin::options::{QueueBindOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;

    let conn = within(lapin::Connection::connect(
        &amqp_url(),
        lapin::ConnectionProperties::default(),
    ))
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let queue = format!("{prefix}.user.{name}");
    let options = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    ch.queue_declare(queue.as_str().into(), options, FieldTable::default())
        .await
        .unwrap();
    ch.queue_bind(
        queue.as_str().into(),
        format!("{prefix}.events").into(),
        pattern.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    (conn, ch, queue)
}

#[tokio::test]
async fn rabbitmq_users_can_bind_their_own_queue_to_events() {
    use lapin::options::BasicGetOptions;

    run(Fixture::rabbit().await, |fx| async move {
        let Fixture::Rabbit { prefix, .. } = &*fx else {
            unreachable!()
        };
        let (conn, ch, mine) = bind_user_queue(prefix, "mine", "someaccount.*").await;

        let bus = fx.bus();
        let wanted = msg("someaccount.messageNew", "{\"event\":\"messageNew\"}");
        let other = msg("otheraccount.messageNew", "{}");
        within(bus.publish(QueueName::Events, wanted.clone()))
            .await
            .unwrap();
        within(bus.publish(QueueName::Events, other.clone()))
            .await
            .unwrap();

        let got = within(ch.basic_get(mine.as_str().into(), BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("the user's queue received the event");
        let d = got.delivery;
        assert_eq!(d.routing_key.as_str(), "someaccount.messageNew");
        assert_eq!(d.data, wanted.body);
        assert_eq!(
            d.properties
                .message_id()
                .as_ref()
                .map(|s| s.as_str().to_string()),
            Some(wanted.id.to_string())
        );
        // Only what matched the binding.
        let rest = within(ch.basic_get(mine.as_str().into(), BasicGetOptions { no_ack: true }))
            .await
            .unwrap();
        assert!(rest.is_none());

        // Our own events queue still sees both.
        let mut c = within(bus.consume(QueueName::Events, 10)).await.unwrap();
        for m in [&wanted, &other] {
            let d = next(&mut c).await;
            assert_eq!(&d.message, m);
            within(d.ack()).await.unwrap();
        }
        let _ = conn.close(200, "OK".into()).await;
    })
    .await
}

/// Account ids with dots (email addresses) stay one word of the routing key, so a binding
/// on `*.messageNew` gets their events too.
#[tokio::test]
async fn rabbitmq_event_bindings_match_accounts_with_dots() {
    use imapapi_common::model::{Event, EventKind};
    use lapin::options::BasicGetOptions;

    run(Fixture::rabbit().await, |fx| async move {
        let Fixture::Rabbit { prefix, .. } = &*fx else {
            unreachable!()
        };
        let (conn, ch, mine) = bind_user_queue(prefix, "new-mail", "*.messageNew").await;
        let event = Event::new(
            "user@example.com",
            EventKind::MessageNew,
            None,
            serde_json::json!({}),
        );
        let m = msg(&event.routing_key(), "{}");
        within(fx.bus().publish(QueueName::Events, m.clone()))
            .await
            .unwrap();
        let got = within(ch.basic_get(mine.as_str().into(), BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("*.messageNew matched an account with dots");
        assert_eq!(
            got.delivery.routing_key.as_str(),
            "user@example%2Ecom.messageNew"
        );
        let _ = conn.close(200, "OK".into()).await;
    })
    .await
}

/// Closes the broker side of the bus's connection, as a broker restart or network cut
/// would. Needs `rabbitmqctl` on the test machine.
async fn kill_connection(prefix: &str) {
    let name = format!("imapapi {prefix}");
    let out = tokio::process::Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "pid", "client_properties"])
        .output()
        .await
        .expect("rabbitmqctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let pids: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&name))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(!pids.is_empty(), "no connection named {name}: {text}");
    for pid in pids {
        let status = tokio::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "test: connection loss"])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }
}

#[tokio::test]
async fn rabbitmq_reconnects_after_connection_loss() {
    run(Fixture::rabbit().await, |fx| async move {
        let Fixture::Rabbit { prefix, .. } = &*fx else {
            unreachable!()
        };
        let bus = fx.bus();
        let server = echo_server(&bus, "node-r").await;
        let m = msg("a.e", "in flight when the connection drops");
        within(bus.publish(QueueName::Events, m.clone()))
            .await
            .unwrap();
        let mut c = within(bus.consume(QueueName::Events, 1)).await.unwrap();
        let d = next(&mut c).await;

        within(kill_connection(prefix)).await;

        // The unsettled delivery went back to the queue: acking it now fails…
        assert!(within(d.ack()).await.is_err());
        // …and the same consumer gets it again once it has resubscribed.
        let again = next(&mut c).await;
        assert_eq!(again.message, m);
        within(again.ack()).await.unwrap();
        // Publishing reconnects.
        let m2 = msg("a.e", "after");
        within(bus.publish(QueueName::Events, m2.clone()))
            .await
            .unwrap();
        assert_eq!(next(&mut c).await.message, m2);
        // The server resubscribes too; until it has, requests find no route.
        within(async {
            loop {
                match bus.request("node-r", b"\x00hi".to_vec(), SOON).await {
                    Ok(reply) => break assert_eq!(reply, b"re:\x00hi"),
                    Err(BusError::NoRoute(_) | BusError::Timeout) => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        })
        .await;
        server.abort();
    })
    .await
}

/// A message published with `not_before` is held until then (at most `DELAY_TOLERANCE`
/// early), while messages published after it without a time pass it by.
async fn delayed_message_waits_for_its_time(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let wait = Duration::from_millis(1_300);
    let published = Instant::now();
    let later = msg("job", "later").not_before(std::time::SystemTime::now() + wait);
    within(bus.publish(QueueName::Submit, later.clone()))
        .await
        .unwrap();
    let now = msg("job", "now");
    within(bus.publish(QueueName::Submit, now.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Submit, 4)).await.unwrap();
    let first = next(&mut c).await;
    assert_eq!(first.message.id, now.id, "the undelayed one comes first");
    within(first.ack()).await.unwrap();
    let second = next(&mut c).await;
    let waited = published.elapsed();
    assert_eq!(second.message.id, later.id);
    assert_eq!(second.message.body, later.body);
    assert_eq!(second.message.attempt, 0);
    assert!(
        waited + DELAY_TOLERANCE >= wait,
        "delivered after {waited:?}, asked for {wait:?}"
    );
    within(second.ack()).await.unwrap();
    assert_nothing(&mut c).await;
}

/// A permanent failure goes to the dead letters at once, whatever attempts are left.
async fn dead_letter_at_once(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let m = msg("job", "rejected for good");
    within(bus.publish(QueueName::Submit, m.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Submit, 1)).await.unwrap();
    let d = next(&mut c).await;
    within(d.dead_letter()).await.unwrap();
    assert_nothing(&mut c).await;
    let dead = within(bus.dead_letters(QueueName::Submit, 10))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, m.id);
    assert_eq!(dead[0].body, m.body);
    assert_eq!(dead[0].attempt, 1);
    assert!(
        within(bus.dead_letters(QueueName::Events, 10))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Submit's policy (2 attempts, jittered delay) applies to submit, not to events (3).
async fn each_queue_has_its_retry_policy(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let m = msg("job", "flaky");
    within(bus.publish(QueueName::Submit, m.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Submit, 1)).await.unwrap();
    let d = next(&mut c).await;
    let started = Instant::now();
    let RetryOutcome::Scheduled(delay) = within(d.retry()).await.unwrap() else {
        panic!("the first failure of two allowed is retried");
    };
    let full = SUBMIT_POLICY.base_delay;
    assert!(
        delay >= full / 2 && delay <= full,
        "jittered delay {delay:?} outside {:?}..={full:?}",
        full / 2
    );
    let d = next(&mut c).await;
    assert!(started.elapsed() + DELAY_TOLERANCE >= delay);
    assert_eq!(d.message.attempt, 1);
    assert_eq!(within(d.retry()).await.unwrap(), RetryOutcome::DeadLettered);
    assert_nothing(&mut c).await;
}

/// Publishes `sent` to `queue` and dead-letters each at its first delivery, so the cases
/// on dead letters start from a known set of them.
async fn bury(bus: &Arc<dyn Bus>, queue: QueueName, sent: &[Message]) -> Box<dyn Consumer> {
    for m in sent {
        within(bus.publish(queue, m.clone())).await.unwrap();
    }
    let mut c = within(bus.consume(queue, 10)).await.unwrap();
    for _ in sent {
        within(next(&mut c).await.dead_letter()).await.unwrap();
    }
    assert_eq!(dead_ids(bus, queue).await.len(), sent.len());
    c
}

/// The ids of the dead letters of `queue`.
async fn dead_ids(bus: &Arc<dyn Bus>, queue: QueueName) -> HashSet<uuid::Uuid> {
    let dead = within(bus.dead_letters(queue, 100)).await.unwrap();
    dead.iter().map(|m| m.id).collect()
}

/// Exactly the asked-for dead letter goes back, as it was published (same id, key and
/// body) but with its attempts reset; the others stay.
async fn redrive_by_id_delivers_that_one_again(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let sent: Vec<Message> = (0..3)
        .map(|i| msg("acc.redrive", &format!("r{i}")))
        .collect();
    let mut c = bury(&bus, QueueName::Events, &sent).await;
    let moved = within(bus.redrive_dead_letters(QueueName::Events, Some(&[sent[1].id]), 100))
        .await
        .unwrap();
    assert_eq!(moved, 1);
    let d = next(&mut c).await;
    assert_eq!(d.message, sent[1], "same id, key, body; attempt 0");
    within(d.ack()).await.unwrap();
    assert_nothing(&mut c).await;
    let left = dead_ids(&bus, QueueName::Events).await;
    assert_eq!(left, HashSet::from([sent[0].id, sent[2].id]));
}

/// Without ids every dead letter goes back; a call moves at most its limit. A large body
/// (kept apart from the message by SQS) comes back whole.
async fn redrive_all_in_bounded_calls(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let mut sent: Vec<Message> = (0..2).map(|i| msg("job", &format!("j{i}"))).collect();
    let large: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    sent.push(Message::new("job", large));
    let mut c = bury(&bus, QueueName::Submit, &sent).await;
    let first = within(bus.redrive_dead_letters(QueueName::Submit, None, 2))
        .await
        .unwrap();
    assert_eq!(first, 2);
    assert_eq!(dead_ids(&bus, QueueName::Submit).await.len(), 1);
    let rest = within(bus.redrive_dead_letters(QueueName::Submit, None, 100))
        .await
        .unwrap();
    assert_eq!(rest, 1);
    let mut got = HashSet::new();
    for _ in &sent {
        let d = next(&mut c).await;
        assert_eq!(d.message.attempt, 0);
        let m = sent
            .iter()
            .find(|m| m.id == d.message.id)
            .expect("one we sent");
        assert_eq!(d.message.body, m.body);
        assert!(got.insert(d.message.id), "delivered twice");
        within(d.ack()).await.unwrap();
    }
    assert_nothing(&mut c).await;
    assert!(dead_ids(&bus, QueueName::Submit).await.is_empty());
    let none = within(bus.redrive_dead_letters(QueueName::Submit, None, 100))
        .await
        .unwrap();
    assert_eq!(none, 0);
}

async fn drop_by_id(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let sent: Vec<Message> = (0..2).map(|i| msg("acc.drop", &format!("d{i}"))).collect();
    let mut c = bury(&bus, QueueName::Events, &sent).await;
    let dropped = within(bus.drop_dead_letters(QueueName::Events, Some(&[sent[0].id]), 100))
        .await
        .unwrap();
    assert_eq!(dropped, 1);
    assert_eq!(
        dead_ids(&bus, QueueName::Events).await,
        HashSet::from([sent[1].id])
    );
    assert_nothing(&mut c).await;
}

async fn drop_all(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let sent: Vec<Message> = (0..3).map(|i| msg("acc.drop", &format!("d{i}"))).collect();
    let mut c = bury(&bus, QueueName::Events, &sent).await;
    let dropped = within(bus.drop_dead_letters(QueueName::Events, None, 100))
        .await
        .unwrap();
    assert_eq!(dropped, 3);
    assert!(dead_ids(&bus, QueueName::Events).await.is_empty());
    assert_nothing(&mut c).await;
}

/// Ids that are not dead letters (or none at all) move and delete nothing.
async fn unknown_ids_touch_nothing(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let sent = [msg("acc.keep", "kept")];
    let mut c = bury(&bus, QueueName::Events, &sent).await;
    let unknown = [uuid::Uuid::now_v7()];
    for ids in [&unknown[..], &[]] {
        let moved = within(bus.redrive_dead_letters(QueueName::Events, Some(ids), 100))
            .await
            .unwrap();
        let dropped = within(bus.drop_dead_letters(QueueName::Events, Some(ids), 100))
            .await
            .unwrap();
        assert_eq!((moved, dropped), (0, 0), "ids {ids:?}");
    }
    // Another queue's dead letter is not this queue's.
    let other = within(bus.drop_dead_letters(QueueName::Submit, Some(&[sent[0].id]), 100))
        .await
        .unwrap();
    assert_eq!(other, 0);
    assert_nothing(&mut c).await;
    assert_eq!(
        dead_ids(&bus, QueueName::Events).await,
        HashSet::from([sent[0].id])
    );
}

/// A redriven message gets its whole retry schedule again, and when that runs out it is a
/// dead letter again.
async fn redriven_message_that_fails_again_is_dead_lettered_again(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let m = msg("acc.flaky", "fails twice over");
    let mut c = bury(&bus, QueueName::Events, std::slice::from_ref(&m)).await;
    let moved = within(bus.redrive_dead_letters(QueueName::Events, None, 100))
        .await
        .unwrap();
    assert_eq!(moved, 1);
    for attempt in 0..POLICY.max_attempts {
        let d = next(&mut c).await;
        assert_eq!((d.message.id, d.message.attempt), (m.id, attempt));
        let outcome = within(d.retry()).await.unwrap();
        let last = attempt + 1 == POLICY.max_attempts;
        assert_eq!(outcome == RetryOutcome::DeadLettered, last, "{outcome:?}");
    }
    assert_nothing(&mut c).await;
    let dead = within(bus.dead_letters(QueueName::Events, 10))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id, dead[0].attempt), (m.id, POLICY.max_attempts));
    assert_eq!(dead[0].body, m.body);
}

/// The depth of `queue`, checked against what the test did: `ready` and `dead_letters`
/// exactly (moto counts exactly, though SQS only promises approximate counts), and
/// `in_flight` exactly, except on RabbitMQ, which cannot tell it.
async fn assert_depth(fx: &Fixture, queue: QueueName, ready: u64, in_flight: u64, dead: u64) {
    let depth = within(fx.bus().depth(queue)).await.unwrap();
    let in_flight = (!matches!(fx, Fixture::Rabbit { .. })).then_some(in_flight);
    let want = QueueDepth {
        ready,
        in_flight,
        dead_letters: dead,
    };
    assert_eq!(depth, want, "depth of {}", queue.as_str());
}

/// Queue depth counts what was published as ready (a delayed message too), a delivery held
/// unsettled as in flight (where the backend tells), a dead letter as dead, per queue.
async fn depth_counts_ready_in_flight_and_dead(fx: Arc<Fixture>) {
    const N: u64 = 4;
    let bus = fx.bus();
    for i in 0..N {
        within(bus.publish(QueueName::Submit, msg("job", &format!("{i}"))))
            .await
            .unwrap();
    }
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    within(bus.publish(QueueName::Events, msg("a.e", "later").not_before(later)))
        .await
        .unwrap();
    assert_depth(&fx, QueueName::Submit, N, 0, 0).await;
    assert_depth(&fx, QueueName::Events, 1, 0, 0).await;

    let mut c = within(bus.consume(QueueName::Submit, 1)).await.unwrap();
    let held = next(&mut c).await;
    assert_depth(&fx, QueueName::Submit, N - 1, 1, 0).await;
    within(held.dead_letter()).await.unwrap();
    // Holding the next one keeps the counts still: prefetch 1 takes no more.
    let held = next(&mut c).await;
    assert_depth(&fx, QueueName::Submit, N - 2, 1, 1).await;
    within(held.ack()).await.unwrap();
    assert_depth(&fx, QueueName::Events, 1, 0, 0).await;
}

/// Whether a single consumer sees messages in publish order on this backend (SQS standard
/// queues promise no order).
fn keeps_order(fx: &Fixture) -> bool {
    !matches!(fx, Fixture::Sqs { .. })
}

/// Every delivery until `n` distinct messages came, acked; fails on a second delivery of any.
async fn take_all(c: &mut Box<dyn Consumer>, n: usize) -> Vec<Message> {
    let mut got: Vec<Message> = Vec::new();
    while got.len() < n {
        let d = next(c).await;
        assert!(
            got.iter().all(|m| m.id != d.message.id),
            "delivered twice: {}",
            d.message.key
        );
        got.push(d.message.clone());
        within(d.ack()).await.unwrap();
    }
    got
}

/// A batch is accepted whole and each of its messages delivered once, in batch order where
/// the backend keeps order; an empty batch is a no-op.
async fn batch_is_delivered_once_each_in_order(fx: Arc<Fixture>) {
    let bus = fx.bus();
    within(bus.publish_batch(QueueName::Events, Vec::new()))
        .await
        .unwrap();
    let sent: Vec<Message> = (0..25)
        .map(|i| msg(&format!("acc{}.messageNew", i % 3), &format!("m{i}")))
        .collect();
    within(bus.publish_batch(QueueName::Events, sent.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Events, 30)).await.unwrap();
    let got = take_all(&mut c, sent.len()).await;
    if keeps_order(&fx) {
        assert_eq!(got, sent);
    } else {
        let ids = |v: &[Message]| v.iter().map(|m| m.id).collect::<HashSet<_>>();
        assert_eq!(ids(&got), ids(&sent));
        for m in &got {
            assert_eq!(Some(m), sent.iter().find(|s| s.id == m.id));
        }
    }
    assert_nothing(&mut c).await;
}

/// A message of a batch with a time waits for it while the rest are delivered at once.
async fn batch_holds_its_delayed_messages(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let wait = Duration::from_millis(1_300);
    let published = Instant::now();
    let later = msg("job", "later").not_before(std::time::SystemTime::now() + wait);
    let now: Vec<Message> = (0..3).map(|i| msg("job", &format!("now{i}"))).collect();
    let batch = vec![
        now[0].clone(),
        later.clone(),
        now[1].clone(),
        now[2].clone(),
    ];
    within(bus.publish_batch(QueueName::Submit, batch))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Submit, 8)).await.unwrap();
    let first = take_all(&mut c, 3).await;
    let ids: HashSet<_> = first.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        now.iter().map(|m| m.id).collect(),
        "the undelayed first"
    );
    let d = next(&mut c).await;
    let waited = published.elapsed();
    assert_eq!(d.message.id, later.id);
    assert!(
        waited + DELAY_TOLERANCE >= wait,
        "delivered after {waited:?}, asked for {wait:?}"
    );
    within(d.ack()).await.unwrap();
    assert_nothing(&mut c).await;
}

/// More messages than one SQS call takes, two of them larger than an SQS message: all
/// delivered, bodies byte for byte.
async fn batch_beyond_one_call_with_large_bodies(fx: Arc<Fixture>) {
    let bus = fx.bus();
    let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let sent: Vec<Message> = (0..37)
        .map(|i| match i {
            5 | 30 => Message::new(format!("acc.big{i}"), big.clone()),
            _ => msg("acc.e", &"x".repeat(i * 100)),
        })
        .collect();
    within(bus.publish_batch(QueueName::Submit, sent.clone()))
        .await
        .unwrap();
    let mut c = within(bus.consume(QueueName::Submit, 40)).await.unwrap();
    let got = take_all(&mut c, sent.len()).await;
    for m in &sent {
        assert_eq!(Some(m), got.iter().find(|g| g.id == m.id), "{}", m.key);
    }
    assert_nothing(&mut c).await;
}
