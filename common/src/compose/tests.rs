//! Build, then parse back with mail-parser and compare with what was asked for.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_parser::{HeaderForm, HeaderValue, Message, MessageParser, MimeHeaders};

use super::*;
use crate::model::Address;

fn addr(name: &str, address: &str) -> Address {
    Address {
        name: name.to_string(),
        address: address.to_string(),
    }
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .expect("the built message parses")
}

fn names_and_addresses(list: Option<&mail_parser::Address<'_>>) -> Vec<(String, String)> {
    list.map(|l| {
        l.iter()
            .map(|a| {
                (
                    a.name().unwrap_or_default().to_string(),
                    a.address().unwrap_or_default().to_string(),
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

fn pairs(list: &[Address]) -> Vec<(String, String)> {
    list.iter()
        .map(|a| (a.name.clone(), a.address.clone()))
        .collect()
}

fn attachment(filename: Option<&str>, bytes: &[u8]) -> AttachmentDraft {
    AttachmentDraft {
        filename: filename.map(str::to_string),
        content: STANDARD.encode(bytes),
        content_type: None,
        content_disposition: None,
        cid: None,
        encoding: ContentEncoding::Base64,
    }
}

fn full_draft() -> MessageDraft {
    let mut d = MessageDraft::new(addr("Peter Põder", "peter@example.com"));
    d.to = vec![
        addr("日本語", "nihongo@example.jp"),
        addr("", "plain@example.com"),
        addr("Doe, John \"JD\"", "john.doe@example.com"),
    ];
    d.cc = vec![addr("Zoë Çelik", "zoe@example.org")];
    d.bcc = vec![addr("Hidden Person", "hidden@example.net")];
    d.reply_to = Some(addr("Replies", "replies@example.com"));
    d.subject = Some(format!(
        "Hello 👋 wörld — {}",
        "a subject long enough to need folding "
            .repeat(4)
            .trim_end()
    ));
    d.text = Some(format!(
        "Tere, Peter!\r\nÕnnitlused 🎉\r\n{}\r\n.\r\nFrom the start of a line\r\n",
        "x".repeat(200)
    ));
    d.html = Some("<p>Tere, <b>Peter</b>! 🎉</p>\r\n<img src=\"cid:logo@example\">".into());
    d
}

#[test]
fn addresses_subject_and_bodies_round_trip() {
    let d = full_draft();
    let built = d.build(true).unwrap();
    let m = parse(&built.raw);
    assert_eq!(
        names_and_addresses(m.from()),
        vec![("Peter Põder".to_string(), "peter@example.com".to_string())]
    );
    assert_eq!(names_and_addresses(m.to()), pairs(&d.to));
    assert_eq!(names_and_addresses(m.cc()), pairs(&d.cc));
    assert_eq!(names_and_addresses(m.bcc()), pairs(&d.bcc));
    assert_eq!(
        names_and_addresses(m.reply_to()),
        pairs(&[d.reply_to.clone().unwrap()])
    );
    assert_eq!(m.subject(), d.subject.as_deref());
    assert_eq!(m.body_text(0).as_deref(), d.text.as_deref());
    assert_eq!(m.body_html(0).as_deref(), d.html.as_deref());
    assert!(m.date().is_some_and(|d| d.is_valid()), "a Date header");
    let raw = String::from_utf8(built.raw.clone()).unwrap();
    assert!(raw.is_ascii(), "UTF-8 is encoded, never raw:\n{raw}");
    assert!(raw.lines().all(|l| l.len() <= 998), "{raw}");
    assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
}

#[test]
fn bcc_is_kept_only_when_asked() {
    let d = full_draft();
    let kept = d.build(true).unwrap();
    assert_eq!(names_and_addresses(parse(&kept.raw).bcc()).len(), 1);
    let dropped = d.build(false).unwrap();
    let m = parse(&dropped.raw);
    assert!(m.bcc().is_none());
    assert!(!String::from_utf8_lossy(&dropped.raw).contains("hidden@example.net"));
    assert_eq!(names_and_addresses(m.to()), pairs(&d.to));
}

#[test]
fn line_feeds_become_crlf() {
    let mut d = MessageDraft::new(addr("", "a@example.com"));
    d.text = Some("one\ntwo\n".into());
    let built = d.build(true).unwrap();
    assert_eq!(
        parse(&built.raw).body_text(0).as_deref(),
        Some("one\r\ntwo\r\n")
    );
}

#[test]
fn a_draft_with_only_a_sender_builds() {
    let d = MessageDraft::new(addr("", "a@example.com"));
    let built = d.build(true).unwrap();
    let m = parse(&built.raw);
    assert!(m.to().is_none());
    assert_eq!(m.subject(), None);
    assert_eq!(m.body_text(0).as_deref(), Some(""));
}

#[test]
fn attachments_keep_bytes_names_and_cids() {
    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let logo = b"\x89PNG\r\n\x1a\nnot really a png";
    let mut d = full_draft();
    let long_name = format!("{}.txt", "a-rather-long-ascii-file-name".repeat(3));
    d.attachments = vec![
        attachment(Some("Põder résumé 日本.pdf"), &binary),
        AttachmentDraft {
            cid: Some("logo@example".into()),
            content_type: Some("IMAGE/PNG".into()),
            ..attachment(Some("logo.png"), logo)
        },
        AttachmentDraft {
            content_type: Some("image/gif".into()),
            ..attachment(None, b"GIF89a")
        },
        attachment(Some(&long_name), b"plain\n"),
    ];
    let built = d.build(true).unwrap();
    let raw = String::from_utf8(built.raw.clone()).unwrap();
    let m = parse(&built.raw);
    assert_eq!(m.body_text(0).as_deref(), d.text.as_deref());
    assert_eq!(m.body_html(0).as_deref(), d.html.as_deref());

    let found: Vec<_> = m.attachments().collect();
    assert_eq!(found.len(), 4, "{raw}");
    let by_name = |n: &str| {
        found
            .iter()
            .find(|p| p.attachment_name() == Some(n))
            .unwrap_or_else(|| panic!("no attachment {n:?} in\n{raw}"))
    };
    let pdf = by_name("Põder résumé 日本.pdf");
    assert_eq!(pdf.contents(), binary.as_slice());
    assert_eq!(pdf.content_type().unwrap().subtype(), Some("pdf"));
    assert!(
        pdf.content_disposition()
            .is_some_and(|c| c.ctype() == "attachment")
    );
    // The Content-Type name too, for clients that read only that.
    assert_eq!(
        pdf.content_type().unwrap().attribute("name"),
        Some("Põder résumé 日本.pdf")
    );

    let png = by_name("logo.png");
    assert_eq!(png.contents(), logo);
    assert_eq!(png.content_id(), Some("logo@example"));
    assert_eq!(png.content_type().unwrap().ctype(), "image");
    assert!(png.content_disposition().is_some_and(|c| c.is_inline()));

    assert_eq!(by_name("attachment-3.gif").contents(), b"GIF89a");
    assert_eq!(by_name(&long_name).contents(), b"plain\n");

    // mixed[ alternative[ text, related[ html, logo ] ], pdf, gif, txt ]
    let order: Vec<&str> = raw
        .lines()
        .filter_map(|l| l.strip_prefix("Content-Type: multipart/"))
        .map(|l| l.split(';').next().unwrap_or_default())
        .collect();
    assert_eq!(order, ["mixed", "alternative", "related"], "{raw}");
}

#[test]
fn inline_parts_without_html_are_plain_attachments() {
    let mut d = MessageDraft::new(addr("", "a@example.com"));
    d.text = Some("see attached".into());
    d.attachments = vec![AttachmentDraft {
        cid: Some("<img1@x>".into()),
        ..attachment(Some("a.png"), b"png")
    }];
    let built = d.build(true).unwrap();
    let raw = String::from_utf8_lossy(&built.raw).into_owned();
    assert!(!raw.contains("multipart/related"), "{raw}");
    let m = parse(&built.raw);
    let part = m.attachments().next().unwrap();
    assert_eq!(part.content_id(), Some("img1@x"));
    assert_eq!(part.content_type().unwrap().subtype(), Some("png"));
}

#[test]
fn custom_and_reply_headers() {
    let mut d = MessageDraft::new(addr("", "a@example.com"));
    d.headers.insert("X-Mailer-Id".into(), "abc 123".into());
    d.headers.insert("X-Unicode".into(), "Grüße 👋".into());
    d.headers
        .insert("In-Reply-To".into(), "<from-headers@x>".into());
    d.in_reply_to = Some("parent@x".into());
    d.references = vec!["<root@x>".into(), "parent@x".into()];
    let built = d.build(true).unwrap();
    let m = parse(&built.raw);
    assert_eq!(
        m.header("X-Mailer-Id").and_then(HeaderValue::as_text),
        Some("abc 123")
    );
    let unicode = m.header_as("X-Unicode", HeaderForm::Text);
    assert_eq!(unicode[0].as_text(), Some("Grüße 👋"));
    assert_eq!(m.in_reply_to().as_text(), Some("parent@x"));
    assert_eq!(
        m.references().as_text_list().map(|l| l.to_vec()),
        Some(vec!["root@x".into(), "parent@x".into()])
    );
    let raw = String::from_utf8_lossy(&built.raw).into_owned();
    assert!(!raw.contains("from-headers"), "{raw}");
}

#[test]
fn message_id_given_or_generated() {
    let mut d = MessageDraft::new(addr("", "a@example.com"));
    d.message_id = Some("test123@example.com".into());
    let built = d.build(true).unwrap();
    assert_eq!(built.message_id, "<test123@example.com>");
    assert_eq!(parse(&built.raw).message_id(), Some("test123@example.com"));
    d.message_id = Some("<test123@example.com>".into());
    assert_eq!(d.build(true).unwrap().message_id, "<test123@example.com>");

    d.message_id = None;
    let one = d.build(true).unwrap();
    let two = d.build(true).unwrap();
    assert_ne!(one.message_id, two.message_id);
    let inner = one
        .message_id
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap();
    let (uuid, host) = inner.split_once('@').unwrap();
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{inner}");
    assert!(!host.is_empty());
    assert_eq!(parse(&one.raw).message_id(), Some(inner));
}

/// The field named by a 400, and that `build` refuses the same draft.
fn rejected(d: &MessageDraft) -> String {
    let e = d.validate().unwrap_err();
    assert_eq!(e.status_code, 400, "{e:?}");
    let built = d.build(true).unwrap_err();
    assert_eq!(built.fields, e.fields);
    e.fields[0].key.clone()
}

#[test]
fn header_injection_is_refused_with_the_field_named() {
    let base = || MessageDraft::new(addr("", "a@example.com"));

    let mut d = base();
    d.subject = Some("Hi\r\nBcc: victim@example.com".into());
    assert_eq!(rejected(&d), "subject");

    let mut d = base();
    d.to = vec![
        addr("", "ok@example.com"),
        addr("Eve\nBcc: victim@example.com", "eve@example.com"),
    ];
    assert_eq!(rejected(&d), "to[1].name");

    let mut d = base();
    d.cc = vec![addr("", "eve@example.com>\r\nBcc: victim@example.com")];
    assert_eq!(rejected(&d), "cc[0].address");

    let mut d = base();
    d.headers
        .insert("X-Foo".into(), "bar\r\nBcc: victim@example.com".into());
    assert_eq!(rejected(&d), "headers.X-Foo");

    let mut d = base();
    d.headers.insert("X-Foo\r\nBcc".into(), "x".into());
    assert_eq!(rejected(&d), "headers.X-Foo\r\nBcc");

    let mut d = base();
    d.attachments = vec![attachment(Some("a\r\nX-Evil: 1.txt"), b"x")];
    assert_eq!(rejected(&d), "attachments[0].filename");

    let mut d = base();
    d.attachments = vec![AttachmentDraft {
        content_type: Some("text/plain\r\nX-Evil: 1".into()),
        ..attachment(None, b"x")
    }];
    assert_eq!(rejected(&d), "attachments[0].contentType");

    let mut d = base();
    d.attachments = vec![AttachmentDraft {
        cid: Some("a b@x".into()),
        ..attachment(None, b"x")
    }];
    assert_eq!(rejected(&d), "attachments[0].cid");

    let mut d = base();
    d.message_id = Some("<x@y>\r\nBcc: v@x".into());
    assert_eq!(rejected(&d), "messageId");
}

#[test]
fn reserved_and_malformed_headers_are_refused() {
    for name in [
        "From",
        "to",
        "CC",
        "Bcc",
        "Subject",
        "message-id",
        "Date",
        "MIME-Version",
        "Content-Type",
        "content-transfer-encoding",
    ] {
        let mut d = MessageDraft::new(addr("", "a@example.com"));
        d.headers.insert(name.into(), "x".into());
        assert_eq!(rejected(&d), format!("headers.{name}"));
    }
    for name in ["", "X Foo", "X-Foo:", "X-Föö", &"X".repeat(77)] {
        let mut d = MessageDraft::new(addr("", "a@example.com"));
        d.headers.insert(name.into(), "x".into());
        assert_eq!(rejected(&d), format!("headers.{name}"));
    }
}

#[test]
fn other_invalid_input_names_the_field() {
    let base = || MessageDraft::new(addr("", "a@example.com"));

    let mut d = base();
    d.from = addr("", "not-an-address");
    assert_eq!(rejected(&d), "from.address");

    let mut d = base();
    d.to = vec![addr("", "a@example.com"), addr("", "@example.com")];
    assert_eq!(rejected(&d), "to[1].address");

    // Valid addr-specs lettre cannot write back into a From header: refused, not a 500.
    for odd in ["\"john doe\"@example.com", "a@[127.0.0.1]"] {
        let mut d = base();
        d.from = addr("", odd);
        assert_eq!(rejected(&d), "from.address", "{odd}");
        let mut d = base();
        d.to = vec![addr("", odd)];
        assert_eq!(rejected(&d), "to[0].address", "{odd}");
    }

    let mut d = base();
    d.reply_to = Some(addr(&"n".repeat(257), "a@example.com"));
    assert_eq!(rejected(&d), "replyTo.name");

    let mut d = base();
    d.subject = Some("ü".repeat(1025));
    assert_eq!(rejected(&d), "subject");
    d.subject = Some("ü".repeat(1024));
    assert!(d.validate().is_ok());

    // One word longer than a header line can hold; words of any length fold fine.
    let mut d = base();
    d.subject = Some("y".repeat(MAX_HEADER_WORD + 1));
    assert_eq!(rejected(&d), "subject");
    d.headers
        .insert("X-Long".into(), "z".repeat(MAX_HEADER_WORD + 1));
    d.subject = Some("word ".repeat(200));
    assert_eq!(rejected(&d), "headers.X-Long");
    d.headers.insert("X-Long".into(), "word ".repeat(800));
    let built = d.build(true).unwrap();
    assert!(built.raw.split(|b| *b == b'\n').all(|l| l.len() <= 998));

    let mut d = base();
    d.text = Some("x".repeat(MAX_BODY + 1));
    assert_eq!(rejected(&d), "text");

    let mut d = base();
    d.message_id = Some("no-at-sign".into());
    assert_eq!(rejected(&d), "messageId");
    d.message_id = Some(format!("<{}@example.com>", "x".repeat(70)));
    assert_eq!(rejected(&d), "messageId");

    let mut d = base();
    d.attachments = vec![
        attachment(Some("ok.txt"), b"fine"),
        AttachmentDraft {
            content: "@@not base64@@".into(),
            ..attachment(None, b"")
        },
    ];
    assert_eq!(rejected(&d), "attachments[1].content");

    for bad in ["text", "multipart/mixed", "image/png; x"] {
        let mut d = base();
        d.attachments = vec![AttachmentDraft {
            content_type: Some(bad.into()),
            ..attachment(None, b"x")
        }];
        assert_eq!(rejected(&d), "attachments[0].contentType", "{bad}");
    }

    let mut d = base();
    d.attachments = vec![attachment(Some(&"f".repeat(257)), b"x")];
    assert_eq!(rejected(&d), "attachments[0].filename");
}

#[test]
fn wrapped_base64_is_accepted() {
    let bytes: Vec<u8> = (0..200u8).collect();
    let encoded = STANDARD.encode(&bytes);
    let wrapped: String = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
        .collect();
    let mut d = MessageDraft::new(addr("", "a@example.com"));
    d.attachments = vec![AttachmentDraft {
        content: wrapped,
        ..attachment(Some("b.bin"), b"")
    }];
    let built = d.build(true).unwrap();
    let m = parse(&built.raw);
    assert_eq!(m.attachments().next().unwrap().contents(), bytes.as_slice());
}

#[test]
fn drafts_read_from_the_contract_json() {
    let d: MessageDraft = serde_json::from_str(
        r#"{
            "from": {"name": "From Me", "address": "sender@example.com"},
            "to": [{"address": "recipient@example.com"}],
            "subject": "What a wonderful message",
            "text": "Hello from myself!",
            "html": "<p>Hello from myself!</p>",
            "attachments": [{
                "filename": "transparent.gif",
                "content": "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=",
                "contentType": "image/gif",
                "contentDisposition": "INLINE",
                "cid": "unique-image-id@localhost",
                "encoding": "base64"
            }],
            "messageId": "<test123@example.com>",
            "headers": {"X-Custom": "yes"}
        }"#,
    )
    .unwrap();
    assert_eq!(
        d.attachments[0].content_disposition,
        Some(Disposition::Inline)
    );
    assert_eq!(d.to[0].name, "");
    d.validate().unwrap();
    let built = d.build(true).unwrap();
    let m = parse(&built.raw);
    assert_eq!(
        m.attachments().next().unwrap().content_id(),
        Some("unique-image-id@localhost")
    );

    let unknown = serde_json::from_str::<MessageDraft>(
        r#"{"from": {"address": "a@example.com"}, "bogus": 1}"#,
    );
    assert!(unknown.unwrap_err().to_string().contains("bogus"));
    let bad_encoding =
        serde_json::from_str::<AttachmentDraft>(r#"{"content": "", "encoding": "hex"}"#);
    assert!(bad_encoding.is_err());
}

#[test]
fn reply_headers_follow_the_original() {
    let (irt, refs) = reply_headers(Some("<c@x>"), Some("<b@x>"), Some("<a@x> <b@x>"));
    assert_eq!(irt.as_deref(), Some("<c@x>"));
    assert_eq!(refs, ["<a@x>", "<b@x>", "<c@x>"]);

    // In-Reply-To missing from References goes after them; bare ids get brackets.
    let (irt, refs) = reply_headers(Some("c@x"), Some("<b@x>"), Some("<a@x>"));
    assert_eq!(irt.as_deref(), Some("<c@x>"));
    assert_eq!(refs, ["<a@x>", "<b@x>", "<c@x>"]);

    let (irt, refs) = reply_headers(Some("<c@x>"), None, None);
    assert_eq!(irt.as_deref(), Some("<c@x>"));
    assert_eq!(refs, ["<c@x>"]);

    assert_eq!(reply_headers(None, None, None), (None, Vec::new()));

    // Comments and junk around ids are not ids.
    let (_, refs) = reply_headers(Some("<c@x>"), None, Some("(old) <a@x>\r\n <c@x> junk <>"));
    assert_eq!(refs, ["<a@x>", "<c@x>"]);
}

#[test]
fn subjects_get_one_prefix() {
    use ReferenceAction::{Forward, Reply};
    assert_eq!(prefixed_subject(Reply, "Hello"), "Re: Hello");
    assert_eq!(prefixed_subject(Reply, "Re: Hello"), "Re: Hello");
    assert_eq!(prefixed_subject(Reply, "RE: Hello"), "RE: Hello");
    assert_eq!(prefixed_subject(Reply, "re:Hello"), "re:Hello");
    assert_eq!(prefixed_subject(Reply, "Fwd: Hello"), "Re: Fwd: Hello");
    assert_eq!(prefixed_subject(Reply, "Reply needed"), "Re: Reply needed");
    assert_eq!(prefixed_subject(Forward, "Hello"), "Fwd: Hello");
    assert_eq!(prefixed_subject(Forward, "Fw: Hello"), "Fw: Hello");
    assert_eq!(prefixed_subject(Forward, "FWD: Hello"), "FWD: Hello");
    assert_eq!(prefixed_subject(Forward, "Re: Hello"), "Fwd: Re: Hello");
    assert_eq!(prefixed_subject(Reply, ""), "Re:");
    assert_eq!(prefixed_subject(Reply, "日本語"), "Re: 日本語");
    assert_eq!(prefixed_subject(Reply, "a\r\nBcc: x"), "Re: a  Bcc: x");
    let long = prefixed_subject(Reply, &format!("{} {}", "x".repeat(2000), "y".repeat(10)));
    assert_eq!(long, format!("Re: {}", "x".repeat(MAX_HEADER_WORD)));
    let long = prefixed_subject(Reply, &"ü".repeat(2000));
    assert_eq!(long.chars().count(), MAX_SUBJECT);
    let mut d = MessageDraft::new(addr("", "a@example.com"));
    d.subject = Some(long);
    assert!(d.validate().is_ok());
}

#[test]
fn an_attached_message_is_not_base64() {
    let original = "From: a@example.com\r\nSubject: Vana\r\n\r\nTere, Põder!\r\n";
    let mut d = MessageDraft::new(addr("", "me@example.com"));
    d.to = vec![addr("", "you@example.com")];
    d.text = Some("see below".into());
    let mut a = attachment(Some("Vana.eml"), original.as_bytes());
    a.content_type = Some("message/rfc822".into());
    d.attachments = vec![a];
    let built = d.build(false).unwrap();
    let raw = String::from_utf8(built.raw.clone()).unwrap();
    assert!(raw.contains("Content-Type: message/rfc822"), "{raw}");
    assert!(raw.contains("Content-Transfer-Encoding: 8bit"), "{raw}");
    assert!(
        raw.contains("Tere, Põder!"),
        "the message itself is readable: {raw}"
    );
    let parsed = parse(&built.raw);
    let inner = parsed
        .attachment(0)
        .and_then(|p| p.message())
        .expect("an embedded message");
    assert_eq!(inner.subject(), Some("Vana"));
}
