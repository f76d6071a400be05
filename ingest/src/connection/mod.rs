//! Opening an authenticated IMAP session for an account: TCP (with a chosen local
//! address), TLS or STARTTLS, then LOGIN or XOAUTH2. Kept apart from the session logic so
//! the transport details (and the secrets they handle) live in one small place.

pub mod auth;
pub mod fetch_capture;
mod list_filter;
mod list_rewrite;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use imapapi_common::config::LocalAddress;
use imapapi_common::model::{AccountErrorEntry, ImapConfig};
use imapapi_common::net::wire::Wire;
use imapapi_common::net::{NetError, tcp, tls};
use imapapi_common::protocol_log::{Imap, ProtocolLog, Recorder, Tap};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadBuf};

use crate::message_flags::MessageFlags;
pub use auth::Credentials;
use list_filter::Filtered;

/// How long connecting, the TLS handshake and authentication may take together.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What an IMAP session runs over: the stream (recorded when the account is logged)
/// behind a write buffer, its responses through the [`list_filter`] (which makes NOTIFY's
/// rename announcements readable; the log records what the server sent). async-imap writes a
/// command as four pieces (tag, space, text, CRLF) and then flushes; unbuffered, with
/// TCP_NODELAY, each piece was its own TLS record and segment. Every writer here flushes
/// when a command is complete, so nothing waits in the buffer.
#[derive(Debug)]
pub struct Transport(Filtered<BufWriter<Tap<Wire, Imap>>>);

impl Transport {
    fn new(stream: Tap<Wire, Imap>) -> Self {
        Transport(Filtered::new(BufWriter::new(stream)))
    }

    /// Catch the plain `* n FETCH (UID u FLAGS (…))` answers to the command just sent as
    /// they are read, without the response parser (see `fetch_capture.rs`).
    pub fn capture_fetches(&mut self) {
        self.0.capture_fetches();
    }

    /// Stop catching and take the `(uid, flags)` caught, in the server's order.
    pub fn take_captured(&mut self) -> Vec<(u32, MessageFlags)> {
        self.0.take_captured()
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// An authenticated async-imap session over our transport.
pub type ImapSession = async_imap::Session<Transport>;

/// Why a connection attempt failed; decides the account state written. Each carries the
/// answer as `lastError` and the error events report it: the text and, when the server gave
/// one, its response code.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server refused the credentials (→ `authenticationError`).
    #[error("{}", .0.response)]
    Auth(AccountErrorEntry),
    /// Anything else: DNS, TCP, TLS, protocol (→ `connectError`).
    #[error("{}", .0.response)]
    Connect(AccountErrorEntry),
}

impl ConnectError {
    /// Refused credentials, described by us (no server response code).
    pub fn auth(response: impl Into<String>) -> Self {
        ConnectError::Auth(answer(response, None))
    }

    /// Any other failure, described by us (no server response code).
    pub fn connect(response: impl Into<String>) -> Self {
        ConnectError::Connect(answer(response, None))
    }

    /// The answer to report, as the account's `lastError` and in the error event.
    pub fn answer(&self) -> &AccountErrorEntry {
        match self {
            ConnectError::Auth(a) | ConnectError::Connect(a) => a,
        }
    }
}

impl From<imapapi_common::oauth2::CredentialError> for ConnectError {
    fn from(e: imapapi_common::oauth2::CredentialError) -> Self {
        use imapapi_common::oauth2::CredentialError;
        match e {
            CredentialError::Refused(a) => ConnectError::Auth(a),
            CredentialError::Unavailable(a) => ConnectError::Connect(a),
        }
    }
}

/// An [`AccountErrorEntry`] from its parts.
pub(crate) fn answer(response: impl Into<String>, code: Option<&str>) -> AccountErrorEntry {
    AccountErrorEntry {
        response: response.into(),
        server_response_code: code.map(str::to_string),
    }
}

impl From<NetError> for ConnectError {
    fn from(e: NetError) -> Self {
        ConnectError::connect(e.0)
    }
}

impl From<std::io::Error> for ConnectError {
    fn from(e: std::io::Error) -> Self {
        ConnectError::connect(e.to_string())
    }
}

/// Read one CRLF-terminated line before authentication. Pre-auth responses carry no
/// literals, and reading byte by byte guarantees nothing past the line is consumed, which
/// matters right before a STARTTLS handshake.
async fn read_line<S: AsyncRead + Unpin>(s: &mut S) -> Result<String, ConnectError> {
    let mut line = Vec::with_capacity(128);
    loop {
        let b = s.read_u8().await?;
        line.push(b);
        if b == b'\n' {
            return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        if line.len() > 16 * 1024 {
            return Err(ConnectError::connect("pre-auth line too long"));
        }
    }
}

/// Capabilities named in a `* CAPABILITY …` line or an `[CAPABILITY …]` response code.
fn capabilities_in(line: &str) -> Option<Vec<String>> {
    let upper = line.to_ascii_uppercase();
    let rest = if let Some(i) = upper.find("[CAPABILITY ") {
        let r = &line[i + 12..];
        &r[..r.find(']').unwrap_or(r.len())]
    } else if upper.starts_with("* CAPABILITY ") {
        &line[13..]
    } else {
        return None;
    };
    Some(
        rest.split_ascii_whitespace()
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    )
}

/// Send a tagged pre-auth command and collect the untagged lines until its completion.
async fn preauth_command<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    tag: &str,
    command: &str,
) -> Result<(Vec<String>, String), ConnectError> {
    s.write_all(format!("{tag} {command}\r\n").as_bytes())
        .await?;
    s.flush().await?;
    let mut untagged = Vec::new();
    loop {
        let line = read_line(s).await?;
        if let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
            return Ok((untagged, rest.to_string()));
        }
        untagged.push(line);
    }
}

