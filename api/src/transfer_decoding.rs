//! Streaming decoders for MIME `Content-Transfer-Encoding`s.
//!
//! Attachments arrive from ingest in fixed-size ranges of the still-encoded part, and a range
//! boundary falls wherever it falls: inside a base64 quantum, between `=` and its hex digits,
//! between `=` and the line break of a soft break. So decoding keeps the unfinished tail of
//! one range as state and completes it with the next, and never needs more memory than the
//! range being decoded. Both decoders are lenient the way MIME readers are: base64 skips
//! anything outside its alphabet (line breaks, spaces, stray characters), quoted-printable
//! writes a malformed escape out as it stands.

/// A decoder for one transfer encoding, fed range by range.
#[derive(Debug)]
pub enum TransferDecoder {
    /// `7bit`, `8bit`, `binary`, an absent header, or one we do not know: bytes as they are.
    Identity,
    Base64(Base64Decoder),
    QuotedPrintable(QuotedPrintableDecoder),
}

impl TransferDecoder {
    /// The decoder for a `Content-Transfer-Encoding` value (any case, surrounding blanks
    /// ignored).
    pub fn for_encoding(encoding: Option<&str>) -> Self {
        match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
            Some("base64") => TransferDecoder::Base64(Base64Decoder::default()),
            Some("quoted-printable") => {
                TransferDecoder::QuotedPrintable(QuotedPrintableDecoder::default())
            }
            _ => TransferDecoder::Identity,
        }
    }

    /// Decode the next range, appending the bytes that are complete to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match self {
            TransferDecoder::Identity => out.extend_from_slice(input),
            TransferDecoder::Base64(d) => d.decode(input, out),
            TransferDecoder::QuotedPrintable(d) => d.decode(input, out),
        }
    }

    /// The input has ended: append whatever the held-back tail still means.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            TransferDecoder::Identity => {}
            TransferDecoder::Base64(d) => d.finish(out),
            TransferDecoder::QuotedPrintable(d) => d.finish(out),
        }
    }
}

/// Base64 (RFC 2045 §6.8) across range boundaries.
#[derive(Debug, Default)]
pub struct Base64Decoder {
    /// Sextets of the quantum in progress.
    quantum: [u8; 4],
    len: usize,
    /// Alphabet characters of one run between paddings, decoded in bulk (reused).
    scratch: Vec<u8>,
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

impl Base64Decoder {
    /// Decode what `input` holds, keeping an unfinished quantum for the next call. Whole
    /// quanta are decoded in bulk by the `base64` crate (a byte-at-a-time loop cost a third
    /// of a 25 MB download's CPU); characters outside the alphabet are skipped and `=` ends
    /// a quantum early, as RFC 2045 decoders do.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        use base64::Engine;
        out.reserve(input.len() / 4 * 3 + 3);
        let mut rest = input;
        while !rest.is_empty() {
            if self.len > 0 {
                rest = self.finish_quantum(rest, out);
                continue;
            }
            let end = rest.iter().position(|&b| b == b'=').unwrap_or(rest.len());
            self.scratch.clear();
            self.scratch
                .extend(rest[..end].iter().copied().filter(|&b| sextet(b).is_some()));
            let whole = self.scratch.len() / 4 * 4;
            // Only alphabet characters in whole quanta: this cannot fail.
            let _ = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode_vec(&self.scratch[..whole], out);
            for &b in &self.scratch[whole..] {
                if let Some(v) = sextet(b) {
                    self.quantum[self.len] = v;
                    self.len += 1;
                }
            }
            if end < rest.len() {
                // Padding ends the quantum early. Decoding goes on after it, since some
                // senders concatenate separately encoded pieces.
                self.flush(out);
                rest = &rest[end + 1..];
            } else {
                rest = &[];
            }
        }
    }

    /// Complete the quantum in progress one character at a time; returns what is left.
    fn finish_quantum<'a>(&mut self, input: &'a [u8], out: &mut Vec<u8>) -> &'a [u8] {
        for (i, &b) in input.iter().enumerate() {
            if let Some(v) = sextet(b) {
                self.quantum[self.len] = v;
                self.len += 1;
                if self.len == 4 {
                    self.flush(out);
                    return &input[i + 1..];
                }
            } else if b == b'=' {
                self.flush(out);
                return &input[i + 1..];
            }
            // RFC 2045: every other character is to be ignored.
        }
        &[]
    }

    /// A quantum left unpadded at the end still carries its whole bytes.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush(out);
    }

    /// Write the whole bytes of the sextets held (1 sextet holds none) and start afresh.
    fn flush(&mut self, out: &mut Vec<u8>) {
        let q = self.quantum;
        let bytes = [
            (q[0] << 2) | (q[1] >> 4),
            (q[1] << 4) | (q[2] >> 2),
            (q[2] << 6) | q[3],
        ];
        let whole = match self.len {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => 0,
        };
        out.extend_from_slice(&bytes[..whole]);
        self.quantum = [0; 4];
        self.len = 0;
    }
}

