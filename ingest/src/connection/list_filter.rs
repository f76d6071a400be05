//! Letting the watching connection hear of renamed folders: NOTIFY (RFC 5465) announces a
//! rename as a LIST response with extended data, `* LIST () "/" New ("OLDNAME" (Old))`,
//! which the response parser (imap-proto) cannot read, and one unparseable response ends
//! the whole connection. This filter sits on the read side of the transport and hands such
//! a response over rewritten ([`list_rewrite`](super::list_rewrite)).
//!
//! It follows the byte stream response by response and only ever holds back the start of
//! a line that may be `* LIST ` and, once it is, that response (bounded by [`MAX_HELD`]);
//! everything else passes unchanged and, in the common case, uncopied. Literals (`{n}`
//! CRLF and n bytes, FETCH bodies above all) pass untouched whatever they contain. A
//! response the rewrite does not understand goes out exactly as it came.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::fetch_capture::FetchCapture;
use super::list_rewrite::{PREFIX, rewrite};
use crate::message_flags::MessageFlags;

/// The longest LIST response held back whole; a longer one passes unchanged. Folder names
/// are at most a few hundred bytes, so only a malformed response gets near it.
pub const MAX_HELD: usize = 64 * 1024;

/// Where the filter is in the response stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At the start of a response; `held` has the part of [`PREFIX`] seen so far.
    #[default]
    LineStart,
    /// In a response that passes unchanged.
    Pass,
    /// In a LIST response, gathered in `held`.
    Collect,
}

/// How far the end of the line looks like a literal's announcement, `{n}` CRLF.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Announce {
    #[default]
    No,
    /// After `{` and these digits (`None` when there are none yet).
    Open(Option<u64>),
    /// After `{n}`.
    Closed(u64),
    /// After `{n}` CR.
    Cr(u64),
}

/// The state of one connection's response stream.
#[derive(Debug, Default)]
pub struct ListFilter {
    mode: Mode,
    announce: Announce,
    /// Bytes of a literal still to come.
    literal: u64,
    /// Bytes held back: a possible [`PREFIX`] or a LIST response being gathered.
    held: Vec<u8>,
    /// Plain `UID FLAGS` answers being caught rather than passed on.
    capture: Option<FetchCapture>,
}

impl ListFilter {
    /// Take `input`, the next bytes from the server. Returns `k`: `input[..k]` goes to
    /// the reader as it is (nothing to copy), and comes before whatever this call appended
    /// to `out`; the rest of `input` was taken in (held back, or rewritten into `out`).
    pub fn filter(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut run = Run {
            in_place: self.held.is_empty(),
            kept: 0,
            out,
        };
        let mut i = 0;
        while i < input.len() {
            i += self.take(&input[i..], i, &mut run);
        }
        if run.in_place { input.len() } else { run.kept }
    }

