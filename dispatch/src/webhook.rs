//! One webhook POST. Exists so that the HTTP details (pooled https client, URL credentials
//! turned into a Basic Authorization header, timeout, what counts as success) live apart
//! from the queue handling in `worker.rs`, and so that nothing here ever prints a secret:
//! errors and targets render as the URL's origin only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use uuid::Uuid;

/// Header carrying the event id, so receivers can drop duplicates without parsing the body
/// (delivery is at-least-once).
pub const EVENT_ID_HEADER: &str = "x-imapapi-event-id";

/// Header carrying the delivery attempt of this request, 1 for the first: a receiver sees
/// how often the event was tried before (its failures, or ours).
pub const ATTEMPT_HEADER: &str = "x-imapapi-attempt";

/// `User-Agent` of every webhook request.
pub const USER_AGENT_VALUE: &str = concat!("imapapi/", env!("CARGO_PKG_VERSION"));

/// A response body is read (so the connection can go back to the pool) up to this size;
/// a bigger one is dropped along with its connection.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Why a webhook delivery failed. Displays without credentials, path or query.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The configured URL cannot be used; the text never contains the credentials.
    #[error("invalid webhook URL: {0}")]
    InvalidUrl(String),
    /// The receiver answered with a non-2xx status.
    #[error("receiver answered {0}")]
    Status(u16),
    /// No complete answer within `webhooks.timeout`.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Could not connect or the exchange broke (refused, reset, TLS, DNS).
    #[error("request failed: {0}")]
    Transport(String),
}

/// A webhook URL split into what goes on the wire: the URL without its user info, and the
/// Basic credentials taken from it.
#[derive(Clone)]
pub struct Target {
    uri: Uri,
    authorization: Option<HeaderValue>,
}

impl Target {
    /// Parse a webhook URL. `https://user:pass@host/path?q` becomes `https://host/path?q`
    /// plus `Authorization: Basic base64(user:pass)` (user info percent-decoded first, as
    /// RFC 3986 encodes it). A fragment is dropped: it is never sent over HTTP.
    pub fn parse(url: &str) -> Result<Target, WebhookError> {
        let url = url.trim();
        let url = url.split_once('#').map_or(url, |(u, _)| u);
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| WebhookError::InvalidUrl("missing scheme".into()))?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(WebhookError::InvalidUrl(format!(
                "scheme {scheme:?} is not http or https"
            )));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(WebhookError::InvalidUrl("missing host".into()));
        }
        let path_and_query = if path_and_query.is_empty() {
            "/".to_string()
        } else if path_and_query.starts_with('?') {
            format!("/{path_and_query}")
        } else {
            path_and_query.to_string()
        };
        let uri: Uri = format!("{scheme}://{host}{path_and_query}")
            .parse()
            // The parse error text may quote the input; name only the host.
            .map_err(|_| WebhookError::InvalidUrl(format!("cannot parse URL for host {host}")))?;
        let authorization = match userinfo {
            None => None,
            Some(info) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                let creds = format!("{}:{}", percent_decode(user), percent_decode(pass));
                let encoded = base64::engine::general_purpose::STANDARD.encode(creds);
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| WebhookError::InvalidUrl("bad credentials".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Target { uri, authorization })
    }

    /// `scheme://host[:port]`: what may appear in logs.
    pub fn origin(&self) -> String {
        match (self.uri.scheme_str(), self.uri.authority()) {
            (Some(s), Some(a)) => format!("{s}://{a}"),
            _ => String::from("?"),
        }
    }

    /// The URL the request goes to (credentials removed). Not for logs: the path or query
    /// may carry a token.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Whether the URL carried credentials.
    pub fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("origin", &self.origin())
            .field("credentials", &self.has_credentials())
            .finish()
    }
}

/// Decode `%XX` escapes; anything malformed is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

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
            .uri(target.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(EVENT_ID_HEADER, event_id.to_string())
            .header(ATTEMPT_HEADER, attempt.to_string());
        if let Some(key) = &self.signing_key {
            request = request.header(
                crate::signature::SIGNATURE_HEADER,
                crate::signature::sign(key, &body),
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_credentials_to_a_basic_header() {
        let t =
            Target::parse("https://us%40er:p%3Ass@hooks.example.com:8443/in/x?t=1#frag").unwrap();
        assert_eq!(
            t.uri().to_string(),
            "https://hooks.example.com:8443/in/x?t=1"
        );
        let expected = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
        assert_eq!(
            t.authorization.as_ref().unwrap().to_str().unwrap(),
            format!("Basic {expected}")
        );
        assert_eq!(t.origin(), "https://hooks.example.com:8443");
        let debug = format!("{t:?}");
        assert!(
            !debug.contains("p%3Ass") && !debug.contains(&expected),
            "{debug}"
        );
    }

    #[test]
    fn keeps_urls_without_credentials() {
        let t = Target::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(t.uri().to_string(), "http://127.0.0.1:9000/");
        assert!(!t.has_credentials());
        let t = Target::parse("http://h?x=1").unwrap();
        assert_eq!(t.uri().to_string(), "http://h/?x=1");
        let t = Target::parse("http://user@h/p").unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("user:");
        assert_eq!(
            t.authorization.unwrap().to_str().unwrap(),
            format!("Basic {expected}")
        );
    }

    #[test]
    fn rejects_unusable_urls_without_echoing_secrets() {
        for bad in ["ftp://u:secret@h/", "u:secret@h", "http://u:secret@/x"] {
            let e = Target::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
