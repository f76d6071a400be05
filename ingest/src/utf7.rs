//! Modified UTF-7 (RFC 3501 §5.1.3) decoding of mailbox names for display (`name`).
//! Paths stay in their wire form so they can be sent back to the server unchanged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

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
}
