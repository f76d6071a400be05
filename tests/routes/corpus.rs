//! A corpus of tricky MIME, built byte by byte here so every case says exactly what is on
//! the wire: legacy charsets, encoded words, RFC 2231 filenames, nesting, inline images, a
//! calendar invite, a broken boundary and a raw 8-bit header. Each case carries what a
//! user must read back through the API.

use base64::Engine;

/// One message and what the API must show for it.
pub struct Case {
    pub name: &'static str,
    pub raw: Vec<u8>,
    pub subject: &'static str,
    /// Text the plain body must contain after decoding.
    pub plain: Option<&'static str>,
    /// Text the html body must contain after decoding.
    pub html: Option<&'static str>,
    /// Attachments: (filename, content type, decoded bytes).
    pub attachments: Vec<(Option<&'static str>, &'static str, Vec<u8>)>,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn crlf(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn single(subject_header: &[u8], ctype: &[u8], cte: &[u8], body: &[u8]) -> Vec<u8> {
    crlf(&[
        b"From: Sender <sender@example.com>",
        b"To: rcpt@example.com",
        subject_header,
        b"MIME-Version: 1.0",
        ctype,
        cte,
        b"",
        body,
    ])
}

/// A PNG-like binary blob with every byte value, so decoding mistakes show.
pub fn binary_blob(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

pub fn cases() -> Vec<Case> {
    let blob = binary_blob(3000);
    let mut cases = vec![
        Case {
            name: "iso-8859-1 quoted-printable",
            raw: single(
                b"Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=",
                b"Content-Type: text/plain; charset=ISO-8859-1",
                b"Content-Transfer-Encoding: quoted-printable",
                b"caf=E9 cr=E8me br=FBl=E9e",
            ),
            subject: "Café crème",
            plain: Some("café crème brûlée"),
            html: None,
            attachments: vec![],
        },
        Case {
            name: "windows-1252 8bit",
            raw: single(
                b"Subject: =?windows-1252?Q?=93Quoted=94_=80uro?=",
                b"Content-Type: text/plain; charset=windows-1252",
                b"Content-Transfer-Encoding: 8bit",
                b"\x93smart quotes\x94 cost 5\x80",
            ),
            subject: "“Quoted” €uro",
            plain: Some("“smart quotes” cost 5€"),
            html: None,
            attachments: vec![],
        },
        Case {
            name: "koi8-r base64",
            raw: single(
                b"Subject: =?KOI8-R?B?8NLJ18XU?=",
                b"Content-Type: text/plain; charset=KOI8-R",
                b"Content-Transfer-Encoding: base64",
                b64(b"\xf0\xd2\xc9\xd7\xc5\xd4, \xcd\xc9\xd2").as_bytes(),
            ),
            subject: "Привет",
            plain: Some("Привет, мир"),
            html: None,
            attachments: vec![],
        },
        Case {
            name: "shift_jis",
            raw: single(
                b"Subject: =?Shift_JIS?B?k/qWe4zq?=",
                b"Content-Type: text/plain; charset=Shift_JIS",
                b"Content-Transfer-Encoding: 8bit",
                b"\x93\xfa\x96\x7b\x8c\xea\x82\xcc\x83\x65\x83\x4c\x83\x58\x83\x67",
            ),
            subject: "日本語",
            plain: Some("日本語のテキスト"),
            html: None,
            attachments: vec![],
        },
        Case {
            name: "gb2312 html",
            raw: single(
                b"Subject: =?GB2312?B?1tDOxA==?=",
                b"Content-Type: text/html; charset=GB2312",
                b"Content-Transfer-Encoding: 8bit",
                b"<p>\xd6\xd0\xce\xc4</p>",
            ),
            subject: "中文",
            plain: None,
            html: Some("<p>中文</p>"),
            attachments: vec![],
        },
        Case {
            name: "8-bit utf-8 header",
            raw: single(
                "Subject: Grüße aus Köln".as_bytes(),
                b"Content-Type: text/plain; charset=utf-8",
                b"Content-Transfer-Encoding: 8bit",
                "Schöne Grüße".as_bytes(),
            ),
            subject: "Grüße aus Köln",
            plain: Some("Schöne Grüße"),
            html: None,
            attachments: vec![],
        },
    ];
    // RFC 2231 filename, nested alternative, inline image with Content-ID.
    let mut raw = crlf(&[
        b"From: Sender <sender@example.com>",
        b"To: rcpt@example.com",
        b"Subject: =?UTF-8?B?TmVzdGVkIOKcqA==?=",
        b"MIME-Version: 1.0",
        b"Content-Type: multipart/mixed; boundary=\"outer\"",
        b"",
        b"--outer",
        b"Content-Type: multipart/related; boundary=\"rel\"",
        b"",
        b"--rel",
        b"Content-Type: multipart/alternative; boundary=\"alt\"",
        b"",
        b"--alt",
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Transfer-Encoding: quoted-printable",
        b"",
        b"plain =E2=9C=A8 part",
        b"--alt",
        b"Content-Type: text/html; charset=utf-8",
        b"",
        b"<p>html <img src=\"cid:logo@x\"></p>",
        b"--alt--",
        b"--rel",
        b"Content-Type: image/png",
        b"Content-ID: <logo@x>",
        b"Content-Disposition: inline",
        b"Content-Transfer-Encoding: base64",
        b"",
    ]);
    raw.extend_from_slice(&crlf(&[b64(&blob[..300]).as_bytes(), b"--rel--"]));
    raw.extend_from_slice(&crlf(&[
        b"--outer",
        b"Content-Type: application/octet-stream",
        b"Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%E2%82%AC.bin",
        b"Content-Transfer-Encoding: base64",
        b"",
    ]));
    let encoded = b64(&blob);
    let lines: Vec<&[u8]> = encoded.as_bytes().chunks(76).collect();
    raw.extend_from_slice(&crlf(&lines));
    raw.extend_from_slice(&crlf(&[
        b"--outer",
        b"Content-Type: message/rfc822",
        b"",
        b"Subject: inner",
        b"From: inner@example.com",
        b"",
        b"inner body",
        b"--outer--",
    ]));
    cases.push(Case {
        name: "nested with inline image, rfc2231 name and message/rfc822",
        raw,
        subject: "Nested ✨",
        plain: Some("plain ✨ part"),
        html: Some("cid:logo@x"),
        attachments: vec![
            (None, "image/png", blob[..300].to_vec()),
            (
                Some("résumé €.bin"),
                "application/octet-stream",
                blob.clone(),
            ),
            (
                None,
                "message/rfc822",
                b"Subject: inner\r\nFrom: inner@example.com\r\n\r\ninner body".to_vec(),
            ),
        ],
    });
    // A calendar invite.
    let ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Planning\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    cases.push(Case {
        name: "calendar invite",
        raw: crlf(&[
            b"From: Sender <sender@example.com>",
            b"To: rcpt@example.com",
            b"Subject: Invitation: Planning",
            b"MIME-Version: 1.0",
            b"Content-Type: multipart/mixed; boundary=\"b1\"",
            b"",
            b"--b1",
            b"Content-Type: text/plain; charset=utf-8",
            b"",
            b"You are invited",
            b"--b1",
            b"Content-Type: text/calendar; charset=utf-8; method=REQUEST; name=\"invite.ics\"",
            b"Content-Transfer-Encoding: base64",
            b"",
            b64(ics.as_bytes()).as_bytes(),
            b"--b1--",
        ]),
        subject: "Invitation: Planning",
        plain: Some("You are invited"),
        html: None,
        attachments: vec![(Some("invite.ics"), "text/calendar", ics.as_bytes().to_vec())],
    });
    // A boundary that never closes: what is there is still shown.
    cases.push(Case {
        name: "broken boundary",
        raw: crlf(&[
            b"From: Sender <sender@example.com>",
            b"To: rcpt@example.com",
            b"Subject: Broken",
            b"MIME-Version: 1.0",
            b"Content-Type: multipart/mixed; boundary=\"never\"",
            b"",
            b"--never",
            b"Content-Type: text/plain; charset=utf-8",
            b"",
            b"text before the end that never comes",
        ]),
        subject: "Broken",
        plain: Some("text before the end"),
        html: None,
        attachments: vec![],
    });
    cases
}
