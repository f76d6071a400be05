//! Securing an SMTP connection before lettre takes it: implicit TLS, or STARTTLS done by
//! the gateway rather than by lettre. lettre's STARTTLS wraps the stream it was handed in a
//! TLS stream of its own, so a tap in that stream would record ciphertext, and nothing can
//! be put above lettre's TLS. So the plain-text start (greeting, EHLO, STARTTLS) happens
//! here, the handshake is ours (with the trust and `tls.minVersion` of every other mail
//! connection), and lettre gets the secured stream with the greeting replayed: it then
//! starts over with EHLO, as RFC 3207 requires after the upgrade.

use imapapi_common::model::SmtpConfig;
use imapapi_common::net;
use imapapi_common::protocol_log::{Recorder, Smtp, Tap};
use lettre::transport::smtp::commands::{Ehlo, Starttls};
use lettre::transport::smtp::extension::{ClientId, Extension, ServerInfo};
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::SendError;
use super::stream::Conversation;
use imapapi_common::net::wire::Wire;

/// The longest reply read before TLS; a real one is a few hundred bytes.
const MAX_REPLY: usize = 16 * 1024;

/// The connection as lettre should get it: over TLS when `smtp` asks for implicit TLS or the
/// server offers STARTTLS, recorded by `recorder` (above TLS) when given.
pub async fn open(
    tcp: TcpStream,
    smtp: &SmtpConfig,
    hello: &ClientId,
    recorder: Option<Recorder<Smtp>>,
) -> Result<Conversation, SendError> {
    if smtp.secure {
        let tls = handshake(tcp, smtp).await?;
        return Ok(Conversation::new(Tap::new(tls, recorder), Vec::new()));
    }
    let mut plain = Tap::new(tcp, recorder);
    let greeting = read_reply(&mut plain).await?;
    let upgrade = offers_starttls(&mut plain, &greeting, hello).await?;
    if upgrade {
        let ready = command(&mut plain, Starttls).await?;
        refused("STARTTLS", &ready, 220)?;
    }
    let (tcp, recorder) = plain.into_parts();
    let wire = if upgrade {
        handshake(tcp, smtp).await?
    } else {
        Wire::Plain(tcp)
    };
    Ok(Conversation::new(
        Tap::new(wire, recorder),
        greeting.into_bytes(),
    ))
}

async fn handshake(tcp: TcpStream, smtp: &SmtpConfig) -> Result<Wire, SendError> {
    let tls = smtp.tls.as_ref();
    let reject = tls.and_then(|t| t.reject_unauthorized).unwrap_or(true);
    let min_version = tls.and_then(|t| t.min_version.as_deref());
    let stream = net::tls::handshake(tcp, &smtp.host, reject, min_version)
        .await
        .map_err(|e| SendError::Temporary(e.to_string()))?;
    Ok(Wire::Tls(Box::new(stream)))
}

/// Whether the server offers STARTTLS, asked with EHLO after a positive greeting. Anything
/// unexpected means no: lettre, reading the same greeting and sending EHLO again, then
/// reports the trouble as it always does.
async fn offers_starttls<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    greeting: &str,
    hello: &ClientId,
) -> Result<bool, SendError> {
    if !greeting.parse::<Response>().is_ok_and(|r| r.is_positive()) {
        return Ok(false);
    }
    let ehlo = command(s, Ehlo::new(hello.clone())).await?;
    let info = ehlo
        .parse::<Response>()
        .ok()
        .filter(Response::is_positive)
        .and_then(|r| ServerInfo::from_response(&r).ok());
    Ok(info.is_some_and(|i| i.supports_feature(Extension::StartTls)))
}

/// Send a command, and read the reply to it.
async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    line: impl std::fmt::Display,
) -> Result<String, SendError> {
    s.write_all(line.to_string().as_bytes())
        .await
        .map_err(io_error)?;
    s.flush().await.map_err(io_error)?;
    read_reply(s).await
}