/// Longest run of held bytes: a line may be at most 998 octets (RFC 5322), so a longer run
/// of blanks is content, not transport padding, and is written out rather than held.
const MAX_HELD: usize = 998;

/// Quoted-printable (RFC 2045 §6.7) across range boundaries.
#[derive(Debug, Default)]
pub struct QuotedPrintableDecoder {
    /// An escape in progress: `=` and what followed it so far, kept raw so that a
    /// malformed one can be written out as it stands.
    escape: Vec<u8>,
    /// Spaces and tabs not yet known to be inside a line (kept) or at its end (dropped,
    /// since transports may add trailing blanks).
    blanks: Vec<u8>,
}

/// What an escape becomes once the next byte is known.
enum Step {
    /// Keep holding (the escape is still incomplete).
    Hold,
    /// A complete `=XX`: this byte.
    Byte(u8),
    /// A soft line break: nothing.
    SoftBreak,
    /// Not an escape after all: write it raw and read the byte as ordinary text.
    Literal,
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl QuotedPrintableDecoder {
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        for &b in input {
            if !self.escape.is_empty() {
                match self.step(b) {
                    Step::Hold => {
                        self.escape.push(b);
                        continue;
                    }
                    Step::Byte(v) => {
                        out.push(v);
                        self.escape.clear();
                        continue;
                    }
                    Step::SoftBreak => {
                        self.escape.clear();
                        continue;
                    }
                    Step::Literal => {
                        out.append(&mut self.escape);
                    }
                }
            }
            self.text(b, out);
        }
    }

