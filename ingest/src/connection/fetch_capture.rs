//! Reading the answer to `UID FETCH <range> (UID FLAGS)` without the general response
//! parser: a sync reads one such line per message (100,000 of them for a big INBOX), and
//! parsing each with imap-proto, in async-imap's buffer (a fresh zeroed 4 KiB block and a
//! copy of the rest of the read per response), cost more than the server took to send
//! them. While a capture is armed, [`super::list_filter`] hands every complete line of the
//! plain form `* n FETCH (UID u FLAGS (…))` (items in any order, MODSEQ allowed) to
//! [`FetchCapture::offer`] instead of passing it up; anything else (another form, a line
//! split across two reads, a literal) passes as before and is read by imap-proto, so a
//! capture only ever makes the common case cheaper, never changes what is read.

use crate::message_flags::MessageFlags;

/// The `(uid, flags)` lines caught for one command, until its tagged completion.
#[derive(Debug, Default)]
pub struct FetchCapture {
    /// The command's tagged completion went by: nothing more is caught.
    closed: bool,
    found: Vec<(u32, MessageFlags)>,
}

impl FetchCapture {
    /// Offered `rest`, the bytes from the start of a response to the end of what has been
    /// read: how many it took (one whole line of the plain form), `None` when that
    /// response is to pass on to the reader.
    pub fn offer(&mut self, rest: &[u8]) -> Option<usize> {
        if self.closed {
            return None;
        }
        // While one command runs, the only response not starting with `*` is its tagged
        // completion (a FETCH has no continuation): told by the first byte, which no read
        // boundary can split.
        if rest.first() != Some(&b'*') {
            self.closed = true;
            return None;
        }
        if !(rest.len() > 2 && rest.starts_with(b"* ") && rest[2].is_ascii_digit()) {
            return None;
        }
        let end = rest.iter().position(|&b| b == b'\n')? + 1;
        let entry = uid_and_flags(&rest[..end])?;
        self.found.push(entry);
        Some(end)
    }

    /// What was caught, in the order the server sent it.
    pub fn into_found(self) -> Vec<(u32, MessageFlags)> {
        self.found
    }
}

/// `(uid, flags)` of `* n FETCH (UID u FLAGS (f …))` CRLF, items in any order, MODSEQ
/// allowed and ignored, read straight into the index's form (which leaves `\Recent` out); `None` for anything else, including FETCH responses
/// without UID or FLAGS.
pub fn uid_and_flags(line: &[u8]) -> Option<(u32, MessageFlags)> {
    let mut c = Line { s: line, i: 0 };
    c.literal(b"* ")?;
    c.number()?;
    c.literal_ignoring_case(b" FETCH (")?;
    let mut uid = None;
    let mut flags = None;
    loop {
        let name = c.word();
        c.literal(b" ")?;
        if name.eq_ignore_ascii_case(b"UID") {
            uid = Some(u32::try_from(c.number()?).ok().filter(|u| *u > 0)?);
        } else if name.eq_ignore_ascii_case(b"FLAGS") {
            flags = Some(c.flag_list()?);
        } else if name.eq_ignore_ascii_case(b"MODSEQ") {
            c.literal(b"(")?;
            c.number()?;
            c.literal(b")")?;
        } else {
            return None;
        }
        match c.next()? {
            b' ' => continue,
            b')' => break,
            _ => return None,
        }
    }
    c.literal(b"\r\n")?;
    (c.i == line.len()).then_some(())?;
    Some((uid?, flags?))
}

