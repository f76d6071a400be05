//! One webhook POST: a pooled https client, URL credentials sent as a Basic Authorization
//! header, the event id, attempt and signature headers, a timeout for the whole exchange,
//! and what counts as success (2xx).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use uuid::Uuid;

use super::{ATTEMPT_HEADER, EVENT_ID_HEADER, Target, USER_AGENT_VALUE, WebhookError, signature};

/// A response body is read (so the connection can go back to the pool) up to this size;
/// a bigger one is dropped along with its connection.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// The pooled HTTP(S) client all webhook requests share. Cheap to clone.
#[derive(Clone)]
pub struct WebhookClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
    /// Signs each body (`webhooks.signingKey`).
    signing_key: Option<Vec<u8>>,
}

impl WebhookClient {
    /// A client with keep-alive connections (up to `concurrency` idle per host, so a burst
    /// finds warm connections) and `timeout` for each whole request.
    pub fn new(timeout: Duration, concurrency: usize) -> Result<WebhookClient, WebhookError> {
        let mut http = HttpConnector::new();
        // The https wrapper checks the scheme; the plain connector must let https through.
        http.enforce_http(false);
        // Small requests: without TCP_NODELAY, Nagle plus delayed ACK can add ~40 ms.
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        // An explicit provider, so that no process-wide default has to be installed and
        // another crate enabling a second provider cannot make this ambiguous.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| WebhookError::Transport(format!("TLS setup: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(concurrency.max(1))
            .build(https);
        Ok(WebhookClient {
            client,
            timeout,
            signing_key: None,
        })
    }

    /// The same client, signing every body with `key` (see `signature.rs`).
    pub fn signing_with(mut self, key: Option<&[u8]>) -> WebhookClient {
        self.signing_key = key.map(<[u8]>::to_vec);
        self
    }

    /// POST `body` (the event JSON, as published) to `target`, as delivery `attempt`
    /// (1 for the first). Ok with the status on 2xx.
    pub async fn post(
        &self,
        target: &Target,
        event_id: Uuid,
        attempt: u32,
        body: Bytes,
    ) -> Result<u16, WebhookError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(target.uri().clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(EVENT_ID_HEADER, event_id.to_string())
            .header(ATTEMPT_HEADER, attempt.to_string());
        if let Some(key) = &self.signing_key {
            request = request.header(signature::SIGNATURE_HEADER, signature::sign(key, &body));
        }
        if let Some(auth) = &target.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| WebhookError::InvalidUrl(e.to_string()))?;

        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| WebhookError::Transport(error_chain(&e)))?;
            let status = response.status();
            // Read the (small) answer so the connection can be reused; its content and
            // any error reading it do not change the outcome.
            let _ = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
                .collect()
                .await;
            Ok::<_, WebhookError>(status)
        };
        let status = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| WebhookError::Timeout(self.timeout))??;
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(WebhookError::Status(status.as_u16()))
        }
    }
}

/// An error with its sources, e.g. "client error (Connect): Connection refused". The
/// request URI never holds credentials, so neither can this.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        // Some errors repeat their source in their own text; say it once.
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
