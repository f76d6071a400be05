//! Tests of the OpenAPI document: it is valid OpenAPI 3 JSON whose references resolve, its
//! operation ids are unique and include the original's, and it documents exactly the
//! routes the router serves.
//!
//! Coverage is checked two ways. The route table (`imapapi_api::routes::RESOURCES`, from which
//! `imapapi_api::routes()` is built) must list the same (method, path) pairs as the document.
//! And the live filter is probed: every documented operation, sent with placeholder ids,
//! must get past warp's routing (any answer but the routing 404 "Requested route was not
//! found" or a 405), while every other method on a documented path, and a few paths that
//! exist nowhere, must get exactly those routing answers, which checks the probe itself.
//!
//! Swagger UI (`/docs/`, `routes::docs`) is not an API operation: it is in neither the
//! document nor the route table, on purpose, and is checked separately here (its prefixes
//! stay out of both, and the router serves them).

mod support;

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imapapi_api::openapi::document_json;
use imapapi_api::routes;
use imapapi_common::config::BasicAuth;
use imapapi_common::model::Secret;
use serde_json::Value;
use support::{Harness, harness, harness_with};
use warp::http::Method;

/// The operation ids of the original IMAP API 1.8 (`imapapi-1.8-api.json` in the shared
/// contract), except `postV1AccountAccountSubmit`: submission is a later issue.
const ORIGINAL_OPERATION_IDS: [&str; 24] = [
    "getV1LogsAccount",
    "getV1Accounts",
    "getV1Settings",
    "postV1Settings",
    "getV1Stats",
    "getV1AccountAccount",
    "putV1AccountAccount",
    "deleteV1AccountAccount",
    "getV1AccountAccountMailboxes",
    "getV1AccountAccountMessages",
    "getV1AccountAccountTextText",
    "getV1AccountAccountAttachmentAttachment",
    "getV1AccountAccountMessageMessage",
    "putV1AccountAccountMessageMessage",
    "deleteV1AccountAccountMessageMessage",
    "getV1AccountAccountMessageMessageSource",
    "postV1Account",
    "postV1Verifyaccount",
    "postV1AccountAccountMessage",
    "postV1AccountAccountMailbox",
    "deleteV1AccountAccountMailbox",
    "postV1AccountAccountSearch",
    "putV1AccountAccountReconnect",
    "putV1AccountAccountMessageMessageMove",
];

/// The methods a path item may hold, as the document spells them.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A (method, path template) pair: `("GET", "/v1/account/{account}")`.
type Endpoint = (String, String);

fn document() -> Value {
    serde_json::from_str(document_json().expect("the document encodes"))
        .expect("the document is JSON")
}

/// Every operation of the document with its endpoint.
fn operations(doc: &Value) -> Vec<(Endpoint, &Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.iter()
                .filter(|(method, _)| METHODS.contains(&method.as_str()))
                .map(|(method, op)| ((method.to_uppercase(), path.clone()), op))
        })
        .collect()
}

fn documented(doc: &Value) -> BTreeSet<Endpoint> {
    operations(doc).into_iter().map(|(e, _)| e).collect()
}

fn routed() -> BTreeSet<Endpoint> {
    routes::table()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect()
}

#[test]
fn the_document_is_openapi_3_with_unique_operation_ids() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3."), "openapi: {version}");
    assert_eq!(doc["info"]["title"], "IMAP API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut ids = BTreeSet::new();
    for ((method, path), op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
        assert!(
            op["responses"]["200"].is_object(),
            "{method} {path}: no 200"
        );
        assert!(op["tags"].is_array(), "{method} {path}: no tag");
    }
    let missing: Vec<_> = ORIGINAL_OPERATION_IDS
        .iter()
        .filter(|id| !ids.contains(**id))
        .collect();
    assert!(
        missing.is_empty(),
        "original operations missing: {missing:?}"
    );
}

/// Every `$ref` in `value`.
/// Listings and searches document `cursor` beside `page`, and their reply `nextCursor`.
#[test]
fn listings_document_their_cursor() {
    let doc = document();
    for (path, method) in [
        ("/v1/account/{account}/messages", "get"),
        ("/v1/account/{account}/search", "post"),
    ] {
        let params = doc["paths"][path][method]["parameters"]
            .as_array()
            .expect("parameters");
        let cursor = params
            .iter()
            .find(|p| p["name"] == "cursor")
            .unwrap_or_else(|| panic!("{method} {path} documents no cursor"));
        assert_eq!(cursor["in"], "query");
        assert_ne!(cursor["required"], true);
        assert!(params.iter().any(|p| p["name"] == "page"));
    }
    let list = &doc["components"]["schemas"]["MessageList"];
    assert!(list["properties"]["nextCursor"].is_object(), "{list}");
    let required = list["required"].as_array().expect("required");
    assert!(!required.iter().any(|r| r == "nextCursor"), "{list}");
    for field in ["total", "page", "pages", "messages"] {
        assert!(required.iter().any(|r| r == field), "{field}: {list}");
    }
}

fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} is not in the document"
        );
    }
}

#[test]
fn the_document_and_the_route_table_agree() {
    let doc = document();
    let documented = documented(&doc);
    let routed = routed();
    let count = routes::table().count();
    assert_eq!(routed.len(), count, "the route table lists a route twice");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes missing from the document: {undocumented:?}; \
         documented routes missing from the route table: {unrouted:?}"
    );
}

/// A request path for a path template, each `{param}` replaced by a placeholder.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{account}" => "probe-account",
            s if s.starts_with('{') => "AAAAAQAAAeE",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router's own routing refused the request: no route has this path (404
/// "Requested route was not found"), or none has this method on it (405). A handler's 404
/// about an unknown account or message has another message.
async fn routing_miss(h: &Harness, method: &str, path: &str) -> Option<String> {
    let mut req = warp::test::request().method(method).path(path);
    if matches!(method, "POST" | "PUT") {
        req = req.header("content-type", "application/json").body("{}");
    }
    // Not `raw`: a served route may answer something other than JSON (`/metrics`).
    let res = req.reply(&imapapi_api::routes(h.services.clone())).await;
    let status = res.status().as_u16();
    let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap_or_default();
    let miss =
        status == 405 || (status == 404 && body["message"] == "Requested route was not found");
    miss.then(|| format!("{status} {body}"))
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let h = harness().await;
    for (method, template) in documented(&document()) {
        let path = concrete(&template);
        if let Some(answer) = routing_miss(&h, &method, &path).await {
            panic!("{method} {template} is documented but not routed: {answer}");
        }
    }
}

#[tokio::test]
async fn other_methods_and_unknown_paths_are_routing_misses() {
    let h = harness().await;
    let documented = documented(&document());
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for template in paths {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            let endpoint = (method.to_string(), template.clone());
            if documented.contains(&endpoint) {
                continue;
            }
            let path = concrete(template);
            assert!(
                routing_miss(&h, method.as_str(), &path).await.is_some(),
                "{method} {template} is routed but not documented"
            );
        }
    }
    for (method, path) in [
        ("GET", "/v1/nothing"),
        ("GET", "/v1/account/probe-account/nothing"),
        ("POST", "/v1/account/probe-account/contacts"),
        ("GET", "/docs/nothing.js"),
        ("GET", "/swagger/nothing.js"),
        ("GET", "/openapi.json/extra"),
    ] {
        assert!(
            routing_miss(&h, method, path).await.is_some(),
            "{method} {path} should not be routed"
        );
    }
}

#[tokio::test]
async fn the_docs_ui_is_routed_but_not_an_operation() {
    let h = harness().await;
    let doc = document();
    for prefix in routes::docs::PREFIXES {
        let inside = |path: &str| path == *prefix || path.starts_with(&format!("{prefix}/"));
        assert!(
            !documented(&doc).iter().any(|(_, p)| inside(p)),
            "{prefix} is in the document"
        );
        assert!(
            !routes::table().any(|r| inside(r.path)),
            "{prefix} is in the route table"
        );
        for path in [prefix.to_string(), format!("{prefix}/")] {
            if let Some(answer) = routing_miss(&h, "GET", &path).await {
                panic!("GET {path} is not routed: {answer}");
            }
        }
    }
}

#[tokio::test]
async fn the_document_is_served_twice_without_credentials() {
    let h = harness_with(|c| {
        c.api.auth = Some(BasicAuth {
            user: "docs".into(),
            pass: Secret::new("reader"),
        })
    })
    .await;
    let credentials = format!("Basic {}", STANDARD.encode("docs:reader"));
    for path in ["/openapi.json", "/swagger.json"] {
        for authorization in [None, Some(&credentials)] {
            let mut req = warp::test::request().path(path);
            if let Some(value) = authorization {
                req = req.header("authorization", value);
            }
            let res = req.reply(&imapapi_api::routes(h.services.clone())).await;
            assert_eq!(res.status(), 200, "{path} with {authorization:?}");
            assert_eq!(res.headers()["content-type"], "application/json");
            let served: Value = serde_json::from_slice(res.body()).unwrap();
            assert_eq!(served, document(), "{path}");
        }
    }
    let (status, _, _) = h.raw(warp::test::request().path("/v1/accounts")).await;
    assert_eq!(status, 401, "the api itself still needs credentials");
}
