//! Modified UTF-7 (RFC 3501 §5.1.3) for mailbox names. Paths are shown in their wire form,
//! as the original did (`Kalender/S&APw-nnip&AOQ-evad`), with the decoded `name` beside
//! them; paths given to the API may be either form and go out encoded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// True when `s` is already a valid modified UTF-7 name (ASCII, every `&` run decodes).
pub fn is_encoded(s: &str) -> bool {
    if !s.is_ascii() {
        return false;
    }
    let mut rest = s;
    while let Some(start) = rest.find('&') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('-') else {
            return false;
        };
        if end > 0 && decode_run(&after[..end]).is_none() {
            return false;
        }
        rest = &after[end + 1..];
    }
    true
}

/// The wire form of a path given to the API: kept when already encoded, encoded otherwise.
pub fn to_wire(s: &str) -> String {
    if is_encoded(s) {
        s.to_string()
    } else {
        encode(s)
    }
}

/// Encode a name as modified UTF-7.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&STANDARD_NO_PAD.encode(bytes).replace('/', ","));
        out.push('-');
        run.clear();
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Decode a modified UTF-7 name; undecodable runs are kept as they are.
pub fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('-') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            match decode_run(encoded) {
                Some(text) => out.push_str(&text),
                None => out.push_str(&rest[start..start + end + 2]),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn decode_run(encoded: &str) -> Option<String> {
    let b64 = encoded.replace(',', "/");
    let bytes = STANDARD_NO_PAD.decode(b64.trim_end_matches('=')).ok()?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_modified_utf7() {
        assert_eq!(decode("INBOX"), "INBOX");
        assert_eq!(decode("&AMk-t&AOk-"), "Été");
        assert_eq!(decode("A&-B"), "A&B");
        assert_eq!(decode("&ZeVnLIqe-"), "日本語");
        assert_eq!(decode("bad&"), "bad&");
    }

    #[test]
    fn encodes_and_round_trips() {
        assert_eq!(encode("Été"), "&AMk-t&AOk-");
        assert_eq!(encode("日本語"), "&ZeVnLIqe-");
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(
            encode("Kalender/Sünnipäevad"),
            "Kalender/S&APw-nnip&AOQ-evad"
        );
        for s in ["Sünnipäevad", "a/b c", "😀 emoji", "&&", "x~y"] {
            assert_eq!(decode(&encode(s)), s);
        }
        assert_eq!(to_wire("S&APw-nnip"), "S&APw-nnip");
        assert_eq!(to_wire("Sünnip"), "S&APw-nnip");
        assert!(!is_encoded("A&B"));
        assert_eq!(to_wire("A&B"), "A&-B");
    }
}
