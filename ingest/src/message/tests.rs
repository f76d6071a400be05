//! Decoding tests with literal MIME samples, and agreement between the BODYSTRUCTURE
//! (listing) and full-source (details) paths.

use async_imap::imap_proto::{AttributeValue, BodyStructure, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::DateTime;
use imapapi_common::command::TextType;
use imapapi_common::ids::{AttachmentId, MessageId};

use super::*;

fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

fn flags(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn meta(
    mailbox_id: u32,
    uid: u32,
    flags: &[String],
    size: u64,
    internal_date: Option<DateTime<FixedOffset>>,
) -> Meta<'_> {
    Meta {
        mailbox_id,
        uid,
        flags,
        size,
        internal_date,
        ids: ServerIds::default(),
    }
}

fn alternative() -> Vec<u8> {
    let html = STANDARD.encode("<p>Grüße €</p>");
    crlf(&format!(
        "Date: Mon, 7 Oct 2019 09:05:23 +0300\n\
From: =?utf-8?Q?Peter_P=C3=B5der?= <Peter.Poder@example.com>\n\
To: andris@imapapi.com, \"Doe, Jane\" <jane@example.com>\n\
Cc: Carl <carl@example.com>\n\
Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=\n\
Message-ID: <0ebd@example.com>\n\
In-Reply-To: <prev@example.com>\n\
X-Folded: first\n second =?utf-8?B?w7w=?=\n\
Received: from a\n\
Received: from b\n\
MIME-Version: 1.0\n\
Content-Type: multipart/alternative; boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain; charset=ISO-8859-1\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
Gr=FC=DFe, caf=E9 =\n\
soft break\n\
--b1\n\
Content-Type: text/html; charset=utf-8\n\
Content-Transfer-Encoding: base64\n\
\n\
{html}\n\
--b1--\n"
    ))
}

const PLAIN: &str = "Hello plain";
const HTML: &str = "<p>Hello <img src=\"cid:img1@x\"></p>";
const PNG: &str = "iVBORw0KGgo=";
const PDF: &str = "JVBERi0xLjQK";
const INNER: &str = "From: x@example.com\n\
Subject: inner\n\
Content-Type: multipart/mixed; boundary=\"IN\"\n\
\n\
--IN\n\
Content-Type: text/plain\n\
\n\
inner text\n\
--IN\n\
Content-Type: text/csv; name=\"a.csv\"\n\
\n\
a,b\n\
--IN--\n";

/// No Date header; related + alternative inside mixed, an inline image, an RFC 2231
/// filename and a forwarded message.
fn mixed() -> Vec<u8> {
    crlf(&format!(
        "From: \"Peter Põder\" <peter@example.com>\n\
To: a@example.com\n\
Subject: =?ISO-8859-1?Q?Caf=E9?= report\n\
Message-ID: <m2@example.com>\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"MIX\"\n\
\n\
--MIX\n\
Content-Type: multipart/related; boundary=\"REL\"\n\
\n\
--REL\n\
Content-Type: multipart/alternative; boundary=\"ALT\"\n\
\n\
--ALT\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: 7bit\n\
\n\
{PLAIN}\n\
--ALT\n\
Content-Type: text/html; charset=utf-8\n\
\n\
{HTML}\n\
--ALT--\n\
\n\
--REL\n\
Content-Type: image/png; name=\"dot.png\"\n\
Content-Transfer-Encoding: base64\n\
Content-ID: <img1@x>\n\
Content-Disposition: inline; filename=\"dot.png\"\n\
\n\
{PNG}\n\
--REL--\n\
\n\
--MIX\n\
Content-Type: application/pdf\n\
Content-Transfer-Encoding: base64\n\
Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.pdf\n\
\n\
{PDF}\n\
--MIX\n\
Content-Type: message/rfc822\n\
\n\
{INNER}\n\
--MIX--\n"
    ))
}

/// The header block as `BODY.PEEK[HEADER]` returns it: up to and including the blank line.
fn header_of(raw: &[u8]) -> &[u8] {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    &raw[..end]
}

/// The BODYSTRUCTURE Dovecot prints for `mixed()`, with extension data.
fn mixed_fetch_line() -> Vec<u8> {
    let inner_len = crlf(INNER).len();
    let bs = format!(
        "((((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} 1 NIL NIL NIL NIL)\
(\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} 1 NIL NIL NIL NIL) \
\"alternative\" (\"boundary\" \"ALT\") NIL NIL NIL)\
(\"image\" \"png\" (\"name\" \"dot.png\") \"<img1@x>\" NIL \"base64\" {} NIL \
(\"inline\" (\"filename\" \"dot.png\")) NIL NIL) \
\"related\" (\"boundary\" \"REL\") NIL NIL NIL)\
(\"application\" \"pdf\" NIL NIL NIL \"base64\" {} NIL \
(\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC%20rates.pdf\")) NIL NIL)\
(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" {inner_len} \
(NIL \"inner\" ((NIL NIL \"x\" \"example.com\")) ((NIL NIL \"x\" \"example.com\")) \
((NIL NIL \"x\" \"example.com\")) NIL NIL NIL NIL NIL) \
((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL)\
(\"text\" \"csv\" (\"name\" \"a.csv\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL) \
\"mixed\" (\"boundary\" \"IN\") NIL NIL NIL) 13 NIL NIL NIL NIL) \
\"mixed\" (\"boundary\" \"MIX\") NIL NIL NIL)",
        PLAIN.len(),
        HTML.len(),
        PNG.len(),
        PDF.len(),
    );
    format!("* 1 FETCH (UID 7 BODYSTRUCTURE {bs})\r\n").into_bytes()
}

fn with_bodystructure<R>(line: &[u8], f: impl FnOnce(&BodyStructure<'_>) -> R) -> R {
    let (rest, resp) = Response::parse(line).expect("fetch line parses");
    assert!(
        rest.is_empty(),
        "unparsed: {:?}",
        String::from_utf8_lossy(rest)
    );
    let Response::Fetch(_, attrs) = resp else {
        panic!("not a fetch: {resp:?}");
    };
    let bs = attrs
        .iter()
        .find_map(|a| match a {
            AttributeValue::BodyStructure(bs) => Some(bs),
            _ => None,
        })
        .expect("has a bodystructure");
    f(bs)
}

fn att_id(part: &str) -> String {
    AttachmentId {
        message: MessageId::new(3, 7),
        part: part.into(),
    }
    .encode()
}

#[test]
fn alternative_with_charsets_and_encodings() {
    let raw = alternative();
    let d = details(
        meta(
            3,
            7,
            &flags(&["\\Seen", "\\Flagged"]),
            raw.len() as u64,
            None,
        ),
        &raw,
        None,
        Some(TextType::All),
    );
    assert_eq!(d.id, MessageId::new(3, 7).encode());
    assert_eq!(d.date.as_deref(), Some("2019-10-07T06:05:23.000Z"));
    assert_eq!(d.subject.as_deref(), Some("Grüße aus Köln"));
    let from = d.from.as_ref().unwrap();
    assert_eq!(from.name, "Peter Põder");
    assert_eq!(from.address, "Peter.Poder@example.com");
    assert_eq!(d.to.len(), 2);
    assert_eq!(d.to[0].name, "");
    assert_eq!(d.to[0].address, "andris@imapapi.com");
    assert_eq!(d.to[1].name, "Doe, Jane");
    assert_eq!(d.cc[0].address, "carl@example.com");
    assert_eq!(d.message_id.as_deref(), Some("<0ebd@example.com>"));
    assert_eq!(d.in_reply_to.as_deref(), Some("<prev@example.com>"));
    assert!(!d.unseen && d.flagged && !d.draft);
    assert!(d.attachments.is_empty());
    assert_eq!(d.headers["x-folded"], vec!["first second ü".to_string()]);
    assert_eq!(d.headers["received"], vec!["from a", "from b"]);
    assert_eq!(d.headers["subject"], vec!["Grüße aus Köln"]);
    let t = d.text.unwrap();
    assert_eq!(t.plain.as_deref(), Some("Grüße, café soft break"));
    assert_eq!(t.html.as_deref(), Some("<p>Grüße €</p>"));
    assert!(!t.has_more);
    assert!(t.encoded_size.plain.is_some() && t.encoded_size.html.is_some());

    // Cut at a char boundary, per type.
    let t = text(3, 7, &raw, Some(3), TextType::All);
    assert_eq!(t.plain.as_deref(), Some("Gr"));
    assert_eq!(t.html.as_deref(), Some("<p>"));
    assert!(t.has_more);
    let t = text(3, 7, &raw, Some(1000), TextType::Html);
    assert_eq!(t.plain, None);
    assert_eq!(t.html.as_deref(), Some("<p>Grüße €</p>"));
    assert!(!t.has_more);
    let t = text(3, 7, &raw, None, TextType::Plain);
    assert!(t.plain.is_some() && t.html.is_none());

    // The header block alone gives the same envelope.
    let e = list_entry(meta(3, 7, &[], 10, None), header_of(&raw), None);
    assert_eq!(e.subject, d.subject);
    assert_eq!(e.from, d.from);
    assert_eq!(e.date, d.date);
    assert!(e.unseen);
    let h = header_map(header_of(&raw));
    assert_eq!(h, d.headers);
}

#[test]
fn mixed_message_details() {
    let raw = mixed();
    let internal = DateTime::parse_from_rfc3339("2020-01-02T03:04:05+02:00").unwrap();
    let d = details(
        meta(3, 7, &[], 1, Some(internal)),
        &raw,
        None,
        Some(TextType::All),
    );
    assert_eq!(d.date.as_deref(), Some("2020-01-02T01:04:05.000Z"));
    assert_eq!(d.subject.as_deref(), Some("Café report"));
    assert_eq!(d.from.as_ref().unwrap().name, "Peter Põder");
    let parts: Vec<&str> = d
        .attachments
        .iter()
        .map(|a| a.content_type.as_str())
        .collect();
    assert_eq!(
        parts,
        vec!["image/png", "application/pdf", "message/rfc822"]
    );
    let img = &d.attachments[0];
    assert_eq!(img.id, att_id("1.2"));
    assert_eq!(img.filename.as_deref(), Some("dot.png"));
    assert_eq!(img.content_id.as_deref(), Some("<img1@x>"));
    assert!(img.embedded && img.inline);
    let pdf = &d.attachments[1];
    assert_eq!(pdf.id, att_id("2"));
    assert_eq!(pdf.filename.as_deref(), Some("€ rates.pdf"));
    assert!(!pdf.embedded && !pdf.inline);
    assert_eq!(pdf.encoded_size, PDF.len() as u64);
    assert_eq!(d.attachments[2].id, att_id("3"));
    let t = d.text.unwrap();
    assert_eq!(t.plain.as_deref(), Some(PLAIN));
    assert_eq!(t.html.as_deref(), Some(HTML));
    assert_eq!(t.encoded_size.plain, Some(PLAIN.len() as u64));
    assert_eq!(t.encoded_size.html, Some(HTML.len() as u64));
}

#[test]
fn details_from_structure_match_the_full_source() {
    let raw = mixed();
    let full = details(meta(3, 7, &[], 1, None), &raw, None, Some(TextType::All));
    let text = imapapi_common::command::TextReply {
        plain: Some(PLAIN.into()),
        html: Some(HTML.into()),
        has_more: false,
    };
    let lean = with_bodystructure(&mixed_fetch_line(), |bs| {
        details_from_structure(
            meta(3, 7, &[], 1, None),
            header_of(&raw),
            Some(bs),
            Some(text),
        )
    });
    assert_eq!(lean, full);
    let no_text = with_bodystructure(&mixed_fetch_line(), |bs| {
        details_from_structure(meta(3, 7, &[], 1, None), header_of(&raw), Some(bs), None)
    });
    assert!(no_text.text.is_none());
    assert_eq!(no_text.headers, full.headers);
}

#[test]
fn listing_and_details_agree() {
    let raw = mixed();
    let d = details(meta(3, 7, &[], 1, None), &raw, None, Some(TextType::All));
    let e = with_bodystructure(&mixed_fetch_line(), |bs| {
        list_entry(meta(3, 7, &[], 1, None), header_of(&raw), Some(bs))
    });
    assert_eq!(e.attachments, d.attachments);
    let ti = e.text.unwrap();
    let tc = d.text.unwrap();
    assert_eq!(ti.id, tc.id);
    assert_eq!(ti.encoded_size, tc.encoded_size);
    assert_eq!(e.subject, d.subject);
    assert_eq!(e.message_id.as_deref(), Some("<m2@example.com>"));
    assert_eq!(e.date, None);
}

#[test]
fn single_part_message() {
    let raw = crlf("Subject: plain\n\nJust text\n");
    let d = details(
        meta(1, 2, &["\\Draft".into()], 5, None),
        &raw,
        None,
        Some(TextType::All),
    );
    assert!(d.draft && d.unseen);
    assert_eq!(d.text.unwrap().plain.as_deref(), Some("Just text\r\n"));
    let line = b"* 1 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 1 NIL NIL NIL NIL))\r\n";
    let e = with_bodystructure(line, |bs| {
        list_entry(meta(1, 2, &[], 5, None), header_of(&raw), Some(bs))
    });
    assert!(e.attachments.is_empty());
    assert_eq!(e.text.unwrap().encoded_size.plain, Some(11));
}

#[test]
fn encoded_word_filenames_agree() {
    let raw = crlf(
        "Subject: f\nContent-Type: multipart/mixed; boundary=\"x\"\n\n--x\n\
Content-Type: text/plain; name=\"=?utf-8?B?w6TDtsO8LnR4dA==?=\"\n\n\
hi\n--x--\n",
    );
    let d = details(meta(1, 1, &[], 1, None), &raw, None, Some(TextType::All));
    assert_eq!(d.attachments.len(), 1);
    assert_eq!(d.attachments[0].filename.as_deref(), Some("äöü.txt"));
    assert!(
        d.text.unwrap().plain.is_none(),
        "a named text part is an attachment"
    );
    let line = b"* 1 FETCH (BODYSTRUCTURE ((\"text\" \"plain\" (\"name\" \"=?utf-8?B?w6TDtsO8LnR4dA==?=\") NIL NIL \"7bit\" 2 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"x\") NIL NIL NIL))\r\n";
    let e = with_bodystructure(line, |bs| {
        list_entry(meta(1, 1, &[], 1, None), header_of(&raw), Some(bs))
    });
    assert_eq!(e.attachments, d.attachments);
    assert!(e.text.is_none());
}

#[test]
fn broken_and_truncated_input_never_panics() {
    let samples = [mixed(), alternative()];
    for raw in &samples {
        for cut in 0..raw.len() {
            let r = &raw[..cut];
            let _ = details(meta(1, 1, &[], 0, None), r, Some(5), Some(TextType::All));
            let _ = text(1, 1, r, None, TextType::Html);
            let _ = list_entry(meta(1, 1, &[], 0, None), r, None);
            let _ = header_map(r);
        }
    }
    let garbage: [&[u8]; 6] = [
        b"",
        b"\r\n\r\n",
        b"\xff\xfe\x00garbage: \xff\r\n\r\n\xff",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n",
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
        b"Date: Mon, 99 Foo 20199 99:99:99 +9999\r\nFrom: <<<@@@>>>\r\nSubject: =?x?Q?=ZZ?=\r\n\r\n",
    ];
    for g in garbage {
        let d = details(meta(1, 1, &[], 0, None), g, Some(0), Some(TextType::All));
        assert!(d.date.is_none());
        let _ = header_map(g);
    }
    // Deep nesting stops at the depth limit instead of overflowing the stack.
    let mut deep = String::new();
    for i in 0..2000 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    deep.push_str("\r\nx\r\n");
    let _ = details(
        meta(1, 1, &[], 0, None),
        deep.as_bytes(),
        None,
        Some(TextType::All),
    );
}

#[test]
fn reply_to_sender_answered_and_server_ids() {
    let raw = crlf(
        "From: Ann <ann@example.com>\nSender: Desk <desk@example.com>\n\
Reply-To: First <first@example.com>, second@example.com\nSubject: s\n\nbody\n",
    );
    let fl = flags(&["\\Answered", "\\Seen"]);
    let ids = ServerIds {
        email_id: Some("1694937972638499881".into()),
        thread_id: Some("1694936993596975454".into()),
        labels: Some(vec!["\\Important".into()]),
    };
    let m = Meta {
        ids: ids.clone(),
        ..meta(1, 2, &fl, 9, None)
    };
    let d = details(m.clone(), &raw, None, None);
    let e = list_entry(m, header_of(&raw), None);
    let first = Address {
        name: "First".into(),
        address: "first@example.com".into(),
    };
    assert_eq!(d.reply_to.as_ref(), Some(&first));
    assert_eq!(e.reply_to.as_ref(), Some(&first));
    assert_eq!(d.sender.as_ref().unwrap().address, "desk@example.com");
    assert_eq!(e.sender, d.sender);
    assert!(d.answered && e.answered);
    assert_eq!(
        (d.email_id, d.thread_id, d.labels),
        (
            ids.email_id.clone(),
            ids.thread_id.clone(),
            ids.labels.clone()
        )
    );
    assert_eq!(
        (e.email_id, e.thread_id, e.labels),
        (ids.email_id, ids.thread_id, ids.labels)
    );

    let plain = details(meta(1, 2, &[], 9, None), &raw, None, None);
    assert!(!plain.answered);
    assert!(plain.email_id.is_none() && plain.labels.is_none());
}
