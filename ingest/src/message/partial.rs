//! Text and parts read with partial FETCHes (`BODY.PEEK[part]<offset.length>`): which
//! parts to ask for, how many encoded bytes a `maxBytes` cap needs, and decoding a lone
//! part's body. The full source is never fetched for these, so a 10 MB newsletter costs
//! what its first `maxBytes` cost.

use async_imap::imap_proto::BodyStructure;
use imapapi_common::command::{PartInfo, TextReply, TextType};
use mail_parser::MessageParser;

use super::parts::{self, Kind, Leaf, Wire};

/// A body text part as the server stores it.
#[derive(Debug, Clone)]
pub struct TextPart {
    pub part: String,
    pub html: bool,
    pub wire: Wire,
    pub size: u64,
}

/// The plain and html parts that make up the message text, in order, as `text_type` wants.
pub fn text_parts(bs: &BodyStructure<'_>, text_type: TextType) -> Vec<TextPart> {
    parts::from_bodystructure(bs)
        .into_iter()
        .filter_map(|l| {
            let html = match l.kind() {
                Kind::Plain if text_type.wants_plain() => false,
                Kind::Html if text_type.wants_html() => true,
                _ => return None,
            };
            Some(TextPart {
                part: l.part,
                html,
                size: l.encoded_size,
                wire: l.src,
            })
        })
        .collect()
}

/// What the attachment route needs to present one part; None when `part` is no leaf.
pub fn part_info(bs: &BodyStructure<'_>, part: &str) -> Option<PartInfo> {
    let leaf: Leaf<Wire> = parts::from_bodystructure(bs)
        .into_iter()
        .find(|l| l.part == part)?;
    Some(PartInfo {
        content_type: leaf.content_type,
        charset: leaf.src.charset,
        filename: leaf.filename,
        encoding: Some(leaf.src.encoding),
        disposition: leaf.disposition,
        size: leaf.encoded_size,
    })
}

/// Encoded bytes enough to decode at least `max_bytes` of UTF-8 text: base64 and
/// quoted-printable expand, line breaks add, and UTF-16/32 text shrinks when converted.
pub fn fetch_limit(max_bytes: u64, wire: &Wire) -> u64 {
    let encoded = match wire.encoding.as_str() {
        "base64" => max_bytes.div_ceil(3) * 4,
        "quoted-printable" => max_bytes.saturating_mul(3),
        _ => max_bytes,
    };
    let with_breaks = encoded + encoded / 38 + 80;
    let wide = wire.charset.as_deref().is_some_and(|c| {
        let c = c.to_ascii_lowercase();
        c.starts_with("utf-16") || c.starts_with("utf-32") || c.starts_with("ucs")
    });
    if wide { with_breaks * 2 } else { with_breaks }
}

/// Decode a part body (possibly cut short) to UTF-8: its transfer encoding, then charset.
/// mail-parser does both given the part's own headers, so this decodes exactly as the
/// message details do.
pub fn decode_text(part: &TextPart, body: &[u8]) -> String {
    let ctype = if part.html { "text/html" } else { "text/plain" };
    let mut raw = format!("Content-Type: {ctype}");
    if let Some(cs) = part.wire.charset.as_deref().filter(|c| is_token(c)) {
        raw.push_str(&format!("; charset=\"{cs}\""));
    }
    if is_token(&part.wire.encoding) {
        raw.push_str(&format!(
            "\r\nContent-Transfer-Encoding: {}",
            part.wire.encoding
        ));
    }
    raw.push_str("\r\n\r\n");
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body);
    let Some(msg) = MessageParser::new().parse(&bytes) else {
        return String::new();
    };
    let text = if part.html {
        msg.body_html(0)
    } else {
        msg.body_text(0)
    };
    text.map(|t| t.into_owned()).unwrap_or_default()
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 100
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"\";\\()<>@,:/[]?=".contains(&b) || b == b'/')
}

/// Join decoded parts like the details do (`\n` between parts of a kind) and cut at
/// `max_bytes`. `truncated` says a fetch stopped before the part's end.
pub fn assemble(decoded: &[(TextPart, String, bool)], max_bytes: Option<u64>) -> TextReply {
    let mut reply = TextReply::default();
    for html in [false, true] {
        let texts: Vec<&str> = decoded
            .iter()
            .filter(|(p, _, _)| p.html == html)
            .map(|(_, t, _)| t.as_str())
            .collect();
        if texts.is_empty() {
            continue;
        }
        let (text, cut) = super::cut(texts.join("\n"), max_bytes);
        let truncated = decoded.iter().any(|(p, _, t)| p.html == html && *t);
        reply.has_more |= cut || truncated;
        if html {
            reply.html = Some(text);
        } else {
            reply.plain = Some(text);
        }
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(encoding: &str, charset: Option<&str>, html: bool) -> TextPart {
        TextPart {
            part: "1".into(),
            html,
            wire: Wire {
                encoding: encoding.into(),
                charset: charset.map(str::to_string),
            },
            size: 0,
        }
    }

    #[test]
    fn decodes_encodings_and_charsets() {
        let p = part("quoted-printable", Some("iso-8859-1"), false);
        assert_eq!(decode_text(&p, b"caf=E9 cr=\r\n=E8me"), "café crème");
        let p = part("base64", Some("utf-8"), false);
        assert_eq!(decode_text(&p, b"aMOpbGxv\r\n"), "héllo");
        let p = part("8bit", Some("koi8-r"), false);
        assert_eq!(
            decode_text(&p, &[0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]),
            "Привет"
        );
    }

    #[test]
    fn a_cut_short_body_decodes_what_it_has() {
        let p = part("base64", Some("utf-8"), false);
        // "hello world" cut inside the second quantum.
        let t = decode_text(&p, b"aGVsbG8gd29y");
        assert!(t.starts_with("hello wor"), "{t:?}");
    }

    #[test]
    fn limits_cover_the_encoding() {
        let b64 = Wire {
            encoding: "base64".into(),
            charset: None,
        };
        assert!(fetch_limit(300, &b64) >= 400 + 400 / 76 * 2);
        let qp = Wire {
            encoding: "quoted-printable".into(),
            charset: None,
        };
        assert!(fetch_limit(100, &qp) >= 300);
    }

    #[test]
    fn assembles_and_reports_more() {
        let d = vec![
            (part("7bit", None, false), "abcdef".to_string(), false),
            (part("7bit", None, true), "<p>x</p>".to_string(), true),
        ];
        let r = assemble(&d, Some(3));
        assert_eq!(r.plain.as_deref(), Some("abc"));
        assert_eq!(r.html.as_deref(), Some("<p>"));
        assert!(r.has_more);
        let r = assemble(&d[..1], None);
        assert_eq!(r.plain.as_deref(), Some("abcdef"));
        assert!(!r.has_more);
    }
}
