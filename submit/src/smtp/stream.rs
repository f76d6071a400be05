//! The byte stream lettre speaks SMTP over. The gateway, not lettre, owns TCP and TLS
//! (implicit, or after STARTTLS: see [`super::secure`]), so that the protocol log tap can
//! sit above TLS, where it sees plain text; lettre only sees a stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use imapapi_common::net::wire::Wire;
use imapapi_common::protocol_log::{Smtp, Tap};
use lettre::transport::smtp::client::AsyncTokioStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What lettre is handed: the tapped wire, preceded by the server's greeting when the
/// gateway has already read it (to negotiate STARTTLS), since lettre starts by reading one.
/// The replayed greeting does not pass the tap: it was recorded when it arrived.
#[derive(Debug)]
pub struct Conversation {
    greeting: Vec<u8>,
    replayed: usize,
    wire: Tap<Wire, Smtp>,
}

impl Conversation {
    pub fn new(wire: Tap<Wire, Smtp>, greeting: Vec<u8>) -> Self {
        Conversation {
            greeting,
            replayed: 0,
            wire,
        }
    }
}

impl AsyncRead for Conversation {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let rest = &this.greeting[this.replayed..];
        if rest.is_empty() {
            return Pin::new(&mut this.wire).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        this.replayed += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Conversation {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().wire).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().wire).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().wire).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Conversation {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.wire.get_ref().peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    #[tokio::test]
    async fn the_greeting_is_replayed_before_the_wire() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"250 hello\r\n").await.unwrap();
            let mut got = [0; 6];
            s.read_exact(&mut got).await.unwrap();
            got
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let wire = Tap::new(Wire::Plain(tcp), None);
        let mut conversation = Conversation::new(wire, b"220 ready\r\n".to_vec());
        assert_eq!(conversation.peer_addr().unwrap(), addr);
        let mut read = vec![0; 22];
        conversation.read_exact(&mut read).await.unwrap();
        assert_eq!(read, b"220 ready\r\n250 hello\r\n");
        conversation.write_all(b"EHLO x").await.unwrap();
        assert_eq!(&server.await.unwrap(), b"EHLO x");
    }
}
