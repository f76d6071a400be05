//! Building command text for the IMAP wire: quoted strings, literals, sequence sets and
//! mailbox names. Everything a client supplies goes through here, so no input can add IMAP
//! syntax of its own to a command.

use imap_proto::rfc4315::UidSetMember;

use super::ImapError;

/// One piece of a command, joined to the others without separators: protocol text we wrote, a string from outside (quoted when it
/// is plain ASCII, sent as a literal otherwise), or raw bytes sent as a literal.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Str(String),
    Bytes(Vec<u8>),
}

/// A command line up to (and announcing) the next literal.
#[derive(Debug, Default)]
pub struct Segment {
    pub line: String,
    pub literal: Option<Vec<u8>>,
}

/// Split `args` into lines, each ending with a literal announcement (`{n}` or `{n+}`).
pub fn segments(args: &[Arg], plus: bool) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut cur = Segment::default();
    let push_literal = |cur: &mut Segment, out: &mut Vec<Segment>, bytes: Vec<u8>| {
        let mark = if plus { "+" } else { "" };
        cur.line.push_str(&format!("{{{}{mark}}}", bytes.len()));
        cur.literal = Some(bytes);
        out.push(std::mem::take(cur));
    };
    // No separators are added: callers put spaces in their `Text` pieces.
    for a in args {
        match a {
            Arg::Text(t) => cur.line.push_str(t),
            Arg::Str(s) if is_quotable(s) => cur.line.push_str(&quoted(s)),
            Arg::Str(s) => push_literal(&mut cur, &mut out, s.as_bytes().to_vec()),
            Arg::Bytes(b) => push_literal(&mut cur, &mut out, b.clone()),
        }
    }
    out.push(cur);
    out
}

fn is_quotable(s: &str) -> bool {
    s.len() < 1024 && s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Quote a string for the IMAP wire.
pub fn quote(s: &str) -> Result<String, ImapError> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(ImapError::Invalid("line break in a string argument".into()));
    }
    Ok(quoted(s))
}

/// A mailbox name for the wire: modified UTF-7 (unless already so), quoted.
pub fn mailbox(path: &str) -> Result<String, ImapError> {
    quote(&crate::utf7::to_wire(path))
}

/// A compact IMAP sequence set (`1:3,7,9:10`) for sorted or unsorted numbers.
pub fn num_set(nums: &[u32]) -> String {
    let mut v: Vec<u32> = nums.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && end.checked_add(1) == Some(v[i + 1]) {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// The uids of a UIDPLUS uid set, in order (bounded: a set naming more than a million
/// uids is cut, as no command here moves that many at once).
pub fn expand_uid_set(set: &[UidSetMember]) -> Vec<u32> {
    let mut out = Vec::new();
    for m in set {
        match m {
            UidSetMember::Uid(u) => out.push(*u),
            UidSetMember::UidRange(r) => out.extend(r.clone().take(1_000_000)),
        }
        if out.len() >= 1_000_000 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_compact_sets() {
        assert_eq!(num_set(&[5, 1, 2, 3, 9, 10, 7]), "1:3,5,7,9:10");
        assert_eq!(num_set(&[4]), "4");
        assert_eq!(num_set(&[u32::MAX, 1]), "1,4294967295");
        assert_eq!(num_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
        assert_eq!(num_set(&[]), "");
    }

    #[test]
    fn quotes_strings() {
        assert_eq!(quote("a\"b\\c").unwrap(), "\"a\\\"b\\\\c\"");
        assert!(quote("a\r\nb").is_err());
        assert_eq!(mailbox("Sünnipäevad").unwrap(), "\"S&APw-nnip&AOQ-evad\"");
    }

    #[test]
    fn splits_at_literals() {
        let args = [
            Arg::Text("SEARCH CHARSET UTF-8 SUBJECT ".into()),
            Arg::Str("héllo".into()),
            Arg::Text(" FROM ".into()),
            Arg::Str("ann \"x\"".into()),
        ];
        let segs = segments(&args, true);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].line, "SEARCH CHARSET UTF-8 SUBJECT {6+}");
        assert_eq!(segs[0].literal.as_deref(), Some("héllo".as_bytes()));
        assert_eq!(segs[1].line, " FROM \"ann \\\"x\\\"\"");
        let segs = segments(&[Arg::Text("NOOP".into())], false);
        assert_eq!(segs[0].line, "NOOP");
        let segs = segments(
            &[
                Arg::Text("APPEND \"INBOX\" ".into()),
                Arg::Bytes(b"abc".to_vec()),
            ],
            false,
        );
        assert_eq!(segs[0].line, "APPEND \"INBOX\" {3}");
        assert_eq!(segs[1].line, "");
    }
}
