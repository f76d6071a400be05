//! What a LIST response with extended data (RFC 5258) says, in responses the parser
//! (imap-proto) reads: `* LIST () "/" New ("OLDNAME" (Old))`, NOTIFY's word for a rename
//! (RFC 5465), becomes `* LIST (\NonExistent) "/" Old` and `* LIST () "/" New`; other
//! extended data is dropped, as nothing here reads it. Used by [`super::list_filter`].

use std::ops::Range;

/// The start of every LIST response (compared ignoring case).
pub const PREFIX: &[u8] = b"* LIST ";

/// The plain responses that say what the LIST response `line` (CRLF included) says, or
/// `None` when it has no extended data or is not understood (it then goes out unchanged).
pub fn rewrite(line: &[u8]) -> Option<Vec<u8>> {
    let mut c = Cursor { s: line, i: 0 };
    c.prefix_ignoring_case(PREFIX)?;
    c.attributes()?;
    c.byte(b' ')?;
    let delimiter = c.delimiter()?;
    c.byte(b' ')?;
    c.astring()?;
    let plain_end = c.i;
    if c.rest() == b"\r\n" {
        return None;
    }
    c.byte(b' ')?;
    let old = c.extended_items()?;
    if c.rest() != b"\r\n" {
        return None;
    }
    let mut out = Vec::with_capacity(line.len() + 32);
    if let Some(old) = old {
        out.extend_from_slice(b"* LIST (\\NonExistent) ");
        out.extend_from_slice(&line[delimiter]);
        out.push(b' ');
        out.extend_from_slice(&line[old]);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&line[..plain_end]);
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// A reader of one LIST response; each method moves past what it read, `None` when the
/// bytes are not what it reads.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &[u8] {
        self.s.get(self.i..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn byte(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    fn prefix_ignoring_case(&mut self, p: &[u8]) -> Option<()> {
        let got = self.s.get(self.i..self.i + p.len())?;
        got.eq_ignore_ascii_case(p).then(|| self.i += p.len())
    }

    /// `(\Attr \Other)`: flags only, no nesting, no strings.
    fn attributes(&mut self) -> Option<()> {
        self.byte(b'(')?;
        let len = self.rest().iter().position(|&b| b == b')')?;
        if self.rest()[..len]
            .iter()
            .any(|&b| matches!(b, b'(' | b'"' | b'{' | b'\r' | b'\n'))
        {
            return None;
        }
        self.i += len + 1;
        Some(())
    }

    /// The hierarchy delimiter, `"/"` or `NIL`; its bytes.
    fn delimiter(&mut self) -> Option<Range<usize>> {
        let start = self.i;
        if self.prefix_ignoring_case(b"NIL").is_none() {
            self.quoted()?;
        }
        Some(start..self.i)
    }

    /// An atom, a quoted string or a literal; its bytes as sent.
    fn astring(&mut self) -> Option<Range<usize>> {
        let start = self.i;
        match self.peek()? {
            b'"' => self.quoted()?,
            b'{' => self.literal()?,
            _ => {
                let len = self
                    .rest()
                    .iter()
                    .take_while(|&&b| is_astring_char(b))
                    .count();
                if len == 0 {
                    return None;
                }
                self.i += len;
            }
        }
        Some(start..self.i)
    }

    fn quoted(&mut self) -> Option<()> {
        self.byte(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => self.i += 2,
                b'\r' | b'\n' => return None,
                _ => self.i += 1,
            }
        }
    }

    fn literal(&mut self) -> Option<()> {
        self.byte(b'{')?;
        let digits = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let n: usize = std::str::from_utf8(&self.rest()[..digits])
            .ok()?
            .parse()
            .ok()?;
        self.i += digits;
        self.byte(b'}')?;
        self.prefix_ignoring_case(b"\r\n")?;
        self.s.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(())
    }

    /// `(tag value tag value …)`; the old name when one of them is `OLDNAME (name)`.
    fn extended_items(&mut self) -> Option<Option<Range<usize>>> {
        self.byte(b'(')?;
        let mut old = None;
        loop {
            let tag = self.astring()?;
            self.byte(b' ')?;
            let value = self.ext_value(0)?;
            if unquoted(&self.s[tag]).eq_ignore_ascii_case(b"OLDNAME") {
                old = value.or(old);
            }
            if self.byte(b')').is_some() {
                return Some(old);
            }
            self.byte(b' ')?;
        }
    }

    /// One extended value: a parenthesised list (nested at most a few levels) or an atom,
    /// string or number; for a list, its first item when that is a name.
    fn ext_value(&mut self, depth: usize) -> Option<Option<Range<usize>>> {
        if self.byte(b'(').is_none() {
            self.astring()?;
            return Some(None);
        }
        if depth > 8 {
            return None;
        }
        let mut first = None;
        let mut items = 0;
        while self.byte(b')').is_none() {
            if items > 0 {
                self.byte(b' ')?;
            }
            if self.peek()? == b'(' {
                self.ext_value(depth + 1)?;
            } else {
                let item = self.astring()?;
                if items == 0 {
                    first = Some(item);
                }
            }
            items += 1;
        }
        Some(first)
    }
}

/// ASTRING-CHAR of RFC 3501 (anything printable but `(`, `)`, `{`, space, `"` and `\`),
/// and the wildcards `%` and `*` too: a name is no pattern, whatever a server sends.
fn is_astring_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'"' | b'\\')
}

