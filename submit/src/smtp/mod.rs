//! One SMTP delivery with lettre: our own socket (TCP_NODELAY, bound to one of
//! `service.localAddresses`: lettre's pooled transport can do neither), implicit TLS or
//! STARTTLS (both ours, see [`secure`]), AUTH, MAIL/RCPT/DATA, QUIT. A connection per
//! message: sends are rare next to their cost on the server side, and a pooled connection
//! would pin one local address. For an account whose connections are logged, the
//! conversation goes to its protocol log (above TLS, credentials and message hidden).
//!
//! Every failure is classified the way the job must treat it: a 5xx answer is permanent
//! (no retry can fix it); a 4xx answer, a connection error or a timeout is temporary.

mod secure;
mod stream;

use std::time::Duration;

use imapapi_common::config::LocalAddress;
use imapapi_common::model::{Envelope, SmtpConfig};
use imapapi_common::net;
use imapapi_common::oauth2::Credentials as Login;
use imapapi_common::protocol_log::{ProtocolLog, Recorder};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;

/// How long one delivery may take, from connecting to the server's answer to the data.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a delivery failed. The text is the server's answer or the step that failed; it never
/// holds a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (4xx, connection trouble, timeout).
    #[error("{0}")]
    Temporary(String),
    /// No retry will help (5xx: unknown recipient, refused credentials, …).
    #[error("{0}")]
    Permanent(String),
}

fn classify(step: &str, e: lettre::transport::smtp::Error) -> SendError {
    let text = format!("{step}: {e}");
    if e.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Temporary(text)
    }
}

/// Send `mime` to the envelope's recipients through the account's SMTP server, recording
/// the conversation in `log` when given; the server's answer (`250 …`) on success.
pub async fn send(
    smtp: &SmtpConfig,
    credentials: Option<&Login>,
    local: &[LocalAddress],
    envelope: &Envelope,
    mime: &[u8],
    log: Option<ProtocolLog>,
) -> Result<String, SendError> {
    let delivery = deliver(smtp, credentials, local, envelope, mime, log);
    match tokio::time::timeout(SEND_TIMEOUT, delivery).await {
        Ok(result) => result,
        Err(_) => Err(SendError::Temporary(format!(
            "No answer from {}:{} within {SEND_TIMEOUT:?}",
            smtp.host, smtp.port
        ))),
    }
}

async fn deliver(
    smtp: &SmtpConfig,
    login: Option<&Login>,
    local: &[LocalAddress],
    envelope: &Envelope,
    mime: &[u8],
    log: Option<ProtocolLog>,
) -> Result<String, SendError> {
    let smtp_envelope = lettre_envelope(envelope)?;
    let credentials = login.map(lettre_credentials);
    let (tcp, bound) = net::tcp::connect_from(&smtp.host, smtp.port, local)
        .await
        .map_err(|e| SendError::Temporary(e.to_string()))?;
    let hello = hello_name(bound);
    let stream = secure::open(tcp, smtp, &hello, log.map(Recorder::new)).await?;
    let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
        .await
        .map_err(|e| classify("Greeting", e))?;
    if let Some((credentials, mechanisms)) = &credentials {
        conn.auth(mechanisms, credentials)
            .await
            .map_err(|e| classify("Authentication", e))?;
    }
    let response = conn
        .send(&smtp_envelope, mime)
        .await
        .map_err(|e| classify("Sending", e))?;
    // The message is accepted; a failed QUIT changes nothing.
    let _ = conn.quit().await;
    let text: Vec<&str> = response.message().collect();
    Ok(format!("{} {}", response.code(), text.join(" ")))
}

fn lettre_envelope(envelope: &Envelope) -> Result<lettre::address::Envelope, SendError> {
    let bad = |what: &str, a: &str| SendError::Permanent(format!("Invalid {what} address {a}"));
    let from = envelope
        .from
        .parse()
        .map_err(|_| bad("sender", &envelope.from))?;
    let to = envelope
        .to
        .iter()
        .map(|a| a.parse().map_err(|_| bad("recipient", a)))
        .collect::<Result<Vec<_>, _>>()?;
    lettre::address::Envelope::new(Some(from), to)
        .map_err(|e| SendError::Permanent(format!("Invalid envelope: {e}")))
}

/// The credentials as lettre takes them, and how they go: an access token as XOAUTH2, a
/// password as PLAIN or LOGIN (whichever the server offers).
fn lettre_credentials(login: &Login) -> (Credentials, Vec<Mechanism>) {
    match login {
        Login::OAuth2 { user, token } => (
            Credentials::new(user.clone(), token.expose().to_string()),
            vec![Mechanism::Xoauth2],
        ),
        Login::Password { user, pass } => (
            Credentials::new(user.clone(), pass.expose().to_string()),
            vec![Mechanism::Plain, Mechanism::Login],
        ),
    }
}

/// EHLO name: the hostname of the local address the connection is bound to, when it has
/// one (the name the receiving server sees the connection come from), else this machine's.
fn hello_name(bound: Option<&LocalAddress>) -> ClientId {
    bound
        .and_then(|l| l.hostname.clone())
        .map(ClientId::Domain)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_with_bad_addresses_fail_for_good() {
        let envelope = Envelope {
            from: "sender@example.com".into(),
            to: vec!["not an address".into()],
        };
        assert!(matches!(
            lettre_envelope(&envelope),
            Err(SendError::Permanent(_))
        ));
        let envelope = Envelope {
            from: "sender@example.com".into(),
            to: vec!["a@example.com".into()],
        };
        assert!(lettre_envelope(&envelope).is_ok());
    }
}
