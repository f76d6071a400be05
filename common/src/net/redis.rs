//! Connecting to Redis, for the Redis store and for the Redis side of the SQS bus (node
//! requests, large message bodies): `redis://`, or `rediss://` (TLS, e.g. ElastiCache with
//! encryption in transit) trusting the system's roots, or only the PEM file in
//! `IMAPAPI_EXTRA_CA` when that is set.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// How long to wait for Redis to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The CA to trust for `url` instead of the system's roots: the file in `IMAPAPI_EXTRA_CA`,
/// for a `rediss://` URL only.
pub async fn extra_ca(url: &str) -> Result<Option<Vec<u8>>, String> {
    match std::env::var(super::tls::EXTRA_CA_ENV) {
        Ok(path) if url.starts_with("rediss://") => tokio::fs::read(&path)
            .await
            .map(Some)
            .map_err(|e| format!("reading {path}: {e}")),
        _ => Ok(None),
    }
}

/// A client for `url`, trusting `ca_pem` (PEM) for `rediss://` when given.
pub fn client(url: &str, ca_pem: Option<Vec<u8>>) -> redis::RedisResult<redis::Client> {
    super::tls::install_provider();
    match ca_pem {
        Some(root_cert) if url.starts_with("rediss://") => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            },
        ),
        _ => redis::Client::open(url),
    }
}

/// A shared connection through `client` that reconnects by itself.
pub async fn manager(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    let cfg =
        redis::aio::ConnectionManagerConfig::new().set_connection_timeout(Some(CONNECT_TIMEOUT));
    ConnectionManager::new_with_config(client, cfg).await
}
