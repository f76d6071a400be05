//! The leaf parts of a message with their IMAP part numbers, from either a BODYSTRUCTURE
//! (listing) or a parsed source (details, attachment download).
//!
//! Attachment ids embed the part number, so both paths must number parts exactly as the
//! server does (RFC 3501 §6.4.5): multipart children are `N.1`, `N.2`…; the body of a
//! message (the top one or a message/rfc822 part `N`) is `N.1` unless it is a multipart,
//! whose children then take `N.1`… directly. Both walks also classify parts by the same rule,
//! so a listing and the details of one message report identical attachments.

use async_imap::imap_proto::{BodyContentCommon, BodyContentSinglePart, BodyParams, BodyStructure};
use mail_parser::parsers::MessageStream;
use mail_parser::{HeaderValue, Message, MessagePart, MimeHeaders, PartType};

use super::headers::bracket_id;

/// Deeper nesting than this is an attack or garbage, not mail: stop before the stack does.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain,
    Html,
    Attachment,
}

#[derive(Debug)]
pub(crate) struct Leaf<S> {
    pub part: String,
    /// Lower-cased `type/subtype`.
    pub content_type: String,
    pub encoded_size: u64,
    pub filename: Option<String>,
    /// Lower-cased disposition type.
    pub disposition: Option<String>,
    pub content_id: Option<String>,
    pub in_related: bool,
    pub src: S,
}

impl<S> Leaf<S> {
    /// Text and HTML parts shown as the message body; everything else is an attachment.
    /// A named or `attachment`-disposed text part is a file the sender attached.
    pub fn kind(&self) -> Kind {
        if self.disposition.as_deref() == Some("attachment") || self.filename.is_some() {
            return Kind::Attachment;
        }
        match self.content_type.as_str() {
            "text/plain" => Kind::Plain,
            "text/html" => Kind::Html,
            _ => Kind::Attachment,
        }
    }

    /// Referenced from HTML by `cid:` inside multipart/related.
    pub fn embedded(&self) -> bool {
        self.in_related
    }

    pub fn inline(&self) -> bool {
        match self.disposition.as_deref() {
            Some(d) => d == "inline",
            None => self.in_related,
        }
    }
}

fn join(prefix: &str, i: usize) -> String {
    if prefix.is_empty() {
        i.to_string()
    } else {
        format!("{prefix}.{i}")
    }
}

fn is_related(ty: &str, subtype: &str) -> bool {
    ty.eq_ignore_ascii_case("multipart") && subtype.eq_ignore_ascii_case("related")
}

// ---- BODYSTRUCTURE ----

/// How a part is stored on the server, from BODYSTRUCTURE: what a partial FETCH of it
/// returns has to be decoded with these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    /// Lower-cased Content-Transfer-Encoding (`base64`, `quoted-printable`, `7bit`, …).
    pub encoding: String,
    pub charset: Option<String>,
}

fn wire_of(common: &BodyContentCommon<'_>, other: &BodyContentSinglePart<'_>) -> Wire {
    use async_imap::imap_proto::ContentEncoding as E;
    let encoding = match &other.transfer_encoding {
        E::SevenBit => "7bit".to_string(),
        E::EightBit => "8bit".to_string(),
        E::Binary => "binary".to_string(),
        E::Base64 => "base64".to_string(),
        E::QuotedPrintable => "quoted-printable".to_string(),
        E::Other(o) => o.to_ascii_lowercase(),
    };
    let charset = common.ty.params.as_ref().and_then(|ps| {
        ps.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("charset"))
            .map(|(_, v)| v.to_string())
    });
    Wire { encoding, charset }
}

pub(crate) fn from_bodystructure(bs: &BodyStructure<'_>) -> Vec<Leaf<Wire>> {
    let mut out = Vec::new();
    match bs {
        BodyStructure::Multipart { common, bodies, .. } => {
            bs_children(common, bodies, "", false, 0, &mut out)
        }
        _ => bs_part(bs, "1".into(), false, 0, &mut out),
    }
    out
}

