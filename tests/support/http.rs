//! Minimal HTTP client helpers (hyper 1.x) for talking to the gateway in tests.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Longer than the gateway's default command timeout (10 s), so its 504 arrives first.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A response with everything a test may look at.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    /// The body as JSON; a non-JSON body becomes a JSON string, an empty one `Null`.
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a request; `Err` on transport failure or timeout (never on an HTTP error status).
/// `headers` are added as given (e.g. `("authorization", "Basic …")`).
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
    content_type: Option<&str>,
) -> anyhow::Result<RawResponse> {
    // A fresh client per call: a pooled connection would be tied to the runtime of
    // whichever #[tokio::test] created it and break when that runtime is gone.
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http();
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes())?)
        .uri(url);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    for (k, v) in headers {
        req = req.header(
            HeaderName::from_bytes(k.as_bytes())?,
            HeaderValue::from_str(v)?,
        );
    }
    let req = req.body(Full::new(body.into()))?;
    let fut = async {
        let resp = client.request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::Ok(RawResponse {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(HTTP_TIMEOUT, fut)
        .await
        .map_err(|_| anyhow::anyhow!("{method} {url} timed out after {HTTP_TIMEOUT:?}"))?
}

/// JSON request/response. Panics on transport errors (a test failure anyway).
/// Returns the status and the body as JSON (see [`RawResponse::json`]).
pub async fn http(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let (bytes, ct) = match &body {
        Some(v) => (
            Bytes::from(serde_json::to_vec(v).expect("JSON body")),
            Some("application/json"),
        ),
        None => (Bytes::new(), None),
    };
    let resp = request(method, url, &[], bytes, ct)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e:#}"));
    (resp.status, resp.json())
}

/// Raw body with an explicit content type (e.g. uploading `message/rfc822`, or sending
/// malformed JSON). Panics on transport errors.
pub async fn http_raw(
    method: &str,
    url: &str,
    body: impl Into<Bytes>,
    content_type: &str,
) -> RawResponse {
    request(method, url, &[], body, Some(content_type))
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e:#}"))
}
