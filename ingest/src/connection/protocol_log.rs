//! The protocol log tap: an `AsyncRead`/`AsyncWrite` wrapper around an IMAP connection's
//! byte stream that records, for an account whose connections are logged (`logs` settings),
//! each line the gateway sends (`C:`) and receives (`S:`), as the original's per-account
//! logs did. It sits above TLS and below the write buffer, so it sees plain text exactly as
//! it goes over the wire, from the greeting on.
//!
//! What it keeps is bounded whatever the traffic: a line and the literals it carries make one
//! entry, of which at most [`LINE_CAP`] bytes are kept (a 25 MB message body costs 2 KiB and a
//! marker); credentials are replaced by `******` before a line leaves the connection (see
//! [`Redactor`]); and finished lines go to the log writer without ever waiting (see
//! [`super::log_writer`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::log_writer::{Direction, Line, ProtocolLog};

/// Bytes of a line (with its literals) kept in the log; the rest is counted, not kept.
pub const LINE_CAP: usize = 2048;
/// What stands for a secret in a logged line.
pub const REDACTED: &str = "******";
/// Enough of a line's end to hold a literal announcement such as `~{18446744073709551615+}`.
const TAIL: usize = 32;

/// A stream whose traffic is recorded when it carries a [`Recorder`], and passed through
/// untouched otherwise.
#[derive(Debug)]
pub struct Tap<S> {
    inner: S,
    recorder: Option<Box<Recorder>>,
}

impl<S> Tap<S> {
    pub fn new(inner: S, recorder: Option<Recorder>) -> Self {
        Tap {
            inner,
            recorder: recorder.map(Box::new),
        }
    }

