//! Tests of the account, settings, reconnect and dead-letter routes: settings and account
//! records round trip through the store with their secrets redacted (and sealed at rest
//! when a secret is set), bad input is refused naming the field, and the owning ingest is
//! told to reconnect or close.

mod support;

use std::time::Duration;

use imapapi_common::bus::{Message, QueueName, RetryOutcome};
use imapapi_common::command::{Command, CommandKind, Done, Reconnect, Reply};
use imapapi_common::model::{Event, EventKind, Secret};
use serde_json::json;
use support::{README_ACCOUNT, assert_error, harness, harness_with, ok, owned};

#[tokio::test]
async fn settings_round_trip_and_key_filtering() {
    let h = harness().await;
    let (status, body) = h
        .call(
            "POST",
            "/v1/settings",
            Some(r#"{"webhooks":"https://example.com/hook","webhookEvents":["messageNew"],"gmailClientSecret":"s3cret"}"#),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut updated: Vec<String> = serde_json::from_value(body["updated"].clone()).unwrap();
    updated.sort();
    assert_eq!(updated, ["gmailClientSecret", "webhookEvents", "webhooks"]);

    let (status, body) = h
        .call("POST", "/v1/settings", Some(r#"{"notifyText":true}"#))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"updated": ["notifyText"]}));

    let (status, all) = h.call("GET", "/v1/settings", None).await;
    assert_eq!(status, 200);
    assert_eq!(all["webhooks"], "https://example.com/hook");
    assert_eq!(all["notifyText"], true);
    assert_eq!(all["gmailClientSecret"], "******");
    assert!(!all.to_string().contains("s3cret"));

    let (_, only) = h
        .call("GET", "/v1/settings?webhooks=true&notifyHeaders=true", None)
        .await;
    assert_eq!(only, json!({"webhooks": "https://example.com/hook"}));
    let (_, secret) = h
        .call("GET", "/v1/settings?gmailClientSecret=true", None)
        .await;
    assert_eq!(secret, json!({"gmailClientSecret": "******"}));
    let (_, types) = h.call("GET", "/v1/settings?eventTypes=true", None).await;
    assert_eq!(types["eventTypes"].as_array().unwrap().len(), 12);
    assert!(types.get("webhooks").is_none());

    let (status, body) = h.call("GET", "/v1/settings?nope=true", None).await;
    assert_error(status, &body, 400, "\"nope\"");
    let (status, body) = h.call("GET", "/v1/settings?webhooks=perhaps", None).await;
    assert_error(status, &body, 400, "\"webhooks\"");
}

#[tokio::test]
async fn bad_settings_are_rejected_and_not_stored() {
    let h = harness().await;
    let (status, body) = h.call("POST", "/v1/settings", Some(r#"{"foo":1}"#)).await;
    assert_error(status, &body, 400, "\"foo\"");
    let (status, body) = h
        .call(
            "POST",
            "/v1/settings",
            Some(r#"{"webhooks":"ftp://example.com"}"#),
        )
        .await;
    assert_error(status, &body, 400, "\"webhooks\"");
    let (status, body) = h
        .call(
            "POST",
            "/v1/settings",
            Some(r#"{"webhookEvents":["messageNew","bogus"]}"#),
        )
        .await;
    assert_error(status, &body, 400, "webhookEvents[1]");
    let (_, all) = h.call("GET", "/v1/settings", None).await;
    assert_eq!(all, json!({}));
}

#[tokio::test]
async fn account_lifecycle_redacts_secrets() {
    let h = harness().await;
    let (status, body) = h.call("POST", "/v1/account", Some(README_ACCOUNT)).await;
    assert_eq!(
        (status, body),
        (200, json!({"account": "example", "state": "new"}))
    );
    let (status, body) = h.call("POST", "/v1/account", Some(README_ACCOUNT)).await;
    assert_eq!(
        (status, body),
        (200, json!({"account": "example", "state": "existing"}))
    );

    let (status, account) = h.call("GET", "/v1/account/example", None).await;
    assert_eq!(status, 200);
    assert_eq!(account["account"], "example");
    assert_eq!(account["state"], "init");
    assert_eq!(account["imap"]["auth"]["pass"], "******");
    assert_eq!(account["smtp"]["auth"]["pass"], "******");
    assert!(!account.to_string().contains("verysecret"));

    let (status, list) = h.call("GET", "/v1/accounts", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 1);
    assert_eq!(list["pages"], 1);
    assert_eq!(
        list["accounts"][0],
        json!({"account": "example", "name": "My Example Account", "state": "init"})
    );
    let (_, list) = h.call("GET", "/v1/accounts?state=connected", None).await;
    assert_eq!(list["total"], 0);
    let (status, body) = h.call("GET", "/v1/accounts?state=sleepy", None).await;
    assert_error(status, &body, 400, "\"state\"");
    let (status, body) = h.call("GET", "/v1/accounts?pageSize=0", None).await;
    assert_error(status, &body, 400, "\"pageSize\"");

    // A GET round trip sends the secrets back as `******`: the stored ones are kept.
    let mut update = json!({"name": "Renamed"});
    update["imap"] = account["imap"].clone();
    let (status, body) = h
        .call("PUT", "/v1/account/example", Some(&update.to_string()))
        .await;
    assert_eq!((status, body), (200, json!({"account": "example"})));
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Renamed");
    let pass = |a: &imapapi_common::model::AccountConfig| {
        a.imap
            .as_ref()
            .unwrap()
            .auth
            .as_ref()
            .unwrap()
            .pass
            .clone()
            .unwrap()
    };
    assert_eq!(pass(&stored), Secret::new("verysecret"));

    let (status, _) = h
        .call(
            "PUT",
            "/v1/account/example",
            Some(r#"{"imap":{"host":"imap.example.com","port":143,"auth":{"user":"u","pass":"newpass"}}}"#),
        )
        .await;
    assert_eq!(status, 200);
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pass(&stored), Secret::new("newpass"));
    assert_eq!(stored.name, "Renamed");

    let (status, body) = h
        .call(
            "PUT",
            "/v1/account/example",
            Some(r#"{"imap":{"host":"h","port":"x"}}"#),
        )
        .await;
    assert_error(status, &body, 400, "\"imap.port\" must be a number");
    let (status, body) = h
        .call("PUT", "/v1/account/nobody", Some(r#"{"name":"x"}"#))
        .await;
    assert_error(status, &body, 404, "nobody");

    let (status, body) = h.call("DELETE", "/v1/account/example", None).await;
    assert_eq!(
        (status, body),
        (200, json!({"account": "example", "deleted": true}))
    );
    let (status, body) = h.call("GET", "/v1/account/example", None).await;
    assert_error(status, &body, 404, "example");
    let (status, body) = h.call("DELETE", "/v1/account/example", None).await;
    assert_error(status, &body, 404, "example");
}

#[tokio::test]
async fn accounts_are_paged_in_id_order() {
    let h = harness().await;
    for id in ["c", "a", "b"] {
        let body = README_ACCOUNT.replace("\"example\"", &format!("\"{id}\""));
        let (status, _) = h.call("POST", "/v1/account", Some(&body)).await;
        assert_eq!(status, 200);
    }
    let (_, page) = h.call("GET", "/v1/accounts?page=1&pageSize=2", None).await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["pages"], 2);
    assert_eq!(page["page"], 1);
    assert_eq!(page["accounts"][0]["account"], "c");
    let (_, page) = h.call("GET", "/v1/accounts?pageSize=2", None).await;
    let ids: Vec<&str> = page["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[tokio::test]
async fn bad_account_input_names_the_problem() {
    let h = harness().await;
    let (status, body) = h
        .call("POST", "/v1/account", Some(r#"{"account": "x", "#))
        .await;
    assert_error(status, &body, 400, "JSON");
    let (status, body) = h
        .call(
            "POST",
            "/v1/account",
            Some(r#"{"name":"n","imap":{"host":"h","port":1}}"#),
        )
        .await;
    assert_error(status, &body, 400, "\"account\"");
    let with_string_port = README_ACCOUNT.replace("993", "\"993\"");
    let (status, body) = h.call("POST", "/v1/account", Some(&with_string_port)).await;
    assert_error(status, &body, 400, "\"imap.port\" must be a number");
    let bad_id = README_ACCOUNT.replace("\"example\"", "\"has space\"");
    let (status, body) = h.call("POST", "/v1/account", Some(&bad_id)).await;
    assert_error(status, &body, 400, "\"account\"");
    let (status, body) = h.call("POST", "/v1/account", None).await;
    assert_error(status, &body, 400, "\"body\"");
    assert!(h.services.store.list_accounts().await.unwrap().is_empty());

    // curl -d without -H sends form encoding; the JSON body is taken all the same.
    let (status, body, _) = h
        .raw(
            warp::test::request()
                .method("POST")
                .path("/v1/account")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(README_ACCOUNT),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_when_a_secret_is_set() {
    use imapapi_common::crypto::{decrypt, is_encrypted};
    let h = harness_with(|c| c.service.secret = Some(Secret::new("the-key"))).await;
    h.create_readme_account().await;
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    let pass = |a: &imapapi_common::model::AccountConfig| {
        a.imap
            .as_ref()
            .unwrap()
            .auth
            .as_ref()
            .unwrap()
            .pass
            .clone()
            .unwrap()
    };
    let sealed = pass(&stored);
    assert!(is_encrypted(sealed.expose()));
    assert_eq!(
        decrypt(Some("the-key"), sealed.expose()).unwrap(),
        "verysecret"
    );
    let (_, account) = h.call("GET", "/v1/account/example", None).await;
    assert!(!account.to_string().contains("verysecret"));
    // Round-tripping the redacted record keeps the sealed value as it was.
    let update = json!({"name": "n", "imap": account["imap"].clone()});
    let (status, _) = h
        .call("PUT", "/v1/account/example", Some(&update.to_string()))
        .await;
    assert_eq!(status, 200);
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pass(&stored), sealed);
}

#[tokio::test]
async fn owner_is_told_to_reconnect_and_close() {
    let h = harness().await;
    h.create_readme_account().await;
    let mut server = h.own("example", "n1").await;
    let (status, _) = h.call("POST", "/v1/account", Some(README_ACCOUNT)).await;
    assert_eq!(status, 200);
    let mut next = async || {
        let req = tokio::time::timeout(Duration::from_secs(5), server.next())
            .await
            .expect("no command arrived")
            .unwrap();
        let command: Command = serde_json::from_slice(&req.body).unwrap();
        req.replier
            .reply(serde_json::to_vec(&Reply::Ok(Done {})).unwrap())
            .await
            .unwrap();
        command.kind
    };
    assert_eq!(next().await, CommandKind::Reconnect(Default::default()));
    let (status, _) = h.call("DELETE", "/v1/account/example", None).await;
    assert_eq!(status, 200);
    assert_eq!(next().await, CommandKind::Close(Default::default()));
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
async fn dead_letters_are_listed() {
    let h = harness().await;
    let (_, body) = h.call("GET", "/v1/deadletters", None).await;
    assert_eq!(body, json!({"events": []}));
    let event = Event::new(
        "example",
        EventKind::MessageNew,
        Some("INBOX".into()),
        json!({}),
    );
    let bus = &h.services.bus;
    bus.publish(
        QueueName::Events,
        Message::new(event.routing_key(), serde_json::to_vec(&event).unwrap()),
    )
    .await
    .unwrap();
    let mut consumer = bus.consume(QueueName::Events, 1).await.unwrap();
    let delivery = consumer.next().await.unwrap();
    let id = delivery.message.id;
    assert_eq!(delivery.retry().await.unwrap(), RetryOutcome::DeadLettered);
    let (status, body) = h.call("GET", "/v1/deadletters?limit=10", None).await;
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], id.to_string());
    assert_eq!(events[0]["event"]["account"], "example");
    assert_eq!(events[0]["event"]["event"], "messageNew");
    assert!(events[0]["attempts"].as_u64().unwrap() >= 1);
    let (status, body) = h.call("GET", "/v1/deadletters?limit=0", None).await;
    assert_error(status, &body, 400, "\"limit\"");
}

/// An account's own webhook URL: checked, shown with its password masked, kept when the
/// masked form is sent back, changed or removed with `PUT`.
#[tokio::test]
async fn accounts_have_their_own_webhook_url() {
    let h = harness().await;
    let with_hook = |url: &str| {
        let mut v: serde_json::Value = serde_json::from_str(README_ACCOUNT).unwrap();
        v["webhooks"] = json!(url);
        v.to_string()
    };
    let (status, body) = h
        .call("POST", "/v1/account", Some(&with_hook("ftp://h/x")))
        .await;
    assert_error(status, &body, 400, "\"webhooks\"");
    let (status, body) = h
        .call(
            "POST",
            "/v1/account",
            Some(&with_hook("https://u:pw@hooks.example/in")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = h.call("GET", "/v1/account/example", None).await;
    assert_eq!(shown["webhooks"], "https://u:******@hooks.example/in");
    assert!(!shown.to_string().contains("pw@"));
    // A client that sends back what it read keeps the password.
    let (status, _) = h
        .call(
            "POST",
            "/v1/account",
            Some(&with_hook("https://u:******@hooks.example/in")),
        )
        .await;
    assert_eq!(status, 200);
    let stored = h
        .services
        .store
        .get_account("example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.webhooks.as_deref(),
        Some("https://u:pw@hooks.example/in")
    );
    // PUT changes it; an empty string removes it.
    let (status, _) = h
        .call(
            "PUT",
            "/v1/account/example",
            Some(r#"{"webhooks":"http://127.0.0.1:9/x"}"#),
        )
        .await;
    assert_eq!(status, 200);
    let (_, shown) = h.call("GET", "/v1/account/example", None).await;
    assert_eq!(shown["webhooks"], "http://127.0.0.1:9/x");
    let (status, _) = h
        .call("PUT", "/v1/account/example", Some(r#"{"webhooks":""}"#))
        .await;
    assert_eq!(status, 200);
    let (_, shown) = h.call("GET", "/v1/account/example", None).await;
    assert!(shown.get("webhooks").is_none(), "{shown}");
}

#[tokio::test]
async fn accounts_have_their_own_idle_folders() {
    let h = harness().await;
    let with_folders = |list: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(README_ACCOUNT).unwrap();
        v["imap"]["idleFolders"] = list;
        v.to_string()
    };
    // An unknown special use, an empty entry, a control character, too many entries and a
    // wrong type: each refused, naming the list or the entry at fault, and nothing stored.
    let too_many: Vec<String> = (0..33).map(|i| format!("F{i}")).collect();
    for (list, field) in [
        (
            json!(["\\Sent", "\\Sant"]),
            "\"imap.idleFolders[1]\" must be a special use",
        ),
        (
            json!([""]),
            "\"imap.idleFolders[0]\" is not allowed to be empty",
        ),
        (
            json!(["a\nb"]),
            "\"imap.idleFolders[0]\" must not contain control",
        ),
        (
            json!(too_many),
            "\"imap.idleFolders\" must contain less than or equal to 32",
        ),
        (json!("\\Sent"), "imap.idleFolders"),
    ] {
        let (status, body) = h
            .call("POST", "/v1/account", Some(&with_folders(list)))
            .await;
        assert_error(status, &body, 400, field);
    }
    assert!(h.services.store.list_accounts().await.unwrap().is_empty());

    let list = json!(["\\Sent", "Projects/Alpha"]);
    let (status, body) = h
        .call("POST", "/v1/account", Some(&with_folders(list.clone())))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = h.call("GET", "/v1/account/example", None).await;
    assert_eq!(shown["imap"]["idleFolders"], list, "{shown}");

    // PUT replaces the imap object: an empty list (none) is kept as given, apart from the
    // absent key (the global list); a bad entry is refused there too.
    let mut imap = shown["imap"].clone();
    imap["idleFolders"] = json!([]);
    let put = |imap: &serde_json::Value| json!({ "imap": imap }).to_string();
    let (status, body) = h
        .call("PUT", "/v1/account/example", Some(&put(&imap)))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = h.call("GET", "/v1/account/example", None).await;
    assert_eq!(shown["imap"]["idleFolders"], json!([]), "{shown}");
    imap["idleFolders"] = json!(["\\Bogus"]);
    let (status, body) = h
        .call("PUT", "/v1/account/example", Some(&put(&imap)))
        .await;
    assert_error(status, &body, 400, "\"imap.idleFolders[0]\"");
    imap.as_object_mut().unwrap().remove("idleFolders");
    let (status, body) = h
        .call("PUT", "/v1/account/example", Some(&put(&imap)))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, shown) = h.call("GET", "/v1/account/example", None).await;
    assert!(shown["imap"].get("idleFolders").is_none(), "{shown}");
}
