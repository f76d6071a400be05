//! A small HTTP(S) client for calls whose answer is read whole: the auth server, OAuth2
//! token endpoints, the Gmail profile. Every call has a deadline and a cap on the answer's
//! size, so a stuck or hostile server can neither hold a login forever nor fill memory.
//! TLS trusts the same roots as the mail connections (webpki plus `IMAPAPI_EXTRA_CA`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::OnceCell;

/// How long a call may take, and how large its answer may be.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_body: usize,
}

impl Default for Limits {
    /// 10 s and 64 KiB: credentials and token answers are a few hundred bytes.
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
        }
    }
}

/// Why a call failed. The text never holds the URL's query (it may carry an account id
/// the operator would rather keep out of errors) nor any credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL")]
    InvalidUrl,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Transport(String),
}

/// A whole answer.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub body: Bytes,
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

static CLIENT: OnceCell<HttpsClient> = OnceCell::const_new();

async fn client() -> Result<&'static HttpsClient, HttpError> {
    CLIENT
        .get_or_try_init(|| async {
            let tls = crate::net::tls::client_config(true, None)
                .await
                .map_err(|e| HttpError::Transport(e.to_string()))?;
            let mut http = HttpConnector::new();
            // The https wrapper checks the scheme; the plain connector must let https through.
            http.enforce_http(false);
            http.set_nodelay(true);
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            Ok(Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(https))
        })
        .await
}

/// `GET url` with `headers`.
pub async fn get(
    url: &str,
    headers: &[(&str, &str)],
    limits: Limits,
) -> Result<HttpReply, HttpError> {
    call(Method::GET, url, headers, None, limits).await
}

/// `POST url` with a form-encoded body.
pub async fn post_form(
    url: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
    limits: Limits,
) -> Result<HttpReply, HttpError> {
    let body = form_encode(form);
    call(Method::POST, url, headers, Some(body), limits).await
}

async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    form: Option<String>,
    limits: Limits,
) -> Result<HttpReply, HttpError> {
    let uri: Uri = url.parse().map_err(|_| HttpError::InvalidUrl)?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(HttpError::InvalidUrl);
    }
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(USER_AGENT, concat!("imapapi/", env!("CARGO_PKG_VERSION")))
        .header(ACCEPT, "application/json");
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| HttpError::InvalidUrl)?;
        let value = HeaderValue::from_str(v)
            .map_err(|_| HttpError::Transport(format!("invalid {k} header value")))?;
        req = req.header(name, value);
    }
    let body = match form {
        Some(f) => {
            req = req.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            Full::new(Bytes::from(f))
        }
        None => Full::new(Bytes::new()),
    };
    let req = req
        .body(body)
        .map_err(|e| HttpError::Transport(e.to_string()))?;
    let client = client().await?;
    let exchange = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| HttpError::Transport(describe(&e)))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), limits.max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    HttpError::TooLarge(limits.max_body)
                } else {
                    HttpError::Transport(e.to_string())
                }
            })?
            .to_bytes();
        Ok(HttpReply { status, body })
    };
    tokio::time::timeout(limits.timeout, exchange)
        .await
        .map_err(|_| HttpError::Timeout(limits.timeout))?
}

/// The innermost cause of a hyper-util error ("connection refused", "certificate …"):
/// its own text is only "client error (Connect)".
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

/// `application/x-www-form-urlencoded`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encode everything outside RFC 3986's unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_forms() {
        assert_eq!(url_encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
        assert_eq!(
            form_encode(&[("grant_type", "refresh_token"), ("x", "1=2")]),
            "grant_type=refresh_token&x=1%3D2"
        );
    }

    #[tokio::test]
    async fn refuses_what_is_not_an_http_url() {
        for url in ["", "ftp://127.0.0.1/", "not a url", "/relative"] {
            assert_eq!(
                get(url, &[], Limits::default()).await.unwrap_err(),
                HttpError::InvalidUrl,
                "{url}"
            );
        }
    }
}
