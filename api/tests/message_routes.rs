//! Tests of the message, text, search and mailbox routes through the whole filter stack,
//! with the test playing the ingest process that owns the account: each test checks the
//! command a route sends, the JSON it answers with, and the 400s it gives before anything
//! is sent.

mod support;

use imapapi_common::command::*;
use imapapi_common::error::ApiError;
use imapapi_common::ids::{MessageId, TextId};
use imapapi_common::model::MessageList;
use serde_json::json;
use support::{MESSAGE, assert_error, harness, message_path, ok, owned};

#[tokio::test]
async fn message_ids_and_paths_are_checked_first() {
    let h = harness().await;
    h.create_readme_account().await;
    for bad in ["AAAA", "AAAAAQAAAeEAAAAA", "!!!!!!!!!!!", "AAAAAQAAAe%2B"] {
        let (status, body) = h
            .call("GET", &format!("/v1/account/example/message/{bad}"), None)
            .await;
        assert_error(status, &body, 400, "\"message\"");
    }
    let (status, body) = h.call("GET", "/v1/account/example/messages", None).await;
    assert_error(status, &body, 400, "\"path\"");
    let (status, body) = h
        .call(
            "GET",
            "/v1/account/example/messages?path=INBOX&pageSize=1001",
            None,
        )
        .await;
    assert_error(status, &body, 400, "\"pageSize\"");
    let (status, body) = h
        .call(
            "GET",
            "/v1/account/example/message/AAAAAQAAAeE?textType=rtf",
            None,
        )
        .await;
    assert_error(status, &body, 400, "\"textType\"");
}

#[tokio::test]
async fn commands_round_trip_through_the_owner() {
    let h = harness().await;
    h.create_readme_account().await;
    let mut server = h.own("example", "n1").await;
    let ingest = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let req = server.next().await.unwrap();
            let command: Command = serde_json::from_slice(&req.body).unwrap();
            let reply = match &command.kind {
                CommandKind::ListMessages(_) => serde_json::to_vec(&Reply::Ok(MessageList {
                    total: 1,
                    page: 0,
                    pages: 1,
                    messages: serde_json::from_value(json!([{
                        "id": "AAAAAQAAAeE", "uid": 481, "draft": false, "unseen": true,
                        "flagged": false, "size": 4334, "subject": "Test message"
                    }]))
                    .unwrap(),
                    next_cursor: None,
                    state: None,
                }))
                .unwrap(),
                _ => error_reply(ApiError::not_found("Message was not found")),
            };
            req.replier.reply(reply).await.unwrap();
            seen.push(command);
        }
        seen
    });
    let (status, body) = h
        .call(
            "GET",
            "/v1/account/example/messages?path=INBOX&page=0",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["messages"][0]["id"], "AAAAAQAAAeE");
    let (status, body) = h
        .call(
            "GET",
            "/v1/account/example/message/AAAAAQAAAeE?maxBytes=100&textType=plain",
            None,
        )
        .await;
    assert_error(status, &body, 404, "Message was not found");

    let seen = ingest.await.unwrap();
    assert_eq!(
        seen[0],
        Command {
            account: "example".into(),
            kind: ListMessages {
                path: "INBOX".into(),
                page: 0,
                page_size: 20,
                cursor: None,
            }
            .into()
        }
    );
    assert_eq!(
        seen[1].kind,
        CommandKind::GetMessage(GetMessage {
            message: "AAAAAQAAAeE".into(),
            max_bytes: Some(100),
            text_type: Some(TextType::Plain),
        })
    );
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
            next_cursor: None,
            state: None,
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
