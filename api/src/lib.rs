//! The api role: the stateless REST front end of the gateway.
//!
//! It reads and writes account records and settings in the `Store`, and for anything that
//! needs the IMAP connection it sends a command over the `Bus` to the ingest process that
//! owns the account and waits for the reply. Any number of api processes can run side by
//! side since none of them keeps state of its own.

mod announce;
mod answering;
pub mod auth;
pub mod body;
pub mod error;
mod metrics_listener;
pub mod oauth_state;
pub mod openapi;
pub mod params;
pub mod routes;
pub mod smtp_check;
pub mod transfer_decoding;
pub mod ui;

use std::convert::Infallible;
use std::net::SocketAddr;

use anyhow::Context;
use imapapi_common::Services;
use imapapi_common::counters::Counter;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::{Filter, Reply};

pub use metrics_listener::serve_metrics;

/// Every route, behind basic auth or an access token when `api.auth` or `api.requireAuth`
/// is set (all but the public ones below), with every rejection turned into a JSON error
/// and every request counted for `GET /v1/stats` and logged at debug (method, route, status,
/// duration; never a body or a header, so never a secret).
pub fn routes(
    services: Services,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let auth = auth::require(services.clone());
    let usage = services.counters.clone();
    // Load balancers have no credentials: the health route answers without them; nor has a
    // browser coming back from Google's consent screen (its `state` is signed instead), nor
    // one opening the docs (documentation, not data: the OpenAPI document and Swagger UI).
    let public = routes::health::routes(services.clone())
        .or(routes::oauth::routes(services.clone()))
        .unify()
        .or(openapi::routes(services.clone()))
        .unify()
        .or(routes::docs::routes())
        .unify()
        // The web UI's page and files: public too (the data it fetches is not).
        .or(ui::routes())
        .unify();
    let api = routes::all(services);
    public
        .or(auth.and(api))
        .unify()
        .recover(error::handle_rejection)
        .unify()
        .with(warp::log::custom(move |info| {
            usage.add(if info.status().as_u16() < 400 {
                Counter::ApiCallSuccess
            } else {
                Counter::ApiCallFail
            });
            // A path no route knows is one label, so probes cannot grow the series.
            let route = if info.status() == warp::http::StatusCode::NOT_FOUND {
                "unmatched".to_string()
            } else {
                route_label(info.path())
            };
            let (method, status) = (
                info.method().to_string(),
                info.status().as_u16().to_string(),
            );
            metrics::counter!("imapapi_http_requests_total",
                "method" => method.clone(), "route" => route.clone(), "status" => status)
            .increment(1);
            metrics::histogram!("imapapi_http_request_duration_seconds",
                "method" => method, "route" => route)
            .record(info.elapsed().as_secs_f64());
            tracing::debug!(
                method = %info.method(),
                route = %route_label(info.path()),
                status = info.status().as_u16(),
                duration_ms = info.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
        }))
}

/// The route template of a request path (ids replaced by their parameter names), so log
/// lines group by route.
pub fn route_label(path: &str) -> String {
    let mut segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segs.len() >= 3 && segs[0] == "v1" && segs[1] == "account" {
        segs[2] = ":account";
        if segs.len() >= 5 && matches!(segs[3], "message" | "text" | "attachment") {
            let name = match segs[3] {
                "message" => ":message",
                "text" => ":text",
                _ => ":attachment",
            };
            segs[4] = name;
        }
    }
    format!("/{}", segs.join("/"))
}

/// Serve the REST api on `api.host:api.port` until `shutdown` is cancelled, then finish the
/// requests in flight.
pub async fn serve(services: Services, shutdown: CancellationToken) -> anyhow::Result<()> {
    let (host, port) = (services.config.api.host.clone(), services.config.api.port);
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("could not bind the api to {host}:{port}"))?;
    serve_on(services, listener, shutdown).await
}

/// Serve on an already bound listener (tests bind port 0 and read the address back).
pub async fn serve_on(
    services: Services,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, "api listening");
    warp::serve(routes(services))
        .incoming(listener)
        .graceful(shutdown.cancelled_owned())
        .run()
        .await;
    tracing::info!(%addr, "api stopped");
    Ok(())
}

#[cfg(test)]
mod label_tests {
    use super::route_label;

    #[test]
    fn labels_routes() {
        assert_eq!(
            route_label("/v1/account/bob/message/AAAAAQAAAeE"),
            "/v1/account/:account/message/:message"
        );
        assert_eq!(
            route_label("/v1/account/bob/messages"),
            "/v1/account/:account/messages"
        );
        assert_eq!(route_label("/v1/accounts"), "/v1/accounts");
        assert_eq!(
            route_label("/v1/account/bob/message/AAAAAQAAAeE/source"),
            "/v1/account/:account/message/:message/source"
        );
        assert_eq!(
            route_label("/v1/account/bob/attachment/AAAAAQAAAeEy"),
            "/v1/account/:account/attachment/:attachment"
        );
        assert_eq!(
            route_label("/v1/account/bob/text/AAAAAQAAAeF0"),
            "/v1/account/:account/text/:text"
        );
        assert_eq!(
            route_label("/v1/account/bob/mailbox"),
            "/v1/account/:account/mailbox"
        );
    }
}
