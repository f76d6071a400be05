//! Tests of `POST /v1/account/:account/message`: the test plays the owning ingest, parses
//! the raw message it is asked to APPEND and compares it with what was posted.

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imapapi_common::bus::RequestServer;
use imapapi_common::command::{
    Command, CommandKind, GetMessage, Reply, UploadMessage, UploadMessageReply, error_reply,
};
use imapapi_common::error::ApiError;
use imapapi_common::model::MessageDetails;
use mail_parser::{HeaderForm, MessageParser, MimeHeaders};
use serde_json::{Value, json};
use support::{Harness, assert_error, harness, harness_with};

const UPLOAD: &str = "/v1/account/example/message";

/// The next command sent to the owner, within a few seconds.
async fn next_command(
    server: &mut Box<dyn RequestServer>,
) -> (Command, Box<dyn imapapi_common::bus::Replier>) {
    let req = tokio::time::timeout(Duration::from_secs(5), server.next())
        .await
        .expect("no command arrived")
        .unwrap();
    (serde_json::from_slice(&req.body).unwrap(), req.replier)
}

async fn post(h: &Harness, body: &Value) -> (u16, Value) {
    h.call("POST", UPLOAD, Some(&body.to_string())).await
}

/// Nothing more reaches the owner.
async fn assert_no_command(server: &mut Box<dyn RequestServer>) {
    let more = tokio::time::timeout(Duration::from_millis(200), server.next()).await;
    assert!(more.is_err(), "an unexpected command was sent");
}

fn stored() -> Vec<u8> {
    serde_json::to_vec(&Reply::Ok(UploadMessageReply {
        id: Some("AAAAAQAAAAc".into()),
        path: "INBOX".into(),
        uid: Some(7),
        seq: Some(3),
    }))
    .unwrap()
}

/// Play ingest for one upload: answer it and hand back what was asked.
async fn serve_upload(server: &mut Box<dyn RequestServer>) -> UploadMessage {
    let (command, replier) = next_command(server).await;
    replier.reply(stored()).await.unwrap();
    match command.kind {
        CommandKind::UploadMessage(u) => u,
        other => panic!("expected an upload, got {other:?}"),
    }
}

async fn owned() -> (Harness, Box<dyn RequestServer>) {
    let h = harness().await;
    h.create_readme_account().await;
    let server = h.own("example", "n1").await;
    (h, server)
}

fn addresses(list: Option<&mail_parser::Address<'_>>) -> Value {
    let list: Vec<Value> = list
        .map(|l| {
            l.iter()
                .map(|a| json!({"name": a.name().unwrap_or_default(), "address": a.address().unwrap_or_default()}))
                .collect()
        })
        .unwrap_or_default();
    Value::Array(list)
}

#[tokio::test]
async fn the_posted_message_is_what_ingest_stores() {
    let (h, mut server) = owned().await;
    let pdf: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let body = json!({
        "path": "INBOX",
        "flags": ["\\Seen", "$Label1"],
        "from": {"name": "Peter Põder", "address": "peter@example.com"},
        "to": [{"name": "日本語", "address": "nihongo@example.jp"}, {"name": "", "address": "plain@example.com"}],
        "cc": [{"name": "Zoë", "address": "zoe@example.org"}],
        "bcc": [{"name": "Hidden", "address": "hidden@example.net"}],
        "subject": "What a wonderful message 🎉",
        "text": "Hello from myself!\r\nÕnnelik.\r\n",
        "html": "<p>Hello from myself! <img src=\"cid:dot@example\"></p>",
        "attachments": [
            {"filename": "arve ülevaade.pdf", "content": STANDARD.encode(&pdf), "contentType": "application/pdf"},
            {"filename": "transparent.gif", "content": "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=",
             "contentType": "image/gif", "cid": "dot@example"}
        ],
        "messageId": "<test123@example.com>",
        "headers": {"X-Campaign": "spring 2026"}
    });
    let call = post(&h, &body);
    let (upload, (status, response)) = tokio::join!(serve_upload(&mut server), call);
    assert_eq!(status, 200, "{response}");
    assert_eq!(
        response,
        json!({"id": "AAAAAQAAAAc", "path": "INBOX", "uid": 7, "seq": 3, "messageId": "<test123@example.com>"})
    );
    assert_eq!(upload.path, "INBOX");
    assert_eq!(upload.flags, ["\\Seen", "$Label1"]);

    let m = MessageParser::default().parse(&upload.raw.0).unwrap();
    assert_eq!(addresses(m.from()), json!([body["from"]]));
    assert_eq!(addresses(m.to()), body["to"]);
    assert_eq!(addresses(m.cc()), body["cc"]);
    assert_eq!(addresses(m.bcc()), body["bcc"], "uploads keep Bcc");
    assert_eq!(m.subject(), body["subject"].as_str());
    assert_eq!(m.body_text(0).as_deref(), body["text"].as_str());
    assert_eq!(m.body_html(0).as_deref(), body["html"].as_str());
    assert_eq!(m.message_id(), Some("test123@example.com"));
    assert_eq!(
        m.header_as("X-Campaign", HeaderForm::Text)[0].as_text(),
        Some("spring 2026")
    );
    let parts: Vec<_> = m.attachments().collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].attachment_name(), Some("transparent.gif"));
    assert_eq!(parts[0].content_id(), Some("dot@example"));
    assert_eq!(
        parts[0].contents(),
        STANDARD
            .decode("R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=")
            .unwrap()
    );
    assert_eq!(parts[1].attachment_name(), Some("arve ülevaade.pdf"));
    assert_eq!(parts[1].contents(), pdf.as_slice());
    assert_no_command(&mut server).await;
}