/// Read one reply, all its lines. Byte by byte, so that nothing past it is consumed: what
/// follows belongs to the TLS handshake or to lettre.
async fn read_reply<S: AsyncRead + Unpin>(s: &mut S) -> Result<String, SendError> {
    let mut reply = Vec::with_capacity(256);
    loop {
        let b = s.read_u8().await.map_err(io_error)?;
        reply.push(b);
        if b == b'\n' && ends_reply(&reply) {
            return Ok(String::from_utf8_lossy(&reply).into_owned());
        }
        if reply.len() > MAX_REPLY {
            return Err(SendError::Temporary("SMTP reply too long".into()));
        }
    }
}

/// Whether the last line of `reply` (ended by LF) is its final one: not `250-…`.
fn ends_reply(reply: &[u8]) -> bool {
    let body = &reply[..reply.len() - 1];
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    reply.get(start + 3) != Some(&b'-')
}

/// An error unless `reply` has the code `expected`: permanent for a 5xx, else temporary,
/// as lettre classifies what it reads.
fn refused(step: &str, reply: &str, expected: u16) -> Result<(), SendError> {
    let code = reply.get(..3).and_then(|c| c.parse::<u16>().ok());
    if code == Some(expected) {
        return Ok(());
    }
    let text = format!("{step}: {}", reply.trim_end());
    match code {
        Some(500..=599) => Err(SendError::Permanent(text)),
        _ => Err(SendError::Temporary(text)),
    }
}

fn io_error(e: std::io::Error) -> SendError {
    SendError::Temporary(format!("Connection: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_ends_with_its_last_line() {
        assert!(ends_reply(b"220 ready\r\n"));
        assert!(!ends_reply(b"250-mail.example\r\n"));
        assert!(ends_reply(b"250-mail.example\r\n250 STARTTLS\r\n"));
        assert!(ends_reply(b"250\r\n"));
    }

    #[test]
    fn a_refused_starttls_is_classified() {
        assert!(refused("STARTTLS", "220 2.0.0 Ready\r\n", 220).is_ok());
        assert!(matches!(
            refused("STARTTLS", "454 4.7.0 TLS not available\r\n", 220),
            Err(SendError::Temporary(t)) if t == "STARTTLS: 454 4.7.0 TLS not available"
        ));
        assert!(matches!(
            refused("STARTTLS", "554 no\r\n", 220),
            Err(SendError::Permanent(_))
        ));
    }

    /// A server offering STARTTLS is asked for it; the greeting is kept for lettre.
    #[tokio::test]
    async fn starttls_is_negotiated_in_plain_text() {
        let (mut client, mut server) = tokio::io::duplex(4096);
        let talk = tokio::spawn(async move {
            server.write_all(b"220 mx ESMTP\r\n").await.unwrap();
            let mut buf = vec![0; 64];
            let n = server.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"EHLO gw.example\r\n");
            server
                .write_all(b"250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n")
                .await
                .unwrap();
            let n = server.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"STARTTLS\r\n");
            server.write_all(b"220 go ahead\r\n").await.unwrap();
        });
        let hello = ClientId::Domain("gw.example".into());
        let greeting = read_reply(&mut client).await.unwrap();
        assert_eq!(greeting, "220 mx ESMTP\r\n");
        assert!(
            offers_starttls(&mut client, &greeting, &hello)
                .await
                .unwrap()
        );
        let ready = command(&mut client, Starttls).await.unwrap();
        assert!(refused("STARTTLS", &ready, 220).is_ok());
        talk.await.unwrap();
    }

    /// No EHLO of ours after a refusing greeting: lettre reads it and reports it.
    #[tokio::test]
    async fn a_refusing_greeting_is_left_to_lettre() {
        let (mut client, _server) = tokio::io::duplex(64);
        let hello = ClientId::Domain("gw.example".into());
        let greeting = "554 5.3.2 go away\r\n";
        assert!(
            !offers_starttls(&mut client, greeting, &hello)
                .await
                .unwrap()
        );
    }
}