    /// The connection ended: whatever is held back goes out unchanged.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
        self.mode = Mode::LineStart;
        self.announce = Announce::No;
        self.literal = 0;
    }

    /// Take the first bytes of `rest` (at `at` in this call's input); how many.
    fn take(&mut self, rest: &[u8], at: usize, run: &mut Run<'_>) -> usize {
        if self.literal > 0 {
            let k = rest
                .len()
                .min(usize::try_from(self.literal).unwrap_or(usize::MAX));
            self.emit(&rest[..k], at, run);
            self.literal -= k as u64;
            return k;
        }
        match self.mode {
            Mode::LineStart => {
                if self.held.is_empty()
                    && let Some(taken) = self.capture.as_mut().and_then(|c| c.offer(rest))
                {
                    // Taken whole: it goes nowhere, so what follows no longer passes in place.
                    run.hold_from(at);
                    return taken;
                }
                self.line_start(rest, at, run)
            }
            Mode::Pass if self.announce == Announce::No => {
                // Nothing but `{` (a literal may be announced) and LF (the line ends)
                // changes the state here: pass everything before them at once.
                let k = rest
                    .iter()
                    .position(|&b| b == b'{' || b == b'\n')
                    .unwrap_or(rest.len());
                if k == 0 {
                    self.step(rest[0], at, run);
                    return 1;
                }
                self.emit(&rest[..k], at, run);
                k
            }
            Mode::Pass | Mode::Collect => {
                self.step(rest[0], at, run);
                1
            }
        }
    }

    /// At a response's start: decide whether it is a LIST response, holding back a
    /// beginning that may be one until the next read tells.
    fn line_start(&mut self, rest: &[u8], at: usize, run: &mut Run<'_>) -> usize {
        if self.held.is_empty() {
            let n = rest.len().min(PREFIX.len());
            if !rest[..n].eq_ignore_ascii_case(&PREFIX[..n]) {
                self.mode = Mode::Pass;
                return 0;
            }
            run.hold_from(at);
            self.held.extend_from_slice(&rest[..n]);
            if n == PREFIX.len() {
                self.mode = Mode::Collect;
            }
            return n;
        }
        // Part of the prefix came with the previous read; run.in_place is false.
        let b = rest[0];
        let seen = self.held.len();
        if PREFIX[seen].eq_ignore_ascii_case(&b) {
            self.held.push(b);
            if self.held.len() == PREFIX.len() {
                self.mode = Mode::Collect;
            }
            return 1;
        }
        run.out.append(&mut self.held);
        self.mode = Mode::Pass;
        0
    }

    /// One byte of a response outside literals: follow literal announcements and the
    /// response's end.
    fn step(&mut self, b: u8, at: usize, run: &mut Run<'_>) {
        self.emit(&[b], at, run);
        self.announce = match (self.announce, b) {
            (_, b'{') => Announce::Open(None),
            (Announce::Open(n), b'0'..=b'9') => n
                .unwrap_or(0)
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .map_or(Announce::No, |n| Announce::Open(Some(n))),
            (Announce::Open(Some(n)), b'}') => Announce::Closed(n),
            (Announce::Closed(n), b'\r') => Announce::Cr(n),
            (Announce::Cr(n), b'\n') => {
                self.literal = n;
                Announce::No
            }
            (_, b'\n') => {
                self.end_of_response(run);
                Announce::No
            }
            _ => Announce::No,
        };
    }

    /// Pass or gather `bytes` (at `at` in this call's input), by the mode.
    fn emit(&mut self, bytes: &[u8], at: usize, run: &mut Run<'_>) {
        if self.mode != Mode::Collect {
            if !run.in_place {
                run.out.extend_from_slice(bytes);
            }
            return;
        }
        run.hold_from(at);
        self.held.extend_from_slice(bytes);
        if self.held.len() > MAX_HELD {
            // Not a LIST response anyone sends: let it through as it is.
            run.out.append(&mut self.held);
            self.held = Vec::new();
            self.mode = Mode::Pass;
        }
    }

    fn end_of_response(&mut self, run: &mut Run<'_>) {
        if self.mode == Mode::Collect {
            match rewrite(&self.held) {
                Some(lines) => run.out.extend_from_slice(&lines),
                None => run.out.extend_from_slice(&self.held),
            }
            // LIST responses come seldom (a listing, a notice): keep no buffer between.
            self.held = Vec::new();
        }
        self.mode = Mode::LineStart;
    }
}

/// One call's output: how much of the input stays in place, and what goes after it.
struct Run<'a> {
    /// Every byte so far passes unchanged in place.
    in_place: bool,
    /// When no longer in place: how many input bytes did.
    kept: usize,
    out: &'a mut Vec<u8>,
}

impl Run<'_> {
    /// Bytes from input position `at` on no longer pass in place.
    fn hold_from(&mut self, at: usize) {
        if self.in_place {
            self.in_place = false;
            self.kept = at;
        }
    }
}

/// A stream whose responses pass through a [`ListFilter`]; writes go straight through.
#[derive(Debug)]
pub struct Filtered<S> {
    stream: S,
    filter: ListFilter,
    /// Filtered bytes not yet handed to the reader, from `ready_from` on.
    ready: Vec<u8>,
    ready_from: usize,
    /// The stream ended (what was held back is in `ready`).
    ended: bool,
}

impl<S> Filtered<S> {
    pub fn new(stream: S) -> Self {
        Filtered {
            stream,
            filter: ListFilter::default(),
            ready: Vec::new(),
            ready_from: 0,
            ended: false,
        }
    }

    /// From now on, catch the plain answers to the command just sent ([`FetchCapture`])
    /// instead of handing them to the reader.
    pub fn capture_fetches(&mut self) {
        self.filter.capture = Some(FetchCapture::default());
    }

    /// Stop catching; what was caught since [`Filtered::capture_fetches`].
    pub fn take_captured(&mut self) -> Vec<(u32, MessageFlags)> {
        self.filter
            .capture
            .take()
            .map(FetchCapture::into_found)
            .unwrap_or_default()
    }

