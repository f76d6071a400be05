//! `GET /v1/stats`: the gateway's version, its accounts by connection state, and usage
//! counters over a window, read from the store so every api process answers the same; and
//! the messages on the bus's work queues, asked of the bus (shared with `GET /metrics`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use imapapi_common::Services;
use imapapi_common::bus::{BusError, QueueDepth, QueueName};
use imapapi_common::counters::{Counter, minute_of};
use imapapi_common::error::ApiError;
use imapapi_common::model::{AccountState, FailingReceiver};
use imapapi_common::store::CounterStore;
use serde::Serialize;
use utoipa::ToSchema;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::error::{json_ok, respond, store_error};
use crate::openapi::tags;
use crate::params::{Query, query};
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/v1/stats")];

/// The `/v1/stats` answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// The gateway's version.
    pub version: &'static str,
    /// Seconds since this api process started (each process of a deployment has its own).
    pub uptime: u64,
    /// Registered accounts.
    pub accounts: usize,
    /// Accounts per connection state (`connected`, `connecting`, `authenticationError`, …);
    /// every state is listed, with 0 when no account is in it.
    pub connections: BTreeMap<String, usize>,
    /// Usage over the last `seconds`, summed over every process: events published
    /// (`events:messageNew`, …), webhooks answered with 2xx (`webhooks:success`) or failed
    /// (`webhooks:fail`), api calls answered below 400 (`apiCall:success`) or with an error
    /// (`apiCall:fail`). Every counter is listed, with 0 when nothing was counted. Counts
    /// reach the store every 2 seconds, in minute buckets: the window is rounded up to whole
    /// minutes, the current one included.
    pub counters: BTreeMap<String, u64>,
    /// Webhook receivers failing now (3 failed deliveries in a row; cleared when one
    /// answers again), as dispatch recorded them: their events are held back and retried.
    pub failing_receivers: Vec<FailingReceiver>,
    /// Messages on each work queue of the bus, as it counts them now (SQS: approximately);
    /// `null` when the bus did not answer in time (the rest of the stats still do).
    pub queues: Option<QueueStats>,
}

/// Messages on the bus's work queues.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStats {
    /// Change events, on their way to webhooks.
    pub events: QueueMessages,
    /// Send jobs.
    pub submit: QueueMessages,
}

/// How many messages one work queue holds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessages {
    /// Waiting for a consumer: deliverable now, or held for a retry's backoff or a
    /// scheduled send.
    pub ready: u64,
    /// Delivered to a consumer and not settled yet; `null` where the bus cannot tell
    /// (RabbitMQ).
    pub in_flight: Option<u64>,
    /// Dead letters: attempts ran out, or a permanent failure.
    pub dead: u64,
}

impl From<QueueDepth> for QueueMessages {
    fn from(d: QueueDepth) -> Self {
        QueueMessages {
            ready: d.ready,
            in_flight: d.in_flight,
            dead: d.dead_letters,
        }
    }
}

/// The longest a depth query may take: monitoring must answer within a scrape's timeout
/// (Prometheus: 10 s by default) even when the broker hangs.
const DEPTH_TIMEOUT: Duration = Duration::from_secs(5);

/// The stats route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("v1" / "stats")
        .and(warp::get())
        .and(with(services))
        .and(query())
        .then(|s: Services, q: Query| async move { respond(stats(s, q).await) })
        .boxed()
}

fn state_name(state: AccountState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The gateway's version, its accounts by connection state, usage counters, and the
/// messages on the bus's work queues.
///
/// `GET /v1/stats?seconds=3600` → `{version, uptime, accounts, connections: {state: count},
/// counters: {name: count}, failingReceivers: [{target, since, error}], queues: {events:
/// {ready, inFlight, dead}, submit: {…}}}`, the counters over the last `seconds`
/// (0–604800). `queues` is the bus's count at the time of the call (`inFlight` is `null`
/// on RabbitMQ, which does not tell; SQS counts approximately), or `null` when the bus
/// does not answer.
#[utoipa::path(
    get,
    path = "/v1/stats",
    operation_id = "getV1Stats",
    tag = tags::SERVICE,
    params(
        ("seconds" = Option<u32>, Query, minimum = 0, maximum = 604800,
            description = "Window of the counters, in seconds (default 3600)"),
    ),
    responses(
        (status = 200, description = "Version, connection counts, usage counters and queue depths", body = Stats),
        (status = 400, description = "Invalid query parameter", body = ApiError),
    )
)]
pub async fn stats(services: Services, q: Query) -> Result<Response, ApiError> {
    q.only(&["seconds"])?;
    let seconds = q.number("seconds", 0, 604_800, 3600)?;
    let connections = accounts_by_state(&services).await?;
    let counters = usage_counters(services.store.as_ref(), seconds).await?;
    let failing_receivers = services
        .store
        .failing_receivers()
        .await
        .map_err(store_error)?;
    Ok(json_ok(&Stats {
        version: env!("CARGO_PKG_VERSION"),
        uptime: services.started.elapsed().as_secs(),
        accounts: connections.values().sum(),
        connections,
        counters,
        failing_receivers,
        queues: queue_depths(&services)
            .await
            .map(|[events, submit]| QueueStats {
                events: events.1.into(),
                submit: submit.1.into(),
            }),
    }))
}

