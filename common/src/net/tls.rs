//! TLS to mail servers with rustls: webpki roots plus an optional extra CA, an opt-out verifier
//! for `tls.rejectUnauthorized: false`, and `tls.minVersion`.
//!
//! `IMAPAPI_EXTRA_CA=/path/ca.pem` adds the PEM certificates of that file to the trusted
//! roots (read once, at the first TLS connection). It exists for private CAs such as the
//! test rig's Dovecot certificate; the public roots stay trusted as well.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::NetError;

/// Environment variable naming a PEM file of extra trusted CA certificates.
pub const EXTRA_CA_ENV: &str = "IMAPAPI_EXTRA_CA";

/// Install the aws-lc-rs crypto provider as the process default (once; later calls and a
/// provider installed by another role are fine).
pub fn install_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

static ROOTS: OnceCell<Arc<RootCertStore>> = OnceCell::const_new();

async fn roots() -> Arc<RootCertStore> {
    ROOTS
        .get_or_init(|| async {
            let mut store = RootCertStore::empty();
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Ok(path) = std::env::var(EXTRA_CA_ENV) {
                match tokio::fs::read(&path).await {
                    Ok(pem) => {
                        let mut added = 0;
                        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
                            if store.add(cert).is_ok() {
                                added += 1;
                            }
                        }
                        tracing::info!(path, added, "extra CA certificates trusted");
                    }
                    Err(e) => tracing::warn!(path, error = %e, "cannot read {EXTRA_CA_ENV}"),
                }
            }
            Arc::new(store)
        })
        .await
        .clone()
}

/// Accepts any server certificate: only for accounts that set
/// `tls.rejectUnauthorized: false`. Signatures are still checked so the handshake is sound.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub(crate) async fn client_config(
    reject_unauthorized: bool,
    min_version: Option<&str>,
) -> Result<ClientConfig, NetError> {
    install_provider();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match min_version {
        Some(v) if v.eq_ignore_ascii_case("TLSv1.3") => &[&rustls::version::TLS13],
        _ => rustls::DEFAULT_VERSIONS,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| NetError::new(format!("TLS setup failed: {e}")))?;
    let config = if reject_unauthorized {
        builder
            .with_root_certificates(roots().await)
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    };
    Ok(config)
}

/// Run the TLS handshake over an open TCP stream.
pub async fn handshake(
    tcp: TcpStream,
    host: &str,
    reject_unauthorized: bool,
    min_version: Option<&str>,
) -> Result<TlsStream<TcpStream>, NetError> {
    let config = client_config(reject_unauthorized, min_version).await?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| NetError::new(format!("Invalid TLS server name {host}")))?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| NetError::new(format!("TLS handshake failed: {e}")))
}
