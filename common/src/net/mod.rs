//! Outbound connections to mail servers, shared by ingest (IMAP) and submit (SMTP), and the
//! small HTTP client of the OAuth2 and auth server calls: TCP
//! with TCP_NODELAY bound to one of `service.localAddresses`, and TLS with rustls (webpki
//! roots plus `IMAPAPI_EXTRA_CA`, `tls.rejectUnauthorized`, `tls.minVersion`).

pub mod http_client;
pub mod redis;
pub mod tcp;
pub mod tls;
pub mod wire;

/// Why a connection could not be made; the text says which step failed and is safe to show
/// (it never holds a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NetError(pub String);

impl NetError {
    pub fn new(message: impl Into<String>) -> NetError {
        NetError(message.into())
    }
}

impl From<std::io::Error> for NetError {
    fn from(e: std::io::Error) -> Self {
        NetError(e.to_string())
    }
}
