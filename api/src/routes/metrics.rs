//! `GET /metrics`: this process's metrics in the Prometheus text format, for a Prometheus
//! server to scrape (behind basic auth when `api.auth` is set, like every other route).
//! Counters and histograms are recorded where things happen (api requests here, events in
//! ingest, webhooks in dispatch, sends in submit: in one process they all show); the
//! accounts by state are read from the store, and the messages on each work queue from the
//! bus, at scrape time, so any api process reports the whole deployment's.

use imapapi_common::Services;
use imapapi_common::bus::{QueueDepth, QueueName};
use imapapi_common::error::ApiError;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::header::CONTENT_TYPE;
use warp::reply::Response;

use crate::error::respond;
use crate::openapi::tags;
use crate::routes::stats::{accounts_by_state, queue_depths};
use crate::routes::{Route, with};

/// The routes of this module, as the OpenAPI document spells them.
pub const ROUTES: &[Route] = &[Route::get("/metrics")];

/// The content type Prometheus expects for its text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics route.
pub fn routes(services: Services) -> BoxedFilter<(Response,)> {
    warp::path!("metrics")
        .and(warp::get())
        .and(with(services))
        .then(|s: Services| async move { respond(metrics(s).await) })
        .boxed()
}

/// Metrics of this process, for Prometheus.
///
/// `GET /metrics` → Prometheus text: `imapapi_accounts{state}`,
/// `imapapi_queue_messages{queue="events"|"submit", state="ready"|"in_flight"|"dead"}` (the
/// bus's count at scrape time; no `in_flight` on RabbitMQ, which does not tell; a bus that
/// does not answer leaves them at their last value and counts
/// `imapapi_bus_errors_total{op="depth"}`), `imapapi_http_requests_total`
/// and `imapapi_http_request_duration_seconds` by method, route and status,
/// `imapapi_events_published_total{event}`, `imapapi_webhooks_total{result,event}`,
/// `imapapi_webhook_duration_seconds`, `imapapi_ingest_accounts`,
/// `imapapi_submit_total{result}` (those of the roles this process runs).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = tags::SERVICE,
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 503, description = "The store does not answer", body = ApiError),
    )
)]
pub async fn metrics(services: Services) -> Result<Response, ApiError> {
    for (state, count) in accounts_by_state(&services).await? {
        metrics::gauge!("imapapi_accounts", "state" => state).set(count as f64);
    }
    if let Some(depths) = queue_depths(&services).await {
        set_queue_gauges(&depths);
    }
    let mut response = Response::new(imapapi_common::prometheus::render().into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        warp::http::HeaderValue::from_static(PROMETHEUS_TEXT),
    );
    Ok(response)
}

/// Sets `imapapi_queue_messages{queue, state}`. A count the bus cannot tell (in flight on
/// RabbitMQ) is left out rather than reported as a zero that would look like a fact.
fn set_queue_gauges(depths: &[(QueueName, QueueDepth)]) {
    for (queue, depth) in depths {
        let counts = [
            ("ready", Some(depth.ready)),
            ("in_flight", depth.in_flight),
            ("dead", Some(depth.dead_letters)),
        ];
        for (state, count) in counts {
            if let Some(count) = count {
                metrics::gauge!(
                    "imapapi_queue_messages",
                    "queue" => queue.as_str(),
                    "state" => state
                )
                .set(count as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use imapapi_common::bus::Message;

    use super::*;
    use crate::routes::stats::tests::embedded_services;

    /// The value of the sample `series` (name and labels as rendered) in `text`.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// One test for every gauge, since the recorder is global: the gauges are read from
    /// the bus at scrape time, and a count the bus cannot tell is left out, not set to 0.
    #[tokio::test]
    async fn queue_gauges_are_read_from_the_bus_at_scrape_time() {
        // As the binary does at start: until then the macros record nothing.
        imapapi_common::prometheus::install();
        let no_in_flight = QueueDepth {
            ready: 5,
            in_flight: None,
            dead_letters: 1,
        };
        set_queue_gauges(&[(QueueName::Submit, no_in_flight)]);
        let text = imapapi_common::prometheus::render();
        let series = |queue: &str, state: &str| {
            format!(r#"imapapi_queue_messages{{queue="{queue}",state="{state}"}}"#)
        };
        assert_eq!(sample(&text, &series("submit", "ready")), Some(5.0));
        assert_eq!(sample(&text, &series("submit", "in_flight")), None);

        let (services, _dir) = embedded_services().await;
        for _ in 0..3 {
            let event = Message::new("a.messageNew", b"{}".to_vec());
            services
                .bus
                .publish(QueueName::Events, event)
                .await
                .unwrap();
        }
        metrics(services).await.unwrap();
        let text = imapapi_common::prometheus::render();
        let gauge = |queue: &str, state: &str| {
            let series = series(queue, state);
            sample(&text, &series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        };
        assert_eq!(gauge("events", "ready"), 3.0);
        assert_eq!(gauge("events", "in_flight"), 0.0);
        assert_eq!(gauge("events", "dead"), 0.0);
        assert_eq!(gauge("submit", "ready"), 0.0);
        assert_eq!(gauge("submit", "dead"), 0.0);
    }
}