fn bs_children(
    common: &BodyContentCommon<'_>,
    bodies: &[BodyStructure<'_>],
    number: &str,
    related: bool,
    depth: usize,
    out: &mut Vec<Leaf<Wire>>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let related = related || is_related(&common.ty.ty, &common.ty.subtype);
    for (i, b) in bodies.iter().enumerate() {
        bs_part(b, join(number, i + 1), related, depth + 1, out);
    }
}

fn bs_part(
    bs: &BodyStructure<'_>,
    number: String,
    related: bool,
    depth: usize,
    out: &mut Vec<Leaf<Wire>>,
) {
    match bs {
        BodyStructure::Multipart { common, bodies, .. } => {
            bs_children(common, bodies, &number, related, depth, out)
        }
        BodyStructure::Basic { common, other, .. }
        | BodyStructure::Text { common, other, .. }
        | BodyStructure::Message { common, other, .. } => {
            out.push(bs_leaf(common, other, number, related))
        }
    }
}

fn bs_leaf(
    common: &BodyContentCommon<'_>,
    other: &BodyContentSinglePart<'_>,
    part: String,
    in_related: bool,
) -> Leaf<Wire> {
    let disposition = common.disposition.as_ref();
    let filename = disposition
        .and_then(|d| decode_param(&d.params, "filename"))
        .or_else(|| decode_param(&common.ty.params, "name"));
    Leaf {
        part,
        content_type: format!("{}/{}", common.ty.ty, common.ty.subtype).to_ascii_lowercase(),
        encoded_size: u64::from(other.octets),
        filename,
        disposition: disposition.map(|d| d.ty.to_ascii_lowercase()),
        content_id: other.id.as_deref().and_then(bracket_id),
        in_related,
        src: wire_of(common, other),
    }
}

/// Servers print parameters raw (RFC 2231 `name*=utf-8''%E2%82%AC`, encoded words, split
/// `name*0`/`name*1`); rebuild a header line from them and let mail-parser decode it, so
/// the result is exactly what the details path gets from the source.
fn decode_param(params: &BodyParams<'_>, name: &str) -> Option<String> {
    let params = params.as_ref()?;
    let mut line = String::from("x/y");
    let mut any = false;
    for (k, v) in params {
        let kl = k.to_ascii_lowercase();
        let relevant = kl == name || kl.strip_prefix(name).is_some_and(|r| r.starts_with('*'));
        if !relevant
            || !k
                .bytes()
                .all(|c| c.is_ascii_graphic() && c != b'=' && c != b';')
        {
            continue;
        }
        any = true;
        line.push_str("; ");
        line.push_str(k);
        line.push('=');
        let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        if kl.ends_with('*')
            && v.bytes()
                .all(|c| c.is_ascii_graphic() && !b"\";()<>@,:\\/[]?=".contains(&c) || c == b'\'')
        {
            line.push_str(&v);
        } else {
            line.push('"');
            for ch in v.chars() {
                if ch == '"' || ch == '\\' {
                    line.push('\\');
                }
                line.push(ch);
            }
            line.push('"');
        }
    }
    if !any {
        return None;
    }
    line.push_str("\r\n");
    match MessageStream::new(line.as_bytes()).parse_content_type() {
        HeaderValue::ContentType(ct) => ct
            .attribute(name)
            .map(str::to_string)
            .filter(|s| !s.is_empty()),
        _ => None,
    }
}

// ---- parsed source ----

pub(crate) type Src<'m, 'x> = &'m MessagePart<'x>;

pub(crate) fn from_message<'m, 'x>(msg: &'m Message<'x>) -> Vec<Leaf<Src<'m, 'x>>> {
    let mut out = Vec::new();
    if let Some(root) = msg.parts.first() {
        match &root.body {
            PartType::Multipart(children) => {
                mp_children(msg, root, children, "", false, 0, &mut out)
            }
            _ => mp_part(msg, root, "1".into(), false, 0, &mut out),
        }
    }
    out
}

fn mp_children<'m, 'x>(
    msg: &'m Message<'x>,
    part: &'m MessagePart<'x>,
    children: &[u32],
    number: &str,
    related: bool,
    depth: usize,
    out: &mut Vec<Leaf<Src<'m, 'x>>>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let related = related
        || part
            .content_type()
            .is_some_and(|ct| is_related(&ct.c_type, ct.c_subtype.as_deref().unwrap_or_default()));
    for (i, &id) in children.iter().enumerate() {
        if let Some(p) = msg.parts.get(id as usize) {
            mp_part(msg, p, join(number, i + 1), related, depth + 1, out);
        }
    }
}

fn mp_part<'m, 'x>(
    msg: &'m Message<'x>,
    p: &'m MessagePart<'x>,
    number: String,
    related: bool,
    depth: usize,
    out: &mut Vec<Leaf<Src<'m, 'x>>>,
) {
    match &p.body {
        PartType::Multipart(children) => {
            mp_children(msg, p, children, &number, related, depth, out)
        }
        _ => out.push(Leaf {
            part: number,
            content_type: content_type(p),
            encoded_size: u64::from(p.offset_end.saturating_sub(p.offset_body)),
            filename: p
                .attachment_name()
                .map(str::to_string)
                .filter(|s| !s.is_empty()),
            disposition: p
                .content_disposition()
                .map(|d| d.c_type.to_ascii_lowercase()),
            content_id: p.content_id().and_then(bracket_id),
            in_related: related,
            src: p,
        }),
    }
}

/// Lower-cased `type/subtype`; RFC 2045 defaults a missing Content-Type to text/plain.
pub(crate) fn content_type(p: &MessagePart<'_>) -> String {
    match p.content_type() {
        Some(ct) => match ct.c_subtype.as_deref() {
            Some(st) => format!("{}/{}", ct.c_type, st),
            None if ct.c_type.eq_ignore_ascii_case("text") => "text/plain".into(),
            None => ct.c_type.to_string(),
        }
        .to_ascii_lowercase(),
        None => "text/plain".into(),
    }
}
