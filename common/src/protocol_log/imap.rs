//! What the protocol log knows of IMAP: a line's literals belong to its entry, and
//! credentials (`LOGIN` arguments, SASL payloads) never reach the log.

use chrono::{DateTime, Utc};

use super::REDACTED;
use super::lines::Lines;
use super::tap::Dialect;
use super::writer::Protocol;

/// The IMAP [`Dialect`]: a line splitter per direction that follows literals, and the
/// redactor, which needs both directions (the server's tagged answer ends a SASL exchange).
#[derive(Debug)]
pub struct Imap {
    client: Lines,
    server: Lines,
    redactor: Redactor,
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            client: Lines::new(literal_announced),
            server: Lines::new(literal_announced),
            redactor: Redactor::default(),
        }
    }
}

impl Dialect for Imap {
    const PROTOCOL: Protocol = Protocol::Imap;

    fn sent(&mut self, bytes: &[u8], emit: &mut dyn FnMut(DateTime<Utc>, String)) {
        let Imap {
            client, redactor, ..
        } = self;
        client.feed(bytes, |at, text| emit(at, redactor.client(&text)));
    }

    fn received(&mut self, bytes: &[u8], emit: &mut dyn FnMut(DateTime<Utc>, String)) {
        let Imap {
            server, redactor, ..
        } = self;
        server.feed(bytes, |at, text| {
            redactor.server(&text);
            emit(at, text);
        });
    }
}

/// The size of the literal a line announces at its end (`{n}`, `{n+}`, `{n-}`, `~{n}`), if
/// it does.
pub(super) fn literal_announced(tail: &[u8]) -> Option<u64> {
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

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_announced(b"BODY[] ~{12}\r"), Some(12));
        assert_eq!(literal_announced(b"APPEND INBOX {3+}"), Some(3));
        assert_eq!(literal_announced(b"SUBJECT \"{5}\""), None);
        assert_eq!(literal_announced(b"{}"), None);
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

    #[test]
    fn the_dialect_redacts_what_it_splits() {
        let mut imap = Imap::default();
        let mut out = Vec::new();
        imap.received(b"* OK ready\r\n", &mut |_, t| out.push(t));
        imap.sent(b"A1 LOGIN {4}\r\nuser {4}\r\npass\r\n", &mut |_, t| {
            out.push(t)
        });
        assert_eq!(out, ["* OK ready", "A1 LOGIN ******"]);
    }
}
