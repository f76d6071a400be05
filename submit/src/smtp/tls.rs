//! lettre's TLS parameters for STARTTLS, which lettre performs itself: the same trust as
//! every other connection (webpki roots plus the PEM file in `IMAPAPI_EXTRA_CA`, read once),
//! or none with `tls.rejectUnauthorized: false`.

use lettre::transport::smtp::client::{Certificate, TlsParameters};
use tokio::sync::OnceCell;

static EXTRA_ROOTS: OnceCell<Vec<Vec<u8>>> = OnceCell::const_new();

/// The PEM files' certificates to trust besides the public roots.
async fn extra_roots() -> &'static [Vec<u8>] {
    EXTRA_ROOTS
        .get_or_init(|| async {
            let Ok(path) = std::env::var(imapapi_common::net::tls::EXTRA_CA_ENV) else {
                return Vec::new();
            };
            match tokio::fs::read(&path).await {
                Ok(pem) => vec![pem],
                Err(e) => {
                    tracing::warn!(path, error = %e, "cannot read the extra CA file");
                    Vec::new()
                }
            }
        })
        .await
}

/// TLS parameters for `host`.
pub async fn parameters(host: &str, reject_unauthorized: bool) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(host.to_string())
        .dangerous_accept_invalid_certs(!reject_unauthorized);
    for pem in extra_roots().await {
        let cert = Certificate::from_pem(pem).map_err(|e| format!("Extra CA: {e}"))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("TLS setup failed: {e}"))
}

/// A TLS stream lettre can speak SMTP over: implicit TLS is set up by us (with the same
/// trust as IMAP), before lettre reads the greeting, so lettre only sees a stream.
#[derive(Debug)]
pub struct ImplicitTls(pub tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}
