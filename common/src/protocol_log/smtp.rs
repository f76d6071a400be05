//! What the protocol log knows of SMTP: credentials (`AUTH` initial responses and every
//! line of a SASL exchange) never reach the log, and a message is not logged line by line:
//! what the client sends between the server's `354` and the lone `.` becomes one entry,
//! `[message: N bytes]`, counted as it passes, so a 25 MB message costs one entry and a
//! counter. (BDAT is not followed: the gateway's SMTP client never uses CHUNKING.)

use chrono::{DateTime, Utc};

use super::REDACTED;
use super::lines::{Lines, no_literals};
use super::tap::Dialect;
use super::writer::Protocol;

/// The SMTP [`Dialect`]: a line splitter per direction, the redactor (which needs both
/// directions: the server's replies end a SASL exchange and start a message), and the
/// count of the message under way.
#[derive(Debug)]
pub struct Smtp {
    client: Lines,
    server: Lines,
    redactor: Redactor,
    message: Option<MessageCount>,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            client: Lines::new(no_literals),
            server: Lines::new(no_literals),
            redactor: Redactor::default(),
            message: None,
        }
    }
}

impl Dialect for Smtp {
    const PROTOCOL: Protocol = Protocol::Smtp;

    fn sent(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(DateTime<Utc>, String)) {
        if let Some(message) = &mut self.message {
            let Some(used) = message.feed(bytes) else {
                return;
            };
            emit(message.started, message.summary());
            self.message = None;
            bytes = &bytes[used..];
        }
        let Smtp {
            client, redactor, ..
        } = self;
        client.feed(bytes, |at, text| emit(at, redactor.client(&text)));
    }

    fn received(&mut self, bytes: &[u8], emit: &mut dyn FnMut(DateTime<Utc>, String)) {
        let Smtp {
            server,
            redactor,
            message,
            ..
        } = self;
        server.feed(bytes, |at, text| {
            if redactor.server(&text) {
                *message = Some(MessageCount::new());
            }
            emit(at, text);
        });
    }
}

/// Hides credentials in the client's lines: the initial response of `AUTH <mechanism>
/// <response>`, and every line the client sends while the exchange is on (the LOGIN
/// username and password, a PLAIN response sent after an empty challenge, the empty line
/// that answers an XOAUTH2 or OAUTHBEARER error challenge), until the server's final reply.
/// Also notes when the client's message data follows.
#[derive(Debug, Default)]
pub struct Redactor {
    in_sasl: bool,
    data_sent: bool,
}

impl Redactor {
    /// A client line as it may be logged.
    pub fn client(&mut self, line: &str) -> String {
        if self.in_sasl {
            return REDACTED.to_string();
        }
        let mut words = line.splitn(3, ' ');
        let verb = words.next().unwrap_or_default();
        if verb.eq_ignore_ascii_case("AUTH") {
            self.in_sasl = true;
            if let (Some(mechanism), Some(_)) = (words.next(), words.next()) {
                return format!("{verb} {mechanism} {REDACTED}");
            }
        } else if line.eq_ignore_ascii_case("DATA") {
            self.data_sent = true;
        }
        line.to_string()
    }

    /// Take note of a server line; whether the client's message data follows it (the `354`
    /// that answers `DATA`). Only a reply's last line counts. A SASL exchange ends with any
    /// final reply but a `334` challenge. `DATA` stays pending through other replies, which
    /// with PIPELINING may be those to the MAIL and RCPT commands sent before it.
    pub fn server(&mut self, line: &str) -> bool {
        let Some(code) = final_reply(line) else {
            return false;
        };
        if self.in_sasl && code != 334 {
            self.in_sasl = false;
        }
        if self.data_sent && code == 354 {
            self.data_sent = false;
            return true;
        }
        false
    }
}

/// The code of a reply's last line (`250 ok`, not `250-PIPELINING`).
fn final_reply(line: &str) -> Option<u16> {
    let code = line.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match line.as_bytes().get(3) {
        None | Some(b' ') => code.parse().ok(),
        _ => None,
    }
}

/// Where the count of a message's data is, with respect to the lone `.` that ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    LineStart,
    InLine,
    /// A line so far made of `.`.
    Dot,
    /// A line so far made of `.` and CR.
    DotCr,
}

/// A message's data as it passes: its size, not its bytes.
#[derive(Debug)]
struct MessageCount {
    started: DateTime<Utc>,
    /// Bytes before the current line.
    bytes: u64,
    /// Bytes of the current line so far.
    line: u64,
    position: Position,
}

impl MessageCount {
    fn new() -> Self {
        MessageCount {
            started: Utc::now(),
            bytes: 0,
            line: 0,
            position: Position::LineStart,
        }
    }