    /// How the escape held so far continues with `b`.
    fn step(&self, b: u8) -> Step {
        let after_eq = &self.escape[1..];
        match (after_eq, b) {
            ([], _) if hex(b).is_some() => Step::Hold,
            ([h], _) if hex(*h).is_some() => match (hex(*h), hex(b)) {
                (Some(hi), Some(lo)) => Step::Byte((hi << 4) | lo),
                _ => Step::Literal,
            },
            // `=` then (blanks a transport added, then) the line break.
            (rest, b'\n') if rest.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r')) => {
                Step::SoftBreak
            }
            (rest, b' ' | b'\t') if !rest.contains(&b'\r') && rest.len() < MAX_HELD => Step::Hold,
            (rest, b'\r') if !rest.contains(&b'\r') => Step::Hold,
            _ => Step::Literal,
        }
    }

    /// An ordinary byte of text (outside any escape).
    fn text(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b' ' | b'\t' => {
                if self.blanks.len() >= MAX_HELD {
                    out.append(&mut self.blanks);
                }
                self.blanks.push(b);
            }
            b'\r' | b'\n' => {
                self.blanks.clear();
                out.push(b);
            }
            _ => {
                // Blanks before `=` are content: encoders put them there on purpose
                // when a soft break follows.
                out.append(&mut self.blanks);
                if b == b'=' {
                    self.escape.push(b);
                } else {
                    out.push(b);
                }
            }
        }
    }

    /// At the end of the body, trailing blanks are dropped, a lone `=` (with blanks) is a
    /// soft break with its line break missing, and an escape cut short is written raw.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.blanks.clear();
        let soft = self.escape[1.min(self.escape.len())..]
            .iter()
            .all(|c| matches!(c, b' ' | b'\t' | b'\r'));
        if !soft {
            out.append(&mut self.escape);
        }
        self.escape.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    /// Decode `input` fed in pieces cut at `cuts`.
    fn decode_cut(encoding: &str, input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut d = TransferDecoder::for_encoding(Some(encoding));
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain([input.len()].iter()) {
            d.decode(&input[start..cut], &mut out);
            start = cut;
        }
        d.finish(&mut out);
        out
    }

    /// Decode `input` cut at every possible single offset and fed byte by byte; all must
    /// give the same result.
    fn decode_every_way(encoding: &str, input: &[u8]) -> Vec<u8> {
        let whole = decode_cut(encoding, input, &[]);
        for cut in 0..=input.len() {
            assert_eq!(
                decode_cut(encoding, input, &[cut]),
                whole,
                "cut at {cut} of {:?}",
                String::from_utf8_lossy(input)
            );
        }
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(decode_cut(encoding, input, &every), whole, "byte by byte");
        whole
    }

    fn mime_base64(data: &[u8], line: usize) -> Vec<u8> {
        let encoded = STANDARD.encode(data);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(line)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        lines.join("\r\n").into_bytes()
    }

    #[test]
    fn base64_across_every_boundary() {
        let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for len in [0, 1, 2, 3, 4, 5, 57, 58, 59, 700] {
            let encoded = mime_base64(&data[..len], 76);
            assert_eq!(decode_every_way("base64", &encoded), &data[..len], "{len}");
        }
    }

    #[test]
    fn base64_ignores_line_breaks_and_garbage() {
        let want = b"Hello, world!".to_vec();
        for input in [
            "SGVsbG8sIHdvcmxkIQ==",
            "SGVs\r\nbG8s\nIHdv\rcmxk\r\nIQ==\r\n",
            "  SGVsbG8s IHdvcmxkIQ==  ",
            "SGVs*bG8s!IHdv.cmxk\u{7f}IQ==",
            "S\r\nG\r\nV\r\ns\r\nbG8sIHdvcmxkIQ",
            "SGVsbG8sIHdvcmxkIQ",
        ] {
            assert_eq!(
                decode_every_way("base64", input.as_bytes()),
                want,
                "{input:?}"
            );
        }
        // Non-ASCII bytes are garbage too.
        assert_eq!(
            decode_every_way("BASE64", b"SGVs\xffbG8=\xc3\xa9"),
            b"Hello".to_vec()
        );
    }

    #[test]
    fn base64_padding_ends_a_quantum_and_decoding_goes_on() {
        // Two separately encoded pieces back to back.
        assert_eq!(decode_every_way("base64", b"YQ==Yg=="), b"ab");
        assert_eq!(decode_every_way("base64", b"YWI=\r\nYw=="), b"abc");
        // A single left-over sextet holds no whole byte.
        assert_eq!(decode_every_way("base64", b"YWJjZ"), b"abc");
    }

    #[test]
    fn quoted_printable_escapes_and_soft_breaks() {
        let input = b"caf=C3=A9 au lait=\r\n, s'il vous pla=\r\n=C3=AEt\r\nline two=3D2=\nend";
        assert_eq!(
            decode_every_way("quoted-printable", input),
            "café au lait, s'il vous plaît\r\nline two=2end".as_bytes()
        );
    }

    #[test]
    fn quoted_printable_lower_case_hex_and_malformed_escapes() {
        assert_eq!(
            decode_every_way("quoted-printable", b"=c3=a9"),
            "é".as_bytes()
        );
        assert_eq!(
            decode_every_way("quoted-printable", b"100% =XY =4 =4G a=b"),
            b"100% =XY =4 =4G a=b"
        );
        assert_eq!(decode_every_way("quoted-printable", b"x=\rA"), b"x=\rA");
        assert_eq!(decode_every_way("quoted-printable", b"==41"), b"=A");
        assert_eq!(decode_every_way("quoted-printable", b"a=4"), b"a=4");
    }

    #[test]
    fn quoted_printable_blanks() {
        // Trailing blanks are transport padding; blanks before a soft break are content.
        assert_eq!(
            decode_every_way("quoted-printable", b"one  \t\r\ntwo \r\nthree =\r\nfour  "),
            b"one\r\ntwo\r\nthree four"
        );
        // Blanks a transport added after the soft break's `=`.
        assert_eq!(
            decode_every_way("quoted-printable", b"soft= \t\r\nbreak=  \nhere"),
            b"softbreakhere"
        );
        assert_eq!(decode_every_way("quoted-printable", b"a = b"), b"a = b");
        assert_eq!(decode_every_way("quoted-printable", b"a\tb"), b"a\tb");
    }

    #[test]
    fn quoted_printable_end_of_input() {
        assert_eq!(decode_every_way("quoted-printable", b"end="), b"end");
        assert_eq!(decode_every_way("quoted-printable", b"end= "), b"end");
        assert_eq!(decode_every_way("quoted-printable", b"end=4"), b"end=4");
    }

    #[test]
    fn quoted_printable_long_blank_runs_are_not_held() {
        let mut input = vec![b' '; 5000];
        input.push(b'x');
        let mut d = QuotedPrintableDecoder::default();
        let mut out = Vec::new();
        d.decode(&input[..4000], &mut out);
        assert!(d.blanks.len() <= MAX_HELD);
        d.decode(&input[4000..], &mut out);
        d.finish(&mut out);
        assert_eq!(out, input);

        let mut input = b"=".to_vec();
        input.extend(vec![b' '; 3000]);
        input.push(b'x');
        assert_eq!(decode_cut("quoted-printable", &input, &[1500]), input);
    }

    #[test]
    fn identity_for_other_encodings() {
        for enc in ["7bit", "8bit", "binary", "x-unknown"] {
            assert_eq!(decode_every_way(enc, b"=41 SGVs\r\n"), b"=41 SGVs\r\n");
        }
        let mut d = TransferDecoder::for_encoding(None);
        let mut out = Vec::new();
        d.decode(b"raw", &mut out);
        d.finish(&mut out);
        assert_eq!(out, b"raw");
        assert!(matches!(
            TransferDecoder::for_encoding(Some(" Quoted-Printable ")),
            TransferDecoder::QuotedPrintable(_)
        ));
    }
}
