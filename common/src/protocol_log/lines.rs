//! Splitting one direction of a connection's bytes into log entries, whatever the
//! protocol: CRLF-terminated lines, each kept up to [`LINE_CAP`] bytes and written on one
//! line of the log. IMAP literals (whose bytes may hold line breaks that end nothing) stay
//! in the entry of the line that announces them; the dialect says how a line announces one.

use chrono::{DateTime, Utc};

use super::LINE_CAP;

/// Enough of a line's end to hold a literal announcement such as `~{18446744073709551615+}`.
const TAIL: usize = 32;

/// The size of the literal a line announces at its end (given its last [`TAIL`] bytes), if
/// it does.
pub type Announces = fn(&[u8]) -> Option<u64>;

/// For protocols without literals.
pub fn no_literals(_: &[u8]) -> Option<u64> {
    None
}

/// One direction's splitter: an entry is a line, together with the literals it announces
/// and the rest of the line after them.
#[derive(Debug)]
pub struct Lines {
    announces: Announces,
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
    pub fn new(announces: Announces) -> Self {
        Lines {
            announces,
            kept: Vec::new(),
            cut: 0,
            tail: Vec::new(),
            literal: 0,
            started: None,
        }
    }

    /// Take in `bytes`, handing each finished entry (its start time and text) to `emit`.
    pub fn feed(&mut self, mut bytes: &[u8], mut emit: impl FnMut(DateTime<Utc>, String)) {
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
            match (self.announces)(&self.tail) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol_log::imap::literal_announced;

    fn split_with(announces: Announces, chunks: &[&[u8]]) -> Vec<String> {
        let mut lines = Lines::new(announces);
        let mut out = Vec::new();
        for c in chunks {
            lines.feed(c, |_, t| out.push(t));
        }
        out
    }

    fn split(chunks: &[&[u8]]) -> Vec<String> {
        split_with(literal_announced, chunks)
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
    }

    #[test]
    fn without_literals_a_brace_ends_nothing() {
        let got = split_with(no_literals, &[b"250 ok {3}\r\nabc\r\n"]);
        assert_eq!(got, ["250 ok {3}", "abc"]);
    }

    #[test]
    fn big_literals_are_cut_and_counted() {
        let body = vec![b'x'; 1_000_000];
        let mut lines = Lines::new(literal_announced);
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
}