    /// Count `bytes`; once the lone `.` line is complete, how many of them it took.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.position == Position::InLine {
                // Most of a message is inside lines: skip to the next line break at once.
                let Some(end) = bytes[i..].iter().position(|&b| b == b'\n') else {
                    self.line += (bytes.len() - i) as u64;
                    return None;
                };
                self.line += end as u64;
                i += end;
            }
            let b = bytes[i];
            i += 1;
            self.line += 1;
            self.position = match (self.position, b) {
                (Position::Dot | Position::DotCr, b'\n') => return Some(i),
                (Position::LineStart, b'.') => Position::Dot,
                (Position::Dot, b'\r') => Position::DotCr,
                (_, b'\n') => {
                    self.bytes += self.line;
                    self.line = 0;
                    Position::LineStart
                }
                _ => Position::InLine,
            };
        }
        None
    }

    /// The entry standing for the message: its bytes up to the line of the lone `.`, as
    /// sent (dot-stuffed, with the line break that ends its last line).
    fn summary(&self) -> String {
        format!("[message: {} bytes]", self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed a conversation (`C:`/`S:` and the bytes) through the dialect, collecting its
    /// entries as `C: text` / `S: text`.
    fn run(steps: &[(&str, &[u8])]) -> Vec<String> {
        let mut smtp = Smtp::default();
        let mut out = Vec::new();
        for (who, bytes) in steps {
            let mut emit = |_, t: String| out.push(format!("{who} {t}"));
            match *who {
                "C:" => smtp.sent(bytes, &mut emit),
                _ => smtp.received(bytes, &mut emit),
            }
        }
        out
    }

    #[test]
    fn auth_plain_initial_response_is_hidden() {
        let got = run(&[
            ("C:", b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"),
            ("S:", b"235 2.7.0 Authentication successful\r\n"),
            ("C:", b"MAIL FROM:<a@example.com>\r\n"),
        ]);
        assert_eq!(
            got,
            [
                "C: AUTH PLAIN ******",
                "S: 235 2.7.0 Authentication successful",
                "C: MAIL FROM:<a@example.com>"
            ]
        );
        let mut r = Redactor::default();
        assert_eq!(r.client("auth plain AHVzZXIAcGFzcw=="), "auth plain ******");
    }

    #[test]
    fn auth_login_lines_are_hidden_until_the_final_reply() {
        let got = run(&[
            ("C:", b"AUTH LOGIN\r\n"),
            ("S:", b"334 VXNlcm5hbWU6\r\n"),
            ("C:", b"dXNlcg==\r\n"),
            ("S:", b"334 UGFzc3dvcmQ6\r\n"),
            ("C:", b"cGFzcw==\r\n"),
            ("S:", b"535 5.7.8 Error: authentication failed\r\n"),
            ("C:", b"QUIT\r\n"),
        ]);
        assert_eq!(
            got,
            [
                "C: AUTH LOGIN",
                "S: 334 VXNlcm5hbWU6",
                "C: ******",
                "S: 334 UGFzc3dvcmQ6",
                "C: ******",
                "S: 535 5.7.8 Error: authentication failed",
                "C: QUIT"
            ]
        );
    }

    #[test]
    fn oauth_responses_and_the_answer_to_an_error_challenge_are_hidden() {
        for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
            let mut r = Redactor::default();
            assert_eq!(
                r.client(&format!(
                    "AUTH {mechanism} dXNlcj1hAWF1dGg9QmVhcmVyIHQBAQ=="
                )),
                format!("AUTH {mechanism} ******")
            );
            assert!(!r.server("334 eyJzdGF0dXMiOiI0MDEifQ=="));
            assert_eq!(r.client(""), REDACTED);
            r.server("535 5.7.8 Username and Password not accepted");
            assert_eq!(r.client("RSET"), "RSET");
        }
    }

    #[test]
    fn only_a_final_reply_ends_the_exchange() {
        let mut r = Redactor::default();
        r.client("AUTH LOGIN");
        r.server("235-first line");
        assert_eq!(r.client("cGFzcw=="), REDACTED);
        r.server("235 done");
        assert_eq!(r.client("NOOP"), "NOOP");
        assert_eq!(final_reply("250"), Some(250));
        assert_eq!(final_reply("250-PIPELINING"), None);
        assert_eq!(final_reply("OK then"), None);
    }

    #[test]
    fn the_message_is_one_entry_with_its_size() {
        let got = run(&[
            ("C:", b"DATA\r\n"),
            ("S:", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
            (
                "C:",
                b"Subject: hi\r\n\r\n..stuffed\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\n",
            ),
            ("C:", b"last\r\n."),
            ("C:", b"\r"),
            ("C:", b"\nQUIT\r\n"),
            ("S:", b"250 2.0.0 Ok: queued as 4Xyz\r\n"),
        ]);
        let size = "Subject: hi\r\n\r\n..stuffed\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\nlast\r\n".len();
        assert_eq!(
            got,
            [
                "C: DATA".to_string(),
                "S: 354 End data with <CR><LF>.<CR><LF>".to_string(),
                format!("C: [message: {size} bytes]"),
                "C: QUIT".to_string(),
                "S: 250 2.0.0 Ok: queued as 4Xyz".to_string(),
            ]
        );
    }

    #[test]
    fn a_big_message_costs_a_counter() {
        let mut smtp = Smtp::default();
        let mut out = Vec::new();
        smtp.sent(b"DATA\r\n", &mut |_, t| out.push(t));
        smtp.received(b"354 go ahead\r\n", &mut |_, t| out.push(t));
        let line = [b"x".repeat(998), b"\r\n".to_vec()].concat();
        let body = line.repeat(25 * 1024 * 1024 / line.len());
        for chunk in body.chunks(64 * 1024) {
            smtp.sent(chunk, &mut |_, t| out.push(t));
        }
        assert_eq!(out.len(), 2, "nothing of the body is an entry");
        smtp.sent(b".\r\n", &mut |_, t| out.push(t));
        assert_eq!(out[2], format!("[message: {} bytes]", body.len()));
    }

    #[test]
    fn an_empty_message_and_a_354_out_of_turn() {
        let got = run(&[
            ("S:", b"354 not an answer to DATA\r\n"),
            ("C:", b"NOOP\r\n"),
            ("C:", b"DATA\r\n"),
            (
                "S:",
                b"250 answer to something pipelined\r\n354 go ahead\r\n",
            ),
            ("C:", b".\r\n"),
        ]);
        assert_eq!(got[1], "C: NOOP");
        assert_eq!(got[5], "C: [message: 0 bytes]");
    }
}