/// A reader of one line; each method moves past what it read.
struct Line<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Line<'a> {
    fn next(&mut self) -> Option<u8> {
        let b = *self.s.get(self.i)?;
        self.i += 1;
        Some(b)
    }

    fn literal(&mut self, want: &[u8]) -> Option<()> {
        let got = self.s.get(self.i..self.i + want.len())?;
        (got == want).then(|| self.i += want.len())
    }

    fn literal_ignoring_case(&mut self, want: &[u8]) -> Option<()> {
        let got = self.s.get(self.i..self.i + want.len())?;
        got.eq_ignore_ascii_case(want).then(|| self.i += want.len())
    }

    /// Digits, at most 20 of them; `None` when there are none or they overflow.
    fn number(&mut self) -> Option<u64> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(&b) = self.s.get(self.i).filter(|b| b.is_ascii_digit()) {
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.i += 1;
        }
        (self.i > start).then_some(n)
    }

    /// Letters (an item name).
    fn word(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_alphabetic) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// `(` flags separated by single spaces `)`; each flag an atom, `\` first for system
    /// flags. Quoted strings, literals or odd bytes give `None`: imap-proto reads those.
    fn flag_list(&mut self) -> Option<MessageFlags> {
        self.literal(b"(")?;
        let mut flags = MessageFlags::new();
        if self.literal(b")").is_some() {
            return Some(flags);
        }
        loop {
            let start = self.i;
            if self.s.get(self.i) == Some(&b'\\') {
                self.i += 1;
            }
            let atom_start = self.i;
            while self.s.get(self.i).is_some_and(|b| is_atom_char(*b)) {
                self.i += 1;
            }
            if self.i == atom_start {
                return None;
            }
            // Atom characters are ASCII, so this never fails.
            flags.add_bytes(&self.s[start..self.i])?;
            match self.next()? {
                b' ' => continue,
                b')' => return Some(flags),
                _ => return None,
            }
        }
    }
}

/// ATOM-CHAR of RFC 3501 with `]` (resp-specials) allowed as in keywords servers send:
/// any printable ASCII but `( ) { SP % * " \`.
fn is_atom_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> MessageFlags {
        MessageFlags::from_names(v)
    }

    #[test]
    fn reads_the_plain_forms() {
        assert_eq!(
            uid_and_flags(b"* 1 FETCH (UID 7 FLAGS (\\Seen $Label1))\r\n"),
            Some((7, s(&["\\Seen", "$Label1"])))
        );
        assert_eq!(
            uid_and_flags(b"* 12 fetch (FLAGS () UID 4000000000)\r\n"),
            Some((4_000_000_000, MessageFlags::new()))
        );
        assert_eq!(
            uid_and_flags(b"* 3 FETCH (UID 9 MODSEQ (12345) FLAGS (\\Recent \\Answered))\r\n"),
            Some((9, s(&["\\Answered"])))
        );
    }

    #[test]
    fn leaves_everything_else_to_imap_proto() {
        for line in [
            &b"* 3 EXISTS\r\n"[..],
            b"* 1 FETCH (FLAGS (\\Seen))\r\n",
            b"* 1 FETCH (UID 7)\r\n",
            b"* 1 FETCH (UID 7 FLAGS (\\Seen) RFC822.SIZE 44)\r\n",
            b"* 1 FETCH (UID 7 FLAGS (\"odd\"))\r\n",
            b"* 1 FETCH (UID 7 FLAGS (\\Seen)\r\n",
            b"* 1 FETCH (UID 7 FLAGS (\\Seen))",
            b"* 1 FETCH (UID 7 FLAGS (\\Seen)) \r\n",
            b"* 1 FETCH (UID 7 FLAGS (\\Seen  \\Draft))\r\n",
            b"* 1 FETCH (UID 0 FLAGS ())\r\n",
            b"* 1 FETCH (UID 99999999999 FLAGS ())\r\n",
            b"* 1 FETCH (UID 7 BODY[] {4}\r\n",
            b"A1 OK done\r\n",
        ] {
            assert_eq!(
                uid_and_flags(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn takes_whole_lines_until_its_command_completes() {
        let mut c = FetchCapture::default();
        let one = b"* 1 FETCH (UID 3 FLAGS ())\r\n";
        let mut read = one.to_vec();
        read.extend_from_slice(b"* 2 FETCH (UID 4");
        assert_eq!(c.offer(&read), Some(one.len()));
        // The rest of the line is in the next read: it passes.
        assert_eq!(c.offer(&read[one.len()..]), None);
        assert_eq!(c.offer(b"* 4 EXISTS\r\n"), None);
        assert_eq!(c.offer(b"* OK [HIGHESTMODSEQ 4]\r\n"), None);
        assert_eq!(
            c.offer(b"A5 OK Fetch completed\r\n* 5 FETCH (UID 6 FLAGS ())\r\n"),
            None
        );
        assert_eq!(c.offer(b"* 5 FETCH (UID 6 FLAGS ())\r\n"), None);
        assert_eq!(c.into_found(), vec![(3, MessageFlags::new())]);
    }
}
