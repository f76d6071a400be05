//! Trying SMTP settings for `POST /v1/verifyAccount`: connect (implicit TLS, or STARTTLS
//! when offered), EHLO, authenticate, NOOP, QUIT, with lettre. It lives in api until the
//! submit role (which owns SMTP) exists; a check sends no mail, so it needs no queue.

use std::time::Duration;

use imapapi_common::model::SmtpConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::routes::verify::CheckResult;

/// How long the whole check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

fn failed(code: &str, error: impl Into<String>) -> CheckResult {
    CheckResult {
        success: false,
        error: Some(error.into()),
        code: Some(code.to_string()),
    }
}

/// Extra trusted CAs (`IMAPAPI_EXTRA_CA`), as the IMAP side trusts them.
fn extra_roots() -> Vec<Certificate> {
    let Some(path) = std::env::var_os("IMAPAPI_EXTRA_CA") else {
        return Vec::new();
    };
    match std::fs::read(&path) {
        Ok(pem) => Certificate::from_pem(&pem).into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read IMAPAPI_EXTRA_CA");
            Vec::new()
        }
    }
}

fn tls(smtp: &SmtpConfig, roots: Vec<Certificate>) -> Result<Tls, String> {
    let reject = smtp
        .tls
        .as_ref()
        .and_then(|t| t.reject_unauthorized)
        .unwrap_or(true);
    let mut params =
        TlsParameters::builder(smtp.host.clone()).dangerous_accept_invalid_certs(!reject);
    for r in roots {
        params = params.add_root_certificate(r);
    }
    let params = params.build_rustls().map_err(|e| e.to_string())?;
    Ok(if smtp.secure {
        Tls::Wrapper(params)
    } else {
        Tls::Opportunistic(params)
    })
}

/// Try the settings; never fails, the outcome says what went wrong.
pub async fn check(smtp: &SmtpConfig) -> CheckResult {
    if smtp.use_auth_server {
        return failed(
            "Unsupported",
            "SMTP credentials from the auth server cannot be checked here",
        );
    }
    // Reading a CA file is blocking I/O: keep it off the async workers.
    let roots = tokio::task::spawn_blocking(extra_roots)
        .await
        .unwrap_or_default();
    let tls = match tls(smtp, roots) {
        Ok(t) => t,
        Err(e) => return failed("ConnectError", e),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(CHECK_TIMEOUT));
    if let Some(auth) = &smtp.auth {
        if let Some(token) = &auth.access_token {
            builder = builder
                .credentials(Credentials::new(
                    auth.user.clone(),
                    token.expose().to_string(),
                ))
                .authentication(vec![Mechanism::Xoauth2]);
        } else if let Some(pass) = &auth.pass {
            builder = builder.credentials(Credentials::new(
                auth.user.clone(),
                pass.expose().to_string(),
            ));
        }
    }
    let transport: AsyncSmtpTransport<Tokio1Executor> = builder.build();
    match tokio::time::timeout(CHECK_TIMEOUT, transport.test_connection()).await {
        Ok(Ok(true)) => CheckResult {
            success: true,
            error: None,
            code: None,
        },
        Ok(Ok(false)) => failed("ConnectError", "The server did not answer NOOP"),
        Ok(Err(e)) => classify(&e),
        Err(_) => failed("ConnectError", "Timed out"),
    }
}

/// Which step failed: the server refusing credentials, another SMTP refusal, or the
/// connection itself. lettre's messages carry no secrets (credentials go out base64 and
/// are never echoed).
fn classify(e: &lettre::transport::smtp::Error) -> CheckResult {
    let code = e.status().map(|c| c.to_string());
    match code.as_deref() {
        Some("535" | "534" | "530" | "538") => failed("AuthenticationError", e.to_string()),
        Some(c) => failed(&format!("SMTP{c}"), e.to_string()),
        None => failed("ConnectError", e.to_string()),
    }
}