/// A tag as sent, without the quotes of a quoted one.
fn unquoted(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"\"")
        .and_then(|t| t.strip_suffix(b"\""))
        .unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_proto::{MailboxDatum, Response};

    /// The names and attributes of the LIST responses in `bytes`, each parsed by
    /// imap-proto (which must read them all).
    fn listed(mut bytes: &[u8]) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (rest, r) = Response::parse(bytes).expect("imap-proto reads it");
            let Response::MailboxData(MailboxDatum::List(l)) = r else {
                panic!("not a LIST response: {r:?}");
            };
            let attrs = l.name_attributes.iter().map(|a| format!("{a:?}")).collect();
            out.push((l.name.to_string(), attrs));
            bytes = rest;
        }
        out
    }

    #[test]
    fn a_rename_becomes_the_old_name_gone_and_the_new_one() {
        // Dovecot's own words (atoms), then quoted and literal names.
        let out = rewrite(b"* LIST () \"/\" New (\"OLDNAME\" (Old))\r\n").unwrap();
        assert_eq!(
            out,
            b"* LIST (\\NonExistent) \"/\" Old\r\n* LIST () \"/\" New\r\n".to_vec()
        );
        let out =
            rewrite(b"* LIST (\\HasNoChildren) \"/\" \"New Name\" (\"OLDNAME\" (\"A b\"))\r\n")
                .unwrap();
        let l = listed(&out);
        assert_eq!(l[0].0, "A b");
        assert!(l[0].1[0].contains("NonExistent"));
        assert_eq!(l[1].0, "New Name");
        // Escapes inside quoted names are kept as sent.
        let out = rewrite(b"* LIST () \"\\\\\" \"B\\\"r\" (\"OLDNAME\" (\"a\\\\b\"))\r\n").unwrap();
        assert_eq!(
            out,
            b"* LIST (\\NonExistent) \"\\\\\" \"a\\\\b\"\r\n* LIST () \"\\\\\" \"B\\\"r\"\r\n"
                .to_vec()
        );
        assert_eq!(listed(&out).len(), 2);
        let out = rewrite(b"* list () \".\" {3}\r\nN w (oldname ({5}\r\nO) (d))\r\n").unwrap();
        let l = listed(&out);
        assert_eq!((l[0].0.as_str(), l[1].0.as_str()), ("O) (d", "N w"));
        let out = rewrite(b"* LIST () NIL Dad/Kid (\"OLDNAME\" (Par/Kid))\r\n").unwrap();
        assert_eq!(
            out,
            b"* LIST (\\NonExistent) NIL Par/Kid\r\n* LIST () NIL Dad/Kid\r\n".to_vec()
        );
    }

    #[test]
    fn other_extended_data_is_dropped() {
        let line = b"* LIST (\\Subscribed) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\") X-V 12 X-N ((a b) c))\r\n";
        assert_eq!(
            rewrite(line).unwrap(),
            b"* LIST (\\Subscribed) \"/\" Foo\r\n".to_vec()
        );
        // OLDNAME among other items.
        let line =
            b"* LIST () \"/\" New (\"CHILDINFO\" (\"SUBSCRIBED\") \"OLDNAME\" (\"Old\"))\r\n";
        assert_eq!(listed(&rewrite(line).unwrap())[0].0, "Old");
    }

    #[test]
    fn plain_and_unreadable_responses_are_left_alone() {
        for line in [
            &b"* LIST () \"/\" New\r\n"[..],
            b"* LIST (\\NonExistent) \"/\" Gone\r\n",
            b"* LIST (\\HasNoChildren \\Sent) \".\" \"Sent Items\"\r\n",
            b"* LIST () NIL {4}\r\nab\r\n\r\n",
            // Not understood: unchanged rather than guessed at.
            b"* LIST () \"/\" New (\"OLDNAME\" (Old)\r\n",
            b"* LIST () \"/\" New (\"OLDNAME\")\r\n",
            b"* LIST () \"/\" New (\"OLDNAME\" (Old)) trailing\r\n",
            b"* LIST (\"x\") \"/\" New (\"OLDNAME\" (Old))\r\n",
            b"* LIST () \"/\" New (\"OLDNAME\" ({99}\r\nOld))\r\n",
            b"* LIST () \"/\" \"New (\"OLDNAME\" (Old))\r\n",
            b"* LSUB () \"/\" New (\"OLDNAME\" (Old))\r\n",
        ] {
            assert_eq!(rewrite(line), None, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut line = b"* LIST () \"/\" N (X ".to_vec();
        line.extend(std::iter::repeat_n(b'(', 20));
        line.extend(std::iter::repeat_n(b')', 20));
        line.extend_from_slice(b")\r\n");
        assert_eq!(rewrite(&line), None);
    }
}
