//! Tests of the message, folder, search, download and reconnect routes through the whole
//! filter stack, with the test playing the ingest process that owns the account: each test
//! checks the command a route sends, the JSON (or bytes and headers) it answers with, and
//! the 400s and 404s it gives before anything is sent.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use imapapi_common::command::*;
use imapapi_common::error::ApiError;
use imapapi_common::ids::{AttachmentId, MessageId, TextId};
use imapapi_common::model::MessageList;
use serde::Serialize;
use serde_json::json;
use warp::Reply as _;
use warp::reply::Response;

use crate::routes::body_stream::RANGE_LENGTH;
use crate::tests::{Harness, assert_error, harness};

/// How the fake ingest answers one command.
type Answer = Box<dyn Fn(&CommandKind) -> Vec<u8> + Send + Sync>;

/// The ingest process owning `example`, played by the test: it answers every command
/// with `answer` and records the commands it saw.
struct FakeIngest {
    seen: Arc<Mutex<Vec<CommandKind>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeIngest {
    fn seen(&self) -> Vec<CommandKind> {
        self.seen.lock().unwrap().clone()
    }

    fn last(&self) -> CommandKind {
        self.seen().pop().expect("no command was sent")
    }

    fn reads(&self) -> Vec<ReadBody> {
        self.seen()
            .into_iter()
            .filter_map(|c| match c {
                CommandKind::ReadBody(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

impl Drop for FakeIngest {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A harness with the README's account `example`, owned by a fake ingest.
async fn owned(answer: Answer) -> (Harness, FakeIngest) {
    let h = harness().await;
    h.create_readme_account().await;
    let mut server = h.own("example", "n1").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok(req) = server.next().await {
            let command: Command = serde_json::from_slice(&req.body).unwrap();
            assert_eq!(command.account, "example");
            let reply = answer(&command.kind);
            record.lock().unwrap().push(command.kind);
            let _ = req.replier.reply(reply).await;
        }
    });
    (h, FakeIngest { seen, task })
}

fn ok<T: Serialize>(value: T) -> Vec<u8> {
    serde_json::to_vec(&Reply::Ok(value)).unwrap()
}

/// An ingest that must not be asked anything.
fn unexpected() -> Answer {
    Box::new(|c| error_reply(ApiError::internal(format!("unexpected command {c:?}"))))
}

const MESSAGE: &str = "AAAAAQAAAeE";

fn message_path(rest: &str) -> String {
    format!("/v1/account/example/message/{MESSAGE}{rest}")
}

#[tokio::test]
async fn text_sends_the_message_id_and_the_text_type() {
    let (h, ingest) = owned(Box::new(|_| {
        ok(TextReply {
            plain: None,
            html: Some("<p>Hello</p>".into()),
            has_more: true,
        })
    }))
    .await;
    let text = TextId {
        message: MessageId::new(1, 481),
    }
    .encode();
    let path = format!("/v1/account/example/text/{text}");
    let (status, body) = h
        .call("GET", &format!("{path}?maxBytes=100&textType=HTML"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"html": "<p>Hello</p>", "hasMore": true}));
    assert_eq!(
        ingest.last(),
        CommandKind::GetText(GetText {
            message: MESSAGE.into(),
            max_bytes: Some(100),
            text_type: TextType::Html,
        })
    );
    let (status, _) = h.call("GET", &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        ingest.last(),
        CommandKind::GetText(GetText {
            message: MESSAGE.into(),
            max_bytes: None,
            text_type: TextType::All,
        })
    );

    let bad = [
        (format!("/v1/account/example/text/{MESSAGE}"), "\"text\""),
        (format!("{path}?textType=rtf"), "\"textType\""),
        (format!("{path}?maxBytes=-1"), "\"maxBytes\""),
        (format!("{path}?maxBytes=1073741825"), "\"maxBytes\""),
        (format!("{path}?other=1"), "\"other\""),
    ];
    for (uri, field) in bad {
        let (status, body) = h.call("GET", &uri, None).await;
        assert_error(status, &body, 400, field);
    }
    assert_eq!(ingest.seen().len(), 2);
}

#[tokio::test]
async fn message_flags_and_labels_are_updated() {
    let (h, ingest) = owned(Box::new(|_| {
        ok(UpdateFlagsReply {
            flags: Some(FlagChanges {
                add: Some(true),
                delete: Some(false),
                set: None,
            }),
            labels: Some(FlagChanges {
                set: Some(true),
                ..Default::default()
            }),
        })
    }))
    .await;
    let update = r#"{"flags":{"add":["\\Seen","$Forwarded"],"delete":["\\Flagged"]},"labels":{"set":["Some label"]}}"#;
    let (status, body) = h.call("PUT", &message_path(""), Some(update)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"flags": {"add": true, "delete": false}, "labels": {"set": true}})
    );
    assert_eq!(
        ingest.last(),
        CommandKind::UpdateFlags(UpdateFlags {
            message: MESSAGE.into(),
            flags: Some(FlagUpdate {
                add: Some(vec!["\\Seen".into(), "$Forwarded".into()]),
                delete: Some(vec!["\\Flagged".into()]),
                set: None,
            }),
            labels: Some(FlagUpdate {
                set: Some(vec!["Some label".into()]),
                ..Default::default()
            }),
        })
    );

    let many = serde_json::to_string(&json!({"flags": {"set": vec!["\\Seen"; 101]}})).unwrap();
    let bad = [
        (r#"{"flags":{"add":["\\Seen","a b"]}}"#, "\"flags.add[1]\""),
        (r#"{"flags":{"delete":["x)"]}}"#, "\"flags.delete[0]\""),
        (r#"{"labels":{"add":[""]}}"#, "\"labels.add[0]\""),
        (r#"{"labels":{"set":["a\nb"]}}"#, "\"labels.set[0]\""),
        (many.as_str(), "\"flags.set\""),
        ("{}", "\"flags\" or \"labels\""),
        (r#"{"flags":{}}"#, "\"flags\""),
        (
            r#"{"flags":{"add":["\\Seen"],"nope":[]}}"#,
            "\"flags.nope\"",
        ),
        (r#"{"flagz":{"add":["\\Seen"]}}"#, "\"flagz\""),
        (r#"{"flags":{"add":"\\Seen"}}"#, "\"flags.add\""),
    ];
    for (body_text, field) in bad {
        let (status, body) = h.call("PUT", &message_path(""), Some(body_text)).await;
        assert_error(status, &body, 400, field);
    }
    let (status, body) = h
        .call(
            "PUT",
            "/v1/account/example/message/AAAA",
            Some(r#"{"flags":{"add":["\\Seen"]}}"#),
        )
        .await;
    assert_error(status, &body, 400, "\"message\"");
    assert_eq!(ingest.seen().len(), 1);
}

#[tokio::test]
async fn messages_are_moved_and_deleted() {
    let (h, ingest) = owned(Box::new(|c| match c {
        CommandKind::MoveMessage(_) => ok(MoveMessageReply {
            path: "Archive".into(),
            id: Some("AAAAAgAAAAE".into()),
            uid: Some(1),
        }),
        CommandKind::DeleteMessage(d) if d.force => ok(DeleteMessageReply {
            deleted: true,
            moved: None,
        }),
        CommandKind::DeleteMessage(_) => ok(DeleteMessageReply {
            deleted: true,
            moved: Some(MovedTo {
                destination: "Trash".into(),
                message_id: Some("AAAAAwAAAWg".into()),
            }),
        }),
        _ => error_reply(ApiError::internal("unexpected")),
    }))
    .await;
    let (status, body) = h
        .call("PUT", &message_path("/move"), Some(r#"{"path":"Archive"}"#))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"path": "Archive", "id": "AAAAAgAAAAE", "uid": 1})
    );
    assert_eq!(
        ingest.last(),
        CommandKind::MoveMessage(MoveMessage {
            message: MESSAGE.into(),
            path: "Archive".into(),
        })
    );

    let (status, body) = h.call("DELETE", &message_path(""), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"deleted": true, "moved": {"destination": "Trash", "messageId": "AAAAAwAAAWg"}})
    );
    assert_eq!(
        ingest.last(),
        CommandKind::DeleteMessage(DeleteMessage {
            message: MESSAGE.into(),
            force: false,
        })
    );
    let (status, body) = h.call("DELETE", &message_path("?force=true"), None).await;
    assert_eq!((status, body), (200, json!({"deleted": true})));
    assert_eq!(
        ingest.last(),
        CommandKind::DeleteMessage(DeleteMessage {
            message: MESSAGE.into(),
            force: true,
        })
    );

    let bad = [
        ("PUT", message_path("/move"), Some("{}"), "\"path\""),
        (
            "PUT",
            message_path("/move"),
            Some(r#"{"path":""}"#),
            "\"path\"",
        ),
        (
            "PUT",
            message_path("/move"),
            Some(r#"{"path":"a\r\nb"}"#),
            "\"path\"",
        ),
        (
            "PUT",
            message_path("/move"),
            Some(r#"{"path":"A","x":1}"#),
            "\"x\"",
        ),
        (
            "PUT",
            "/v1/account/example/message/!!/move".into(),
            Some(r#"{"path":"A"}"#),
            "\"message\"",
        ),
        ("DELETE", message_path("?force=maybe"), None, "\"force\""),
        ("DELETE", message_path("?expunge=1"), None, "\"expunge\""),
        (
            "DELETE",
            "/v1/account/example/message/AAAAAQAAAe".into(),
            None,
            "\"message\"",
        ),
    ];
    for (method, uri, body_text, field) in bad {
        let (status, body) = h.call(method, &uri, body_text).await;
        assert_error(status, &body, 400, field);
    }
    assert_eq!(ingest.seen().len(), 3);
}

#[tokio::test]
async fn search_pages_like_the_listing() {
    let (h, ingest) = owned(Box::new(|_| {
        ok(MessageList {
            total: 1,
            page: 0,
            pages: 1,
            messages: serde_json::from_value(json!([{
                "id": MESSAGE, "uid": 481, "draft": false, "unseen": true,
                "flagged": false, "size": 4334, "subject": "Test message"
            }]))
            .unwrap(),
        })
    }))
    .await;
    let query = r#"{"search":{"unseen":true,"from":"andris@example.com","since":"2024-01-02","header":{"X-Test":true}}}"#;
    let (status, body) = h
        .call(
            "POST",
            "/v1/account/example/search?path=INBOX&page=2&pageSize=5",
            Some(query),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["pages"], 1);
    assert_eq!(body["messages"][0]["id"], MESSAGE);
    let CommandKind::Search(sent) = ingest.last() else {
        panic!("not a search");
    };
    assert_eq!(
        (sent.path.as_str(), sent.page, sent.page_size),
        ("INBOX", 2, 5)
    );
    let want: SearchQuery = serde_json::from_value(json!({
        "unseen": true, "from": "andris@example.com", "since": "2024-01-02",
        "header": {"X-Test": true}
    }))
    .unwrap();
    assert_eq!(sent.query, want);
    h.call(
        "POST",
        "/v1/account/example/search?path=INBOX",
        Some(r#"{"search":{}}"#),
    )
    .await;
    let CommandKind::Search(sent) = ingest.last() else {
        panic!("not a search");
    };
    assert_eq!((sent.page, sent.page_size), (0, 20));

    let ok_query = Some(r#"{"search":{"seen":false}}"#);
    let bad = [
        (
            "?path=INBOX",
            Some(r#"{"search":{"bogus":1}}"#),
            "\"search.bogus\"",
        ),
        (
            "?path=INBOX",
            Some(r#"{"search":{"uid":"1 OR 2"}}"#),
            "\"search.uid\"",
        ),
        (
            "?path=INBOX",
            Some(r#"{"search":{"since":"soon"}}"#),
            "\"search.since\"",
        ),
        ("?path=INBOX", Some("{}"), "\"search\""),
        (
            "?path=INBOX",
            Some(r#"{"search":{},"extra":1}"#),
            "\"extra\"",
        ),
        ("", ok_query, "\"path\""),
        ("?path=INBOX&pageSize=0", ok_query, "\"pageSize\""),
        ("?path=INBOX&page=x", ok_query, "\"page\""),
        ("?path=INBOX&sort=asc", ok_query, "\"sort\""),
    ];
    for (params, body_text, field) in bad {
        let uri = format!("/v1/account/example/search{params}");
        let (status, body) = h.call("POST", &uri, body_text).await;
        assert_error(status, &body, 400, field);
    }
    assert_eq!(ingest.seen().len(), 2);
}

#[tokio::test]
async fn mailboxes_are_created_renamed_and_deleted() {
    let (h, ingest) = owned(Box::new(|c| match c {
        CommandKind::CreateMailbox(_) => ok(CreateMailboxReply {
            path: "Parent/Child".into(),
            mailbox_id: Some("7".into()),
            created: true,
        }),
        CommandKind::RenameMailbox(_) => ok(RenameMailboxReply {
            path: "Old".into(),
            new_path: "New/Name".into(),
            renamed: true,
        }),
        CommandKind::DeleteMailbox(_) => ok(DeleteMailboxReply {
            path: "Parent/Child".into(),
            deleted: true,
        }),
        _ => error_reply(ApiError::internal("unexpected")),
    }))
    .await;
    let uri = "/v1/account/example/mailbox";
    let (status, body) = h
        .call("POST", uri, Some(r#"{"path":["Parent","Child"]}"#))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"path": "Parent/Child", "mailboxId": "7", "created": true})
    );
    assert_eq!(
        ingest.last(),
        CommandKind::CreateMailbox(CreateMailbox {
            path: vec!["Parent".into(), "Child".into()],
        })
    );
    let (status, body) = h
        .call(
            "PUT",
            uri,
            Some(r#"{"path":"Old","newPath":["New","Name"]}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"path": "Old", "newPath": "New/Name", "renamed": true})
    );
    assert_eq!(
        ingest.last(),
        CommandKind::RenameMailbox(RenameMailbox {
            path: "Old".into(),
            new_path: vec!["New".into(), "Name".into()],
        })
    );
    let (status, body) = h
        .call("DELETE", &format!("{uri}?path=Parent%2FChild"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"path": "Parent/Child", "deleted": true}));
    assert_eq!(
        ingest.last(),
        CommandKind::DeleteMailbox(DeleteMailbox {
            path: "Parent/Child".into(),
        })
    );

    let long = serde_json::to_string(&json!({"path": ["x".repeat(257)]})).unwrap();
    let deep = serde_json::to_string(&json!({"path": vec!["x"; 33]})).unwrap();
    let bad = [
        ("POST", uri.to_string(), Some(r#"{"path":[]}"#), "\"path\""),
        (
            "POST",
            uri.to_string(),
            Some(r#"{"path":["a",""]}"#),
            "\"path[1]\"",
        ),
        (
            "POST",
            uri.to_string(),
            Some(r#"{"path":["a","b\nc"]}"#),
            "\"path[1]\"",
        ),
        ("POST", uri.to_string(), Some(long.as_str()), "\"path[0]\""),
        ("POST", uri.to_string(), Some(deep.as_str()), "\"path\""),
        (
            "POST",
            uri.to_string(),
            Some(r#"{"path":"INBOX/Sub"}"#),
            "\"path\"",
        ),
        (
            "POST",
            uri.to_string(),
            Some(r#"{"path":["a"],"x":1}"#),
            "\"x\"",
        ),
        (
            "PUT",
            uri.to_string(),
            Some(r#"{"path":"Old","newPath":[""]}"#),
            "\"newPath[0]\"",
        ),
        (
            "PUT",
            uri.to_string(),
            Some(r#"{"path":"","newPath":["N"]}"#),
            "\"path\"",
        ),
        (
            "PUT",
            uri.to_string(),
            Some(r#"{"path":"Old"}"#),
            "\"newPath\"",
        ),
        ("DELETE", uri.to_string(), None, "\"path\""),
        ("DELETE", format!("{uri}?path="), None, "\"path\""),
        ("DELETE", format!("{uri}?path=A&x=1"), None, "\"x\""),
    ];
    for (method, uri, body_text, field) in bad {
        let (status, body) = h.call(method, &uri, body_text).await;
        assert_error(status, &body, 400, field);
    }
    assert_eq!(ingest.seen().len(), 3);
}

#[tokio::test]
async fn reconnect_waits_for_the_owner_only_when_asked() {
    let (h, ingest) = owned(Box::new(|_| ok(Done {}))).await;
    let uri = "/v1/account/example/reconnect";
    let (status, body) = h.call("PUT", uri, Some(r#"{"reconnect":true}"#)).await;
    assert_eq!((status, body), (200, json!({"reconnect": true})));
    assert_eq!(ingest.seen(), [CommandKind::Reconnect(Reconnect {})]);
    let (status, body) = h.call("PUT", uri, Some(r#"{"reconnect":false}"#)).await;
    assert_eq!((status, body), (200, json!({"reconnect": false})));
    let (status, body) = h.call("PUT", uri, Some("{}")).await;
    assert_eq!((status, body), (200, json!({"reconnect": false})));
    assert_eq!(ingest.seen().len(), 1);
    let (status, body) = h.call("PUT", uri, Some(r#"{"reconnect":"soon"}"#)).await;
    assert_error(status, &body, 400, "\"reconnect\"");
    let (status, body) = h.call("PUT", uri, Some(r#"{"restart":true}"#)).await;
    assert_error(status, &body, 400, "\"restart\"");
}

#[tokio::test]
async fn reconnect_without_an_owner_is_503() {
    let h = harness().await;
    h.create_readme_account().await;
    let (status, body) = h
        .call(
            "PUT",
            "/v1/account/example/reconnect",
            Some(r#"{"reconnect":true}"#),
        )
        .await;
    assert_error(status, &body, 503, "example");
}

#[tokio::test]
async fn unknown_accounts_are_404_on_every_route() {
    let h = harness().await;
    let attachment = AttachmentId {
        message: MessageId::new(1, 481),
        part: "2".into(),
    }
    .encode();
    let text = TextId {
        message: MessageId::new(1, 481),
    }
    .encode();
    let base = "/v1/account/ghost";
    let routes = [
        ("GET", format!("{base}/text/{text}"), None),
        ("GET", format!("{base}/attachment/{attachment}"), None),
        ("GET", format!("{base}/message/{MESSAGE}/source"), None),
        (
            "PUT",
            format!("{base}/message/{MESSAGE}"),
            Some(r#"{"flags":{"add":["\\Seen"]}}"#),
        ),
        (
            "PUT",
            format!("{base}/message/{MESSAGE}/move"),
            Some(r#"{"path":"A"}"#),
        ),
        ("DELETE", format!("{base}/message/{MESSAGE}"), None),
        (
            "POST",
            format!("{base}/search?path=INBOX"),
            Some(r#"{"search":{}}"#),
        ),
        ("POST", format!("{base}/mailbox"), Some(r#"{"path":["A"]}"#)),
        (
            "PUT",
            format!("{base}/mailbox"),
            Some(r#"{"path":"A","newPath":["B"]}"#),
        ),
        ("DELETE", format!("{base}/mailbox?path=A"), None),
        (
            "PUT",
            format!("{base}/reconnect"),
            Some(r#"{"reconnect":true}"#),
        ),
    ];
    for (method, uri, body_text) in routes {
        let (status, body) = h.call(method, &uri, body_text).await;
        assert_error(status, &body, 404, "ghost");
    }
}

#[tokio::test]
async fn download_ids_are_checked_first() {
    let (h, ingest) = owned(unexpected()).await;
    for bad in [MESSAGE, "AAAAAQAAAeE", "AAAAAQAAAeFhLWI", "!!"] {
        let (status, body) = h
            .call(
                "GET",
                &format!("/v1/account/example/attachment/{bad}"),
                None,
            )
            .await;
        assert_error(status, &body, 400, "\"attachment\"");
    }
    let (status, body) = h
        .call("GET", "/v1/account/example/message/AAAA/source", None)
        .await;
    assert_error(status, &body, 400, "\"message\"");
    let (status, body) = h.call("GET", &message_path("/source?x=1"), None).await;
    assert_error(status, &body, 400, "\"x\"");
    assert!(ingest.seen().is_empty());
}

/// A body served in ranges by the fake ingest: at most `length` bytes from `offset`,
/// further capped by `max_range` to cut it at awkward places.
fn serve_body(encoded: Vec<u8>, info: PartInfo, max_range: fn(u64) -> usize) -> Answer {
    Box::new(move |c| {
        let CommandKind::ReadBody(r) = c else {
            return error_reply(ApiError::internal("unexpected"));
        };
        let start = (r.offset as usize).min(encoded.len());
        let len = (r.length as usize).min(max_range(r.offset));
        let end = (start + len).min(encoded.len());
        ok(BodyChunk {
            info: (r.offset == 0).then(|| info.clone()),
            data: WireBytes(encoded[start..end].to_vec()),
            eof: end == encoded.len(),
        })
    })
}

/// Deterministic bytes that are not a repeating pattern.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

/// Base64 in 76-character lines, as MIME writes it.
fn mime_base64(data: &[u8]) -> Vec<u8> {
    let encoded = STANDARD.encode(data);
    let mut out = Vec::new();
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn attachment_uri(part: &str) -> String {
    let id = AttachmentId {
        message: MessageId::new(1, 481),
        part: part.into(),
    };
    format!("/v1/account/example/attachment/{}", id.encode())
}

fn header<'a>(res: &'a warp::http::Response<Bytes>, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn attachment_is_decoded_across_1_mib_ranges() {
    // 1 MiB ranges of 78-byte lines end mid-line and mid-quantum.
    let data = noise(2_600_000);
    let encoded = mime_base64(&data);
    let info = PartInfo {
        content_type: "application/pdf".into(),
        filename: Some("Résumé 2024.pdf".into()),
        encoding: Some("base64".into()),
        disposition: Some("attachment".into()),
        size: encoded.len() as u64,
        ..Default::default()
    };
    let (h, ingest) = owned(serve_body(encoded.clone(), info, |_| usize::MAX)).await;
    let res = warp::test::request()
        .path(&attachment_uri("2"))
        .reply(&crate::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), Some("application/pdf"));
    assert_eq!(
        header(&res, "content-disposition"),
        Some(
            "attachment; filename=\"R_sum_ 2024.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202024.pdf"
        )
    );
    assert_eq!(header(&res, "content-length"), None);
    assert!(res.body()[..] == data[..], "decoded body differs");

    let reads = ingest.reads();
    let ranges = encoded.len().div_ceil(RANGE_LENGTH as usize);
    assert_eq!(reads.len(), ranges);
    for (i, r) in reads.iter().enumerate() {
        assert_eq!(r.message, MESSAGE);
        assert_eq!(r.part.as_deref(), Some("2"));
        assert_eq!(r.offset, i as u64 * RANGE_LENGTH as u64);
        assert_eq!(r.length, RANGE_LENGTH);
    }
}

#[tokio::test]
async fn quoted_printable_is_decoded_across_tiny_ranges() {
    let encoded = b"caf=C3=A9 au lait=\r\n, s'il vous pla=\r\n=C3=AEt  \r\n=3D=\r\nend".to_vec();
    let info = PartInfo {
        content_type: "text/plain".into(),
        charset: Some("utf-8".into()),
        filename: Some("notes.txt".into()),
        encoding: Some("quoted-printable".into()),
        size: encoded.len() as u64,
        ..Default::default()
    };
    // Ranges of 1, 2 and 3 bytes cut through every escape and soft break.
    let (h, ingest) = owned(serve_body(encoded.clone(), info, |o| 1 + o as usize % 3)).await;
    let res = warp::test::request()
        .path(&attachment_uri("1.2"))
        .reply(&crate::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        std::str::from_utf8(res.body()).unwrap(),
        "café au lait, s'il vous plaît\r\n=end"
    );
    assert_eq!(
        header(&res, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        header(&res, "content-disposition"),
        Some("attachment; filename=\"notes.txt\"")
    );
    let reads = ingest.reads();
    assert!(reads.len() > 20);
    let mut offset = 0;
    for r in &reads {
        assert_eq!(r.offset, offset, "ranges follow each other");
        offset += 1 + offset % 3;
    }
}

#[tokio::test]
async fn a_small_attachment_has_its_length() {
    let info = PartInfo {
        content_type: "image/png".into(),
        encoding: Some("base64".into()),
        size: 8,
        ..Default::default()
    };
    let (h, _ingest) = owned(serve_body(b"iVBORw==".to_vec(), info, |_| usize::MAX)).await;
    let res = warp::test::request()
        .path(&attachment_uri("2"))
        .reply(&crate::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body()[..], b"\x89PNG");
    assert_eq!(header(&res, "content-length"), Some("4"));
    assert_eq!(header(&res, "content-disposition"), Some("attachment"));
    assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn source_streams_the_raw_message() {
    let source = b"From: a@example.com\r\nSubject: hi\r\n\r\nSGVsbG8=\r\n=41\r\n".to_vec();
    let info = PartInfo {
        content_type: "message/rfc822".into(),
        // The source is never decoded, whatever a part's encoding.
        encoding: Some("base64".into()),
        size: source.len() as u64,
        ..Default::default()
    };
    let (h, ingest) = owned(serve_body(source.clone(), info, |_| 7)).await;
    let res = warp::test::request()
        .path(&message_path("/source"))
        .reply(&crate::routes(h.services.clone()))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(&res.body()[..], &source[..]);
    assert_eq!(header(&res, "content-type"), Some("message/rfc822"));
    let reads = ingest.reads();
    assert_eq!(reads.len(), source.len().div_ceil(7));
    assert!(
        reads
            .iter()
            .all(|r| r.part.is_none() && r.message == MESSAGE)
    );
    assert_eq!(reads[1].offset, 7);
}

#[tokio::test]
async fn a_failing_first_range_is_a_json_error() {
    let (h, _ingest) = owned(Box::new(|_| {
        error_reply(ApiError::not_found("Message was not found"))
    }))
    .await;
    let (status, body) = h.call("GET", &attachment_uri("2"), None).await;
    assert_error(status, &body, 404, "Message was not found");
    let (status, body) = h.call("GET", &message_path("/source"), None).await;
    assert_error(status, &body, 404, "Message was not found");
}

/// The response of the routes to a GET of `uri`, with its body not read yet.
async fn open(h: &Harness, uri: &str) -> Response {
    warp::test::request()
        .path(uri)
        .filter(&crate::routes(h.services.clone()))
        .await
        .unwrap_or_else(|e| match e {})
        .into_response()
}

/// The next frame of a response body: `None` at its end, `Some(Err)` when it broke off.
async fn next_frame(res: &mut Response) -> Option<Result<Bytes, warp::Error>> {
    use warp::hyper::body::Body as _;
    let body = res.body_mut();
    let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
    Some(frame.map(|f| f.into_data().unwrap_or_default()))
}

#[tokio::test]
async fn a_failing_later_range_cuts_the_transfer_short() {
    let data = noise(3000);
    let encoded = mime_base64(&data);
    let chunk = encoded.clone();
    let (h, _ingest) = owned(Box::new(move |c| {
        let CommandKind::ReadBody(r) = c else {
            return error_reply(ApiError::internal("unexpected"));
        };
        if r.offset > 0 {
            return error_reply(ApiError::imap("Connection lost"));
        }
        ok(BodyChunk {
            info: Some(PartInfo {
                content_type: "application/octet-stream".into(),
                encoding: Some("base64".into()),
                ..Default::default()
            }),
            data: WireBytes(chunk[..1000].to_vec()),
            eof: false,
        })
    }))
    .await;
    let mut res = open(&h, &attachment_uri("2")).await;
    assert_eq!(res.status(), 200);
    let mut got = Vec::new();
    let outcome = loop {
        match next_frame(&mut res).await {
            Some(Ok(bytes)) => got.extend_from_slice(&bytes),
            other => break other,
        }
    };
    assert!(
        matches!(outcome, Some(Err(_))),
        "the body must end in an error"
    );
    let mut want = Vec::new();
    crate::transfer_decoding::TransferDecoder::for_encoding(Some("base64"))
        .decode(&encoded[..1000], &mut want);
    assert_eq!(got, want);
}

#[tokio::test]
async fn downloads_read_ahead_at_most_one_range() {
    let encoded = noise(5 * RANGE_LENGTH as usize + 10);
    let info = PartInfo {
        content_type: "application/octet-stream".into(),
        size: encoded.len() as u64,
        ..Default::default()
    };
    let (h, ingest) = owned(serve_body(encoded.clone(), info, |_| usize::MAX)).await;
    let mut res = open(&h, &attachment_uri("2")).await;
    assert_eq!(res.status(), 200);
    // Nobody reads the body: the first range waits in the channel and the producer holds
    // the second, and asks for nothing more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ingest.reads().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ingest.reads().len(), 2);
    let mut got = Vec::new();
    while let Some(frame) = next_frame(&mut res).await {
        got.extend_from_slice(&frame.unwrap());
    }
    assert!(got == encoded, "body differs");
    assert_eq!(ingest.reads().len(), 6);
}

#[tokio::test]
async fn a_download_stops_when_the_client_goes_away() {
    let encoded = noise(5 * RANGE_LENGTH as usize);
    let info = PartInfo {
        content_type: "application/octet-stream".into(),
        size: encoded.len() as u64,
        ..Default::default()
    };
    let (h, ingest) = owned(serve_body(encoded, info, |_| usize::MAX)).await;
    let mut res = open(&h, &attachment_uri("2")).await;
    assert!(next_frame(&mut res).await.unwrap().is_ok());
    drop(res);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reads = ingest.reads().len();
    assert!(reads <= 3, "{reads} ranges read for a client that left");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ingest.reads().len(), reads);
}

/// GET `uri` over a real connection to the served api; the raw response bytes.
async fn get_over_tcp(h: &Harness, uri: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(crate::serve_on(
        h.services.clone(),
        listener,
        shutdown.clone(),
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {uri} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the response did not end")
        .ok();
    shutdown.cancel();
    let _ = server.await;
    out
}

#[tokio::test]
async fn over_http_a_cut_transfer_lacks_the_last_chunk() {
    let encoded = noise(RANGE_LENGTH as usize + 100);
    let info = PartInfo {
        content_type: "application/octet-stream".into(),
        ..Default::default()
    };
    let whole = serve_body(encoded, info, |_| usize::MAX);
    let (h, _ingest) = owned(Box::new(move |c| match c {
        CommandKind::ReadBody(r) if r.offset > 0 => error_reply(ApiError::imap("Connection lost")),
        c => whole(c),
    }))
    .await;
    let out = get_over_tcp(&h, &attachment_uri("2")).await;
    let head = String::from_utf8_lossy(&out[..200]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(out.len() > RANGE_LENGTH as usize);
    assert!(
        !out.ends_with(b"0\r\n\r\n"),
        "a cut transfer must not look complete"
    );
}

#[tokio::test]
async fn over_http_a_whole_transfer_ends_properly() {
    let encoded = noise(RANGE_LENGTH as usize + 100);
    let info = PartInfo {
        content_type: "application/octet-stream".into(),
        ..Default::default()
    };
    let (h, _ingest) = owned(serve_body(encoded, info, |_| usize::MAX)).await;
    let out = get_over_tcp(&h, &attachment_uri("2")).await;
    assert!(out.starts_with(b"HTTP/1.1 200"));
    assert!(out.ends_with(b"\r\n0\r\n\r\n"));
}
