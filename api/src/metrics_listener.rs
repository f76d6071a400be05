//! `GET /metrics` for a process that runs no api (`imapapi ingest`, `dispatch`, `submit` on
//! their own): each process records its own metrics, and Prometheus scrapes each process.
//! Only that route, on `api.host:api.metricsPort`; no accounts gauge (that one needs the
//! store and is served by the api processes).

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::http::header::CONTENT_TYPE;

/// Serves `GET /metrics` on `host:port` until `shutdown` is cancelled.
pub async fn serve_metrics(
    host: &str,
    port: u16,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind((host, port))
        .await
        .with_context(|| format!("could not bind the metrics listener to {host}:{port}"))?;
    let addr: SocketAddr = listener.local_addr()?;
    let route = warp::path!("metrics").and(warp::get()).map(|| {
        warp::reply::with_header(
            imapapi_common::prometheus::render(),
            CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
    });
    tracing::info!(%addr, "metrics listening");
    warp::serve(route)
        .incoming(listener)
        .graceful(shutdown.cancelled_owned())
        .run()
        .await;
    Ok(())
}
