//! The protocol log tap: an `AsyncRead`/`AsyncWrite` wrapper around a mail connection's
//! byte stream that records, for an account whose connections are logged (`logs`
//! settings), each line the gateway sends (`C:`) and receives (`S:`), as the original's
//! per-account logs did. It belongs above TLS, so it sees plain text exactly as it goes
//! over the wire.
//!
//! What it keeps is bounded whatever the traffic (see [`super::lines`]); what a line may
//! show, and where an entry ends, is the protocol's business (a [`Dialect`]: IMAP or SMTP);
//! finished lines go to the log writer without ever waiting (see [`super::writer`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::writer::{Direction, Line, Protocol, ProtocolLog};

/// What a tap knows of the protocol it records: how each direction's bytes become entries,
/// and what of them must not be shown. It sees both directions because the server's answers
/// end what the client's lines start (a SASL exchange, a message's data).
pub trait Dialect: Default + Send + Sync + 'static {
    const PROTOCOL: Protocol;
    /// Take in bytes the gateway sent, handing each finished entry to `emit`.
    fn sent(&mut self, bytes: &[u8], emit: &mut dyn FnMut(DateTime<Utc>, String));
    /// Take in bytes the server sent, handing each finished entry to `emit`.
    fn received(&mut self, bytes: &[u8], emit: &mut dyn FnMut(DateTime<Utc>, String));
}

/// A stream whose traffic is recorded when it carries a [`Recorder`], and passed through
/// untouched otherwise.
#[derive(Debug)]
pub struct Tap<S, D> {
    inner: S,
    recorder: Option<Box<Recorder<D>>>,
}

impl<S, D> Tap<S, D> {
    pub fn new(inner: S, recorder: Option<Recorder<D>>) -> Self {
        Tap {
            inner,
            recorder: recorder.map(Box::new),
        }
    }

    /// The stream and the recorder back, to carry the recording over a STARTTLS upgrade.
    pub fn into_parts(self) -> (S, Option<Recorder<D>>) {
        (self.inner, self.recorder.map(|r| *r))
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin, D: Dialect> AsyncRead for Tap<S, D> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(r)) = (&polled, this.recorder.as_mut()) {
            r.received(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin, D: Dialect> AsyncWrite for Tap<S, D> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(r)) = (&polled, this.recorder.as_mut()) {
            r.sent(&buf[..*n]);
        }
        polled
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// One connection's recording: the protocol's view of both directions and the log it feeds.
#[derive(Debug)]
pub struct Recorder<D> {
    log: ProtocolLog,
    dialect: D,
}

impl<D: Dialect> Recorder<D> {
    pub fn new(log: ProtocolLog) -> Self {
        Recorder {
            log,
            dialect: D::default(),
        }
    }

    fn sent(&mut self, bytes: &[u8]) {
        let log = &self.log;
        self.dialect.sent(bytes, &mut |at, text| {
            log.record(line(at, Direction::Client, D::PROTOCOL, text));
        });
    }

    fn received(&mut self, bytes: &[u8]) {
        let log = &self.log;
        self.dialect.received(bytes, &mut |at, text| {
            log.record(line(at, Direction::Server, D::PROTOCOL, text));
        });
    }
}

fn line(at: DateTime<Utc>, direction: Direction, protocol: Protocol, text: String) -> Line {
    Line {
        at,
        direction,
        protocol,
        text,
    }
}