    /// Hand over what is ready; whether there was anything.
    fn hand_over(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let waiting = &self.ready[self.ready_from..];
        if waiting.is_empty() {
            return false;
        }
        let n = waiting.len().min(buf.remaining());
        buf.put_slice(&waiting[..n]);
        self.ready_from += n;
        if self.ready_from == self.ready.len() {
            // Usually a rewritten LIST response: keep no buffer between them.
            self.ready = Vec::new();
            self.ready_from = 0;
        }
        true
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Filtered<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.hand_over(buf) || this.ended {
                return Poll::Ready(Ok(()));
            }
            // Read straight into the reader's buffer; what the filter takes in is cut off.
            let start = buf.filled().len();
            ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
            if buf.filled().len() == start {
                this.filter.finish(&mut this.ready);
                this.ended = true;
                continue;
            }
            let kept = this.filter.filter(&buf.filled()[start..], &mut this.ready);
            buf.set_filled(start + kept);
            // Nothing passed in place: hand over what the filter gave, or read on (an
            // empty read would mean the end of the stream).
            if kept > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Filtered<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// A FETCH whose body literal holds what would be rewritten outside a literal.
    const FETCH: &[u8] = b"* 1 FETCH (UID 7 BODY[] {40}\r\n\r\n* LIST () \"/\" X (\"OLDNAME\" (Y))\r\n{3}\r\n FLAGS (\\Seen))\r\n";
    const RENAME: &[u8] = b"* LIST () \"/\" New (\"OLDNAME\" (Old))\r\n";
    const RENAMED: &[u8] = b"* LIST (\\NonExistent) \"/\" Old\r\n* LIST () \"/\" New\r\n";

    /// A stream with every kind of line near a LIST response, and what the reader should
    /// get from it.
    fn stream() -> (Vec<u8>, Vec<u8>) {
        let before: &[&[u8]] = &[
            b"* 3 EXISTS\r\n",
            FETCH,
            b"* LISTRIGHTS \"INBOX\" bob r\r\n",
            b"* LSUB () \"/\" Sub\r\n",
            b"* LIST (\\NonExistent) \"/\" Gone\r\n",
            b"* LIST () \"/\" {4}\r\nA{1}\r\n",
            b"* STATUS \"Sent\" (MESSAGES 3)\r\n",
        ];
        let after: &[&[u8]] = &[
            b"* list () \"/\" {3}\r\nN w (oldname ({5}\r\nO) (d))\r\n",
            FETCH,
            b"A1 OK done\r\n",
        ];
        let mut input = before.concat();
        let mut expected = before.concat();
        input.extend_from_slice(RENAME);
        expected.extend_from_slice(RENAMED);
        input.extend(after.concat());
        expected.extend_from_slice(b"* LIST (\\NonExistent) \"/\" {5}\r\nO) (d\r\n");
        expected.extend_from_slice(b"* list () \"/\" {3}\r\nN w\r\n");
        expected.extend(after[1..].concat());
        (input, expected)
    }

    /// What the reader gets when `input` arrives in pieces cut at `cuts`.
    fn through(input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut f = ListFilter::default();
        let mut got = Vec::new();
        let mut out = Vec::new();
        let mut from = 0;
        for &to in cuts.iter().chain(std::iter::once(&input.len())) {
            let piece = &input[from..to];
            let kept = f.filter(piece, &mut out);
            got.extend_from_slice(&piece[..kept]);
            got.append(&mut out);
            from = to;
        }
        f.finish(&mut got);
        got
    }

    #[test]
    fn the_reader_gets_the_same_whatever_the_reads() {
        let (input, expected) = stream();
        assert_eq!(through(&input, &[]), expected);
        for cut in 0..=input.len() {
            assert_eq!(through(&input, &[cut]), expected, "cut at {cut}");
        }
        for a in (0..input.len()).step_by(7) {
            for b in a..input.len() {
                assert_eq!(through(&input, &[a, b]), expected, "cuts at {a}, {b}");
            }
        }
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(through(&input, &every), expected);
    }

    #[test]
    fn imap_proto_reads_all_of_it() {
        let (_, mut expected) = stream();
        let mut bytes = &expected[..];
        let mut n = 0;
        while !bytes.is_empty() {
            let (rest, _) = imap_proto::Response::parse(bytes).expect("parsed");
            bytes = rest;
            n += 1;
        }
        assert_eq!(n, 13);
        // Which it could not before.
        expected = RENAME.to_vec();
        assert!(imap_proto::Response::parse(&expected).is_err());
    }

    #[test]
    fn nothing_is_copied_or_held_without_a_list_response() {
        let mut f = ListFilter::default();
        let mut out = Vec::new();
        let lines = [FETCH, b"* 4 EXISTS\r\n* LISTRIGHTS x\r\n"].concat();
        assert_eq!(f.filter(&lines, &mut out), lines.len());
        assert!(out.is_empty());
        // A read ending inside a FETCH body: the next starts in the literal, untouched.
        assert_eq!(f.filter(&FETCH[..40], &mut out), 40);
        assert_eq!(f.filter(&FETCH[40..], &mut out), FETCH.len() - 40);
        assert!(out.is_empty());
        // A read ending where a LIST response may begin holds back only that start.
        assert_eq!(f.filter(b"* 5 EXISTS\r\n* LI", &mut out), 12);
        assert!(out.is_empty());
        assert_eq!(f.filter(b"STRIGHTS x\r\n", &mut out), 0);
        assert_eq!(out, b"* LISTRIGHTS x\r\n");
    }

    #[test]
    fn an_overlong_list_response_passes_unchanged() {
        let mut line = b"* LIST () \"/\" New (X (".to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_HELD));
        line.extend_from_slice(b") \"OLDNAME\" (Old))\r\n");
        let input = [&line[..], RENAME].concat();
        let expected = [&line[..], RENAMED].concat();
        assert_eq!(through(&input, &[]), expected);
        assert_eq!(through(&input, &[100, MAX_HELD + 5]), expected);
    }

    #[test]
    fn an_unfinished_response_comes_out_at_the_end() {
        assert_eq!(through(b"* LI", &[]), b"* LI");
        assert_eq!(
            through(b"* LIST () \"/\" New (\"OLD", &[3]),
            b"* LIST () \"/\" New (\"OLD"
        );
    }

    /// A stream handing over its pieces one read at a time, now and then not ready.
    struct Pieces(std::collections::VecDeque<Vec<u8>>, bool);

    impl AsyncRead for Pieces {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let this = self.get_mut();
            this.1 = !this.1;
            if this.1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if let Some(mut p) = this.0.pop_front() {
                let n = p.len().min(buf.remaining());
                buf.put_slice(&p[..n]);
                if n < p.len() {
                    this.0.push_front(p.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_reader_gets_it_through_small_and_large_buffers() {
        let (input, expected) = stream();
        for size in [1, 2, 5, 13, 64, 4096] {
            let pieces = input.chunks(size).map(<[u8]>::to_vec).collect();
            let mut r = Filtered::new(Pieces(pieces, false));
            let mut got = Vec::new();
            let mut buf = vec![0; size.max(3) - 2];
            loop {
                let n = r.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, expected, "pieces of {size}");
        }
    }

    /// With a capture armed, whatever the reads: every plain FETCH line is either caught
    /// or handed to the reader (whole), never both or neither, and every other byte
    /// reaches the reader unchanged and in order (the LIST rewrite still applies).
    #[test]
    fn a_capture_takes_plain_fetch_lines_and_changes_nothing_else() {
        let lines: &[&[u8]] = &[
            b"* 1 FETCH (UID 11 FLAGS (\\Seen))\r\n",
            b"* 4 EXISTS\r\n",
            b"* 2 FETCH (UID 12 FLAGS ())\r\n",
            FETCH,
            RENAME,
            b"* 3 FETCH (FLAGS (\\Recent $X) UID 13)\r\n",
            b"A7 OK Fetch completed\r\n",
            b"* 4 FETCH (UID 14 FLAGS ())\r\n",
        ];
        let input = lines.concat();
        let caught = |uid: u32| (uid, MessageFlags::new());
        for cut in 0..=input.len() {
            let mut f = ListFilter {
                capture: Some(FetchCapture::default()),
                ..ListFilter::default()
            };
            let mut got = Vec::new();
            let mut out = Vec::new();
            for piece in [&input[..cut], &input[cut..]] {
                let kept = f.filter(piece, &mut out);
                got.extend_from_slice(&piece[..kept]);
                got.append(&mut out);
            }
            let found = f.capture.take().unwrap().into_found();
            let mut uids: Vec<u32> = found.iter().map(|(u, _)| *u).collect();
            // Lines left to the reader: read back as plain FETCH lines.
            let mut rest = &got[..];
            let mut passed = Vec::new();
            while !rest.is_empty() {
                let (next, r) = imap_proto::Response::parse(rest).expect("parsed");
                if let imap_proto::Response::Fetch(_, attrs) = r {
                    for a in attrs {
                        if let imap_proto::AttributeValue::Uid(u) = a {
                            passed.push(u);
                        }
                    }
                }
                rest = next;
            }
            uids.extend(&passed);
            uids.sort();
            assert_eq!(uids, vec![7, 11, 12, 13, 14], "cut at {cut}");
            // After the completion nothing is caught.
            assert!(passed.contains(&14), "cut at {cut}");
            assert!(!found.contains(&caught(14)), "cut at {cut}");
            // Everything but the caught lines reaches the reader as before.
            let mut expected = Vec::new();
            for l in lines {
                let uid = super::super::fetch_capture::uid_and_flags(l).map(|(u, _)| u);
                if uid.is_some_and(|u| uids_caught(&found, u)) {
                    continue;
                }
                expected.extend_from_slice(if *l == RENAME { RENAMED } else { l });
            }
            assert_eq!(got, expected, "cut at {cut}");
        }
    }

    fn uids_caught(found: &[(u32, MessageFlags)], uid: u32) -> bool {
        found.iter().any(|(u, _)| *u == uid)
    }
}