/// Connect, secure and greet: returns a transport ready for LOGIN/AUTHENTICATE. With a
/// `log`, everything from the greeting on is recorded.
pub async fn open_transport(
    imap: &ImapConfig,
    local: &[LocalAddress],
    log: Option<ProtocolLog>,
) -> Result<Transport, ConnectError> {
    let tcp = tcp::connect(&imap.host, imap.port, local).await?;
    let recorder = log.map(Recorder::new);
    let reject = imap
        .tls
        .as_ref()
        .and_then(|t| t.reject_unauthorized)
        .unwrap_or(true);
    let min_version = imap.tls.as_ref().and_then(|t| t.min_version.clone());
    if imap.secure {
        let tls = tls::handshake(tcp, &imap.host, reject, min_version.as_deref()).await?;
        let mut tls = Tap::new(Wire::Tls(Box::new(tls)), recorder);
        let greeting = read_line(&mut tls).await?;
        check_greeting(&greeting)?;
        return Ok(Transport::new(tls));
    }
    let mut tcp = Tap::new(tcp, recorder);
    let greeting = read_line(&mut tcp).await?;
    check_greeting(&greeting)?;
    let caps = match capabilities_in(&greeting) {
        Some(c) => c,
        None => {
            let (lines, _) = preauth_command(&mut tcp, "C0", "CAPABILITY").await?;
            lines
                .iter()
                .find_map(|l| capabilities_in(l))
                .unwrap_or_default()
        }
    };
    if caps.iter().any(|c| c == "STARTTLS") {
        let (_, done) = preauth_command(&mut tcp, "C1", "STARTTLS").await?;
        if !done.to_ascii_uppercase().starts_with("OK") {
            return Err(ConnectError::connect(format!("STARTTLS refused: {done}")));
        }
        let (tcp, recorder) = tcp.into_parts();
        let tls = tls::handshake(tcp, &imap.host, reject, min_version.as_deref()).await?;
        return Ok(Transport::new(Tap::new(Wire::Tls(Box::new(tls)), recorder)));
    }
    let (tcp, recorder) = tcp.into_parts();
    Ok(Transport::new(Tap::new(Wire::Plain(tcp), recorder)))
}

fn check_greeting(greeting: &str) -> Result<(), ConnectError> {
    let g = greeting.to_ascii_uppercase();
    if g.starts_with("* OK") || g.starts_with("* PREAUTH") {
        Ok(())
    } else {
        Err(ConnectError::connect(format!(
            "unexpected greeting: {}",
            greeting.chars().take(200).collect::<String>()
        )))
    }
}

/// Open the transport and authenticate, all within [`CONNECT_TIMEOUT`].
pub async fn connect(
    imap: &ImapConfig,
    credentials: &Credentials,
    local: &[LocalAddress],
) -> Result<ImapSession, ConnectError> {
    connect_logged(imap, credentials, local, None).await
}

/// [`connect`], recording the connection's traffic in `log` when given.
pub async fn connect_logged(
    imap: &ImapConfig,
    credentials: &Credentials,
    local: &[LocalAddress],
    log: Option<ProtocolLog>,
) -> Result<ImapSession, ConnectError> {
    let started = std::time::Instant::now();
    let fut = async {
        let transport = open_transport(imap, local, log).await?;
        auth::authenticate(transport, credentials).await
    };
    let result = tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| ConnectError::connect("Connection timed out"))
        .and_then(|r| r);
    let outcome = match &result {
        Ok(_) => "success",
        Err(ConnectError::Auth(_)) => "auth_error",
        Err(ConnectError::Connect(_)) => "connect_error",
    };
    metrics::counter!("imapapi_imap_logins_total", "result" => outcome).increment(1);
    metrics::histogram!("imapapi_imap_login_duration_seconds", "result" => outcome)
        .record(started.elapsed().as_secs_f64());
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_capabilities_in_greeting_and_lines() {
        let g = "* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS AUTH=PLAIN] Dovecot ready.";
        let c = capabilities_in(g).unwrap();
        assert!(c.contains(&"STARTTLS".to_string()));
        let c = capabilities_in("* CAPABILITY IMAP4rev1 idle").unwrap();
        assert_eq!(c, vec!["IMAP4REV1", "IDLE"]);
        assert!(capabilities_in("* OK ready").is_none());
    }

    #[test]
    fn greeting_must_be_ok() {
        assert!(check_greeting("* OK hi").is_ok());
        assert!(check_greeting("* BYE go away").is_err());
    }
}