fn original(subject: &str) -> MessageDetails {
    serde_json::from_value(json!({
        "id": "AAAAAQAAAeE", "uid": 481, "draft": false, "unseen": false, "flagged": false,
        "size": 1234, "subject": subject, "messageId": "<orig@example.com>",
        "inReplyTo": "<parent@example.com>",
        "headers": {
            "references": ["<root@example.com> <parent@example.com>"],
            "in-reply-to": ["<parent@example.com>"]
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn a_reply_gets_threading_headers_and_subject() {
    let (h, mut server) = owned().await;
    let body = json!({
        "path": "Drafts",
        "reference": {"message": "AAAAAQAAAeE", "action": "reply"},
        "from": {"address": "me@example.com"},
        "to": [{"address": "you@example.com"}],
        "text": "Sounds good."
    });
    let ingest = async {
        let (command, replier) = next_command(&mut server).await;
        assert_eq!(
            command.kind,
            CommandKind::GetMessage(GetMessage {
                message: "AAAAAQAAAeE".into(),
                max_bytes: Some(0),
                text_type: None,
            })
        );
        replier
            .reply(serde_json::to_vec(&Reply::Ok(original("Lunch?"))).unwrap())
            .await
            .unwrap();
        serve_upload(&mut server).await
    };
    let (upload, (status, response)) = tokio::join!(ingest, post(&h, &body));
    assert_eq!(status, 200, "{response}");
    assert_eq!(upload.path, "Drafts");
    let m = MessageParser::default().parse(&upload.raw.0).unwrap();
    assert_eq!(m.subject(), Some("Re: Lunch?"));
    assert_eq!(m.in_reply_to().as_text(), Some("orig@example.com"));
    assert_eq!(
        m.references().as_text_list().map(|l| l.to_vec()),
        Some(vec![
            "root@example.com".into(),
            "parent@example.com".into(),
            "orig@example.com".into()
        ])
    );
    let id = response["messageId"].as_str().unwrap();
    assert_eq!(Some(id.trim_matches(['<', '>'])), m.message_id());
}

#[tokio::test]
async fn a_forward_keeps_a_given_subject() {
    let (h, mut server) = owned().await;
    let body = json!({
        "path": "INBOX",
        "reference": {"message": "AAAAAQAAAeE", "action": "FORWARD"},
        "from": {"address": "me@example.com"},
        "subject": "See below"
    });
    let ingest = async {
        let (_, replier) = next_command(&mut server).await;
        replier
            .reply(serde_json::to_vec(&Reply::Ok(original("Fw: Lunch?"))).unwrap())
            .await
            .unwrap();
        serve_upload(&mut server).await
    };
    let (upload, (status, response)) = tokio::join!(ingest, post(&h, &body));
    assert_eq!(status, 200, "{response}");
    let m = MessageParser::default().parse(&upload.raw.0).unwrap();
    assert_eq!(m.subject(), Some("See below"));
    assert_eq!(m.in_reply_to().as_text(), Some("orig@example.com"));
}

#[tokio::test]
async fn a_missing_reference_is_404_and_nothing_is_stored() {
    let (h, mut server) = owned().await;
    let body = json!({
        "path": "INBOX",
        "reference": {"message": "AAAAAQAAAeE"},
        "from": {"address": "me@example.com"}
    });
    let ingest = async {
        let (command, replier) = next_command(&mut server).await;
        assert!(matches!(command.kind, CommandKind::GetMessage(_)));
        replier
            .reply(error_reply(ApiError::not_found("Message was not found")))
            .await
            .unwrap();
    };
    let (_, (status, response)) = tokio::join!(ingest, post(&h, &body));
    assert_error(status, &response, 404, "Message was not found");
    assert_no_command(&mut server).await;
}

/// Each body is refused with a 400 naming `field`, before anything reaches ingest (the
/// account has no owner: a command would have been a 503).
#[tokio::test]
async fn invalid_bodies_name_the_field() {
    let h = harness().await;
    h.create_readme_account().await;
    let ok = || json!({"path": "INBOX", "from": {"address": "me@example.com"}});
    let with = |key: &str, value: Value| {
        let mut b = ok();
        b[key] = value;
        b
    };
    let without = |key: &str| {
        let mut b = ok();
        b.as_object_mut().unwrap().remove(key);
        b
    };
    let cases = [
        (without("path"), "\"path\""),
        (without("from"), "\"from\""),
        (with("path", json!("")), "\"path\""),
        (with("bogus", json!(1)), "\"bogus\""),
        (with("flags", json!(["\\Seen", "bad flag"])), "\"flags[1]\""),
        (
            with(
                "to",
                json!([{"address": "a@example.com"}, {"address": "nope"}]),
            ),
            "\"to[1].address\"",
        ),
        (
            with(
                "to",
                json!([{"name": "x\r\nBcc: v@example.com", "address": "a@example.com"}]),
            ),
            "\"to[0].name\"",
        ),
        (
            with("subject", json!("hi\r\nBcc: v@example.com")),
            "\"subject\"",
        ),
        (with("subject", json!("s".repeat(1025))), "\"subject\""),
        (
            with("headers", json!({"X-Foo": "a\r\nBcc: v@example.com"})),
            "\"headers.X-Foo\"",
        ),
        (
            with("headers", json!({"Message-ID": "<x@y>"})),
            "\"headers.Message-ID\"",
        ),
        (
            with("attachments", json!([{"content": "!!notbase64!!"}])),
            "\"attachments[0].content\"",
        ),
        (
            with(
                "attachments",
                json!([{"content": "", "contentDisposition": "hidden"}]),
            ),
            "\"attachments[0].contentDisposition\"",
        ),
        (
            with("attachments", json!([{"filename": "x.txt"}])),
            "\"attachments[0].content\"",
        ),
        (
            with("messageId", json!("no-brackets-no-at")),
            "\"messageId\"",
        ),
        (
            with("reference", json!({"message": "nope"})),
            "\"reference.message\"",
        ),
        (
            with(
                "reference",
                json!({"message": "AAAAAQAAAeE", "action": "reply-all"}),
            ),
            "\"reference.action\"",
        ),
        (with("to", json!({"address": "a@example.com"})), "\"to\""),
    ];
    for (body, field) in cases {
        let (status, response) = post(&h, &body).await;
        assert_error(status, &response, 400, field);
    }
}

#[tokio::test]
async fn unknown_accounts_and_large_bodies() {
    let h = harness_with(|c| c.api.max_size = 2000).await;
    let body = json!({"path": "INBOX", "from": {"address": "me@example.com"}});
    let (status, response) = h
        .call("POST", "/v1/account/ghost/message", Some(&body.to_string()))
        .await;
    assert_error(status, &response, 404, "ghost");
    let big =
        json!({"path": "INBOX", "from": {"address": "me@example.com"}, "text": "x".repeat(3000)});
    let (status, response) = h.call("POST", UPLOAD, Some(&big.to_string())).await;
    assert_error(status, &response, 413, "");
}