/// The depth of each work queue, events then submit (see [`or_warn`] for a failing bus).
pub async fn queue_depths(services: &Services) -> Option<[(QueueName, QueueDepth); 2]> {
    let bus = &services.bus;
    or_warn(async {
        let (events, submit) =
            tokio::try_join!(bus.depth(QueueName::Events), bus.depth(QueueName::Submit))?;
        Ok([(QueueName::Events, events), (QueueName::Submit, submit)])
    })
    .await
}

/// What `query` found, or `None` when the bus fails or takes longer than
/// [`DEPTH_TIMEOUT`]: logged at warn and counted in `imapapi_bus_errors_total{op="depth"}`,
/// since monitoring must not go down with the bus it watches.
async fn or_warn<T>(query: impl Future<Output = Result<T, BusError>>) -> Option<T> {
    let result = tokio::time::timeout(DEPTH_TIMEOUT, query)
        .await
        .unwrap_or(Err(BusError::Timeout));
    result
        .inspect_err(|e| {
            tracing::warn!(error = %e, "reading the queue depth failed");
            metrics::counter!("imapapi_bus_errors_total", "op" => "depth").increment(1);
        })
        .ok()
}

/// How many accounts are in each connection state (every state listed, 0 included).
pub async fn accounts_by_state(services: &Services) -> Result<BTreeMap<String, usize>, ApiError> {
    let store = &services.store;
    let accounts = store.list_accounts().await.map_err(store_error)?;
    let mut connections: BTreeMap<String, usize> = AccountState::ALL
        .iter()
        .map(|s| (state_name(*s), 0))
        .collect();
    for a in &accounts {
        let state = store
            .get_status(a)
            .await
            .map_err(store_error)?
            .map_or(AccountState::Init, |s| s.state);
        *connections.entry(state_name(state)).or_default() += 1;
    }
    Ok(connections)
}

/// Every counter's sum over the minute buckets that the last `seconds` touch.
async fn usage_counters(
    store: &dyn CounterStore,
    seconds: u64,
) -> Result<BTreeMap<String, u64>, ApiError> {
    let mut counters: BTreeMap<String, u64> = Counter::all().map(|c| (c.name(), 0)).collect();
    if seconds == 0 {
        return Ok(counters);
    }
    let now = minute_of(SystemTime::now());
    let from = now.saturating_sub(seconds.div_ceil(60) - 1);
    for (name, sum) in store.sum_counts(from, now).await.map_err(store_error)? {
        counters.insert(name, sum);
    }
    Ok(counters)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use imapapi_common::bus::{self, Message};
    use imapapi_common::config::{Cli, Config};
    use imapapi_common::store;
    use serde_json::{Value, json};

    use super::*;

    /// Services on the embedded store and bus, in a directory that lives as long as the
    /// returned handle.
    pub(crate) async fn embedded_services() -> (Services, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let cli = Cli {
            dbs_path: Some(dir.path().display().to_string()),
            ..Default::default()
        };
        let config = Config::from_layers(&cli, &BTreeMap::new()).unwrap();
        let store = store::open(&config).await.unwrap();
        let bus = bus::connect(&config).await.unwrap();
        (Services::new(Arc::new(config), store, bus), dir)
    }

    #[tokio::test]
    async fn stats_count_the_messages_of_each_queue() {
        let (services, _dir) = embedded_services().await;
        for _ in 0..2 {
            let job = Message::new("job", b"x".to_vec());
            services.bus.publish(QueueName::Submit, job).await.unwrap();
        }
        let res = warp::test::request()
            .path("/v1/stats")
            .reply(&routes(services))
            .await;
        assert_eq!(res.status(), 200);
        let stats: Value = serde_json::from_slice(res.body()).unwrap();
        let queues = &stats["queues"];
        assert_eq!(
            queues["submit"],
            json!({"ready": 2, "inFlight": 0, "dead": 0})
        );
        assert_eq!(
            queues["events"],
            json!({"ready": 0, "inFlight": 0, "dead": 0})
        );
    }

    #[tokio::test]
    async fn a_failing_bus_gives_no_depth_and_is_counted() {
        imapapi_common::prometheus::install();
        let errors = || {
            let series = r#"imapapi_bus_errors_total{op="depth"} "#;
            let text = imapapi_common::prometheus::render();
            let line = text.lines().find_map(|l| l.strip_prefix(series));
            line.map_or(0.0, |v| v.parse::<f64>().unwrap())
        };
        let before = errors();
        let failed = or_warn(async { Err::<(), _>(BusError::Closed) }).await;
        assert!(failed.is_none());
        assert!(errors() >= before + 1.0);
        assert_eq!(or_warn(async { Ok(7) }).await, Some(7));
    }

    /// The document describes `queues` down to each count, from the typed answer.
    #[test]
    fn the_document_describes_the_queues() {
        let doc: Value = serde_json::from_str(crate::openapi::document_json().unwrap()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let queues = &schemas["Stats"]["properties"]["queues"];
        assert!(queues.to_string().contains("QueueStats"), "{queues}");
        let events = &schemas["QueueStats"]["properties"]["events"];
        assert!(events.to_string().contains("QueueMessages"), "{events}");
        let counts = &schemas["QueueMessages"]["properties"];
        for name in ["ready", "inFlight", "dead"] {
            assert!(counts[name]["description"].is_string(), "{name}: {counts}");
        }
    }
}