    /// The stream and the recorder back, to carry the recording over a STARTTLS upgrade.
    pub fn into_parts(self) -> (S, Option<Recorder>) {
        (self.inner, self.recorder.map(|r| *r))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
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

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
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

/// One connection's recording: a line splitter per direction, the redactor (which needs
/// both directions: the server's tagged answer ends a SASL exchange) and the log it feeds.
#[derive(Debug)]
pub struct Recorder {
    log: ProtocolLog,
    client: Lines,
    server: Lines,
    redactor: Redactor,
}

impl Recorder {
    pub fn new(log: ProtocolLog) -> Self {
        Recorder {
            log,
            client: Lines::default(),
            server: Lines::default(),
            redactor: Redactor::default(),
        }
    }

    fn sent(&mut self, bytes: &[u8]) {
        let Recorder {
            log,
            client,
            redactor,
            ..
        } = self;
        client.feed(bytes, |at, text| {
            let text = redactor.client(&text);
            log.record(Line {
                at,
                direction: Direction::Client,
                text,
            });
        });
    }

    fn received(&mut self, bytes: &[u8]) {
        let Recorder {
            log,
            server,
            redactor,
            ..
        } = self;
        server.feed(bytes, |at, text| {
            redactor.server(&text);
            log.record(Line {
                at,
                direction: Direction::Server,
                text,
            });
        });
    }
}

/// Splits one direction's bytes into entries: a CRLF-terminated line, together with the
/// literals it announces (`{n}`, `{n+}`, `~{n}`) and the rest of the line after them, since
/// a literal's bytes may contain line breaks that end nothing.
#[derive(Debug, Default)]
struct Lines {
    /// The first [`LINE_CAP`] bytes of the entry.
    kept: Vec<u8>,
    /// Bytes of the entry past the cap.
    cut: u64,
    /// The last bytes of the current line outside literals, to spot a literal's
    /// announcement even once the line is past the cap.
    tail: Vec<u8>,
    /// Bytes of the current literal still to come.
    literal: u64,
    started: Option<DateTime<Utc>>,
}

impl Lines {
    /// Take in `bytes`, handing each finished entry (its start time and text) to `emit`.
    fn feed(&mut self, mut bytes: &[u8], mut emit: impl FnMut(DateTime<Utc>, String)) {
        while !bytes.is_empty() {
            let started = *self.started.get_or_insert_with(Utc::now);
            if self.literal > 0 {
                let n = usize::try_from(self.literal).map_or(bytes.len(), |l| l.min(bytes.len()));
                self.keep(&bytes[..n]);
                self.literal -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
                self.line_part(bytes);
                return;
            };
            self.line_part(&bytes[..end]);
            bytes = &bytes[end + 1..];
            match literal_announced(&self.tail) {
                Some(n) => {
                    self.keep(b"\n");
                    self.literal = n;
                    self.tail.clear();
                }
                None => emit(started, self.finish()),
            }
        }
    }

    /// Bytes of the line itself (not of a literal).
    fn line_part(&mut self, bytes: &[u8]) {
        self.keep(bytes);
        let from = bytes.len().saturating_sub(TAIL);
        self.tail.extend_from_slice(&bytes[from..]);
        let excess = self.tail.len().saturating_sub(TAIL);
        self.tail.drain(..excess);
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = LINE_CAP.saturating_sub(self.kept.len()).min(bytes.len());
        self.kept.extend_from_slice(&bytes[..room]);
        self.cut += (bytes.len() - room) as u64;
    }

    /// The entry as text, and the splitter reset for the next one.
    fn finish(&mut self) -> String {
        if self.cut == 0 && self.kept.last() == Some(&b'\r') {
            self.kept.pop();
        }
        let mut text = printable(&String::from_utf8_lossy(&self.kept));
        if self.cut > 0 {
            text.push_str(&format!(" …[{} more bytes not logged]", self.cut));
        }
        self.kept.clear();
        self.tail.clear();
        self.cut = 0;
        self.started = None;
        text
    }
}

/// The size of the literal a line announces at its end, if it does.
fn literal_announced(tail: &[u8]) -> Option<u64> {
    let line = tail.strip_suffix(b"\r").unwrap_or(tail);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let size = &inner[open + 1..];
    let digits = size
        .strip_suffix(b"+")
        .or_else(|| size.strip_suffix(b"-"))
        .unwrap_or(size);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `text` on one line: control characters (the line breaks inside literals among them)
/// written as escapes, so that an entry is always one line of the log.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// Hides credentials in the client's lines: everything after `LOGIN`, what follows the
/// mechanism of `AUTHENTICATE` (a SASL-IR initial response), and every line the client sends
/// while a SASL exchange is on (until the server's tagged answer ends it).
#[derive(Debug, Default)]
pub struct Redactor {
    in_sasl: bool,
}

impl Redactor {
    /// A client line as it may be logged.
    pub fn client(&mut self, line: &str) -> String {
        if self.in_sasl {
            return REDACTED.to_string();
        }
        let mut words = line.splitn(3, ' ');
        let (tag, command, rest) = (words.next(), words.next(), words.next());
        let (Some(tag), Some(command)) = (tag, command) else {
            return line.to_string();
        };
        if command.eq_ignore_ascii_case("LOGIN") {
            return format!("{tag} {command} {REDACTED}");
        }
        if command.eq_ignore_ascii_case("AUTHENTICATE") {
            self.in_sasl = true;
            let mut args = rest.unwrap_or_default().splitn(2, ' ');
            let mechanism = args.next().unwrap_or_default();
            return match args.next() {
                Some(_) => format!("{tag} {command} {mechanism} {REDACTED}"),
                None => format!("{tag} {command} {mechanism}"),
            };
        }
        line.to_string()
    }

    /// Take note of a server line: any but a continuation (`+`) or untagged (`*`) one is the
    /// tagged answer that ends a SASL exchange.
    pub fn server(&mut self, line: &str) {
        if self.in_sasl && !line.starts_with('+') && !line.starts_with('*') {
            self.in_sasl = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for c in chunks {
            lines.feed(c, |_, t| out.push(t));
        }
        out
    }

    #[test]
    fn splits_lines_across_chunks() {
        let got = split(&[b"* OK ready\r\nA1 OK", b" done\r", b"\n* 3 EXI", b"STS\r\n"]);
        assert_eq!(got, ["* OK ready", "A1 OK done", "* 3 EXISTS"]);
        let bytewise: Vec<&[u8]> = b"* OK hi\r\nA1 OK\r\n".chunks(1).collect();
        assert_eq!(split(&bytewise), ["* OK hi", "A1 OK"]);
    }

    #[test]
    fn literals_stay_in_their_line() {
        let got = split(&[
            b"* 1 FETCH (BODY[] {7}\r\nab\r\n",
            b"cd\r FLAGS ())\r\nA1 OK\r\n",
        ]);
        assert_eq!(
            got,
            [
                "* 1 FETCH (BODY[] {7}\\r\\nab\\r\\ncd\\r FLAGS ())",
                "A1 OK"
            ]
        );
        let got = split(&[b"A2 APPEND INBOX {3+}\r\nx\r\n\r\n"]);
        assert_eq!(got, ["A2 APPEND INBOX {3+}\\r\\nx\\r\\n"]);
        assert_eq!(literal_announced(b"BODY[] ~{12}\r"), Some(12));
        assert_eq!(literal_announced(b"SUBJECT \"{5}\""), None);
        assert_eq!(literal_announced(b"{}"), None);
    }

    #[test]
    fn big_literals_are_cut_and_counted() {
        let body = vec![b'x'; 1_000_000];
        let mut lines = Lines::default();
        let mut out = Vec::new();
        lines.feed(b"* 1 FETCH (BODY[] {1000000}\r\n", |_, t| out.push(t));
        for chunk in body.chunks(8192) {
            lines.feed(chunk, |_, t| out.push(t));
            assert!(lines.kept.len() <= LINE_CAP);
        }
        lines.feed(b")\r\n* 2 EXISTS\r\n", |_, t| out.push(t));
        assert_eq!(out.len(), 2);
        let kept = "* 1 FETCH (BODY[] {1000000}\\r\\n".len() - 2;
        // The literal past the cap, and `)` and CR after it.
        let marker = format!(
            " …[{} more bytes not logged]",
            1_000_000 + 2 - (LINE_CAP - kept)
        );
        assert!(
            out[0].ends_with(&marker),
            "{}",
            &out[0][out[0].len() - 60..]
        );
        assert_eq!(out[1], "* 2 EXISTS");
    }

    #[test]
    fn a_literal_announced_past_the_cap_is_still_followed() {
        let mut line = b"* 1 FETCH (X ".to_vec();
        line.extend(vec![b'a'; 3 * LINE_CAP]);
        line.extend(b" BODY[] {4}\r\nA\r\nB)\r\nA1 OK\r\n");
        let got = split(&[&line]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], "A1 OK");
    }

    #[test]
    fn control_bytes_are_escaped() {
        assert_eq!(split(&[b"a\x01b\tc\r\n"]), ["a\\u{1}b\tc"]);
    }

    #[test]
    fn login_arguments_are_hidden() {
        let mut r = Redactor::default();
        assert_eq!(
            r.client("A1 LOGIN \"user\" \"secret pass\""),
            "A1 LOGIN ******"
        );
        assert_eq!(
            r.client("a2 login {4}\\r\\nuser {6}\\r\\nsecret"),
            "a2 login ******"
        );
        assert_eq!(r.client("A3 SELECT INBOX"), "A3 SELECT INBOX");
        assert_eq!(r.client("A4 NOOP"), "A4 NOOP");
        assert_eq!(r.client("DONE"), "DONE");
    }

    #[test]
    fn sasl_payloads_are_hidden_until_the_tagged_answer() {
        let mut r = Redactor::default();
        assert_eq!(
            r.client("A1 AUTHENTICATE XOAUTH2"),
            "A1 AUTHENTICATE XOAUTH2"
        );
        r.server("+ ");
        assert_eq!(
            r.client("dXNlcj1hQGIuYwFhdXRoPUJlYXJlciB0b2tlbgEB"),
            REDACTED
        );
        r.server("+ eyJzdGF0dXMiOiI0MDEifQ==");
        assert_eq!(r.client(""), REDACTED);
        r.server("* CAPABILITY IMAP4rev1");
        assert_eq!(r.client("still sasl"), REDACTED);
        r.server("A1 NO [AUTHENTICATIONFAILED] Invalid credentials");
        assert_eq!(r.client("A2 LOGOUT"), "A2 LOGOUT");

        let mut r = Redactor::default();
        assert_eq!(
            r.client("A1 authenticate PLAIN AHVzZXIAcGFzcw=="),
            "A1 authenticate PLAIN ******"
        );
        r.server("A1 OK Logged in");
        assert_eq!(r.client("A2 SELECT INBOX"), "A2 SELECT INBOX");
    }
}
