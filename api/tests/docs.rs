//! Swagger UI at `/docs/`: served whole from the binary (nothing fetched from another host,
//! so it works offline), pointed at `/openapi.json`, and public like the document while the
//! api itself keeps requiring credentials.

mod support;

use imapapi_common::config::BasicAuth;
use imapapi_common::model::Secret;
use support::{Harness, harness, harness_with};

/// A served file: status, `content-type`, `location` and body.
struct Served {
    status: u16,
    content_type: String,
    location: Option<String>,
    body: String,
}

async fn get(h: &Harness, path: &str) -> Served {
    let res = warp::test::request()
        .path(path)
        .reply(&imapapi_api::routes(h.services.clone()))
        .await;
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    Served {
        status: res.status().as_u16(),
        content_type: header("content-type").unwrap_or_default(),
        location: header("location"),
        body: String::from_utf8_lossy(res.body()).into_owned(),
    }
}

/// The values of every `src="…"` and `href="…"` attribute in `html`.
fn linked(html: &str) -> Vec<&str> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| html.split(attr).skip(1))
        .map(|rest| &rest[..rest.find('"').expect("a closing quote")])
        .collect()
}

/// No absolute URL at all: the gateway does not know its own public host, so any would
/// point elsewhere.
fn assert_no_other_host(name: &str, text: &str) {
    for scheme in ["http://", "https://"] {
        assert!(!text.contains(scheme), "{name} names a URL: {text}");
    }
}

#[tokio::test]
async fn the_page_loads_everything_from_the_gateway() {
    let h = harness().await;
    let page = get(&h, "/docs/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    assert_no_other_host("/docs/", &page.body);
    let links = linked(&page.body);
    assert!(links.contains(&"./swagger-ui-bundle.js"), "{links:?}");
    assert!(links.contains(&"./swagger-initializer.js"), "{links:?}");
    for link in links {
        assert!(!link.starts_with("//"), "{link} is on another host");
        let path = format!("/docs/{}", link.trim_start_matches("./"));
        assert_eq!(get(&h, &path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn scripts_and_styles_have_their_content_types() {
    let h = harness().await;
    for (file, kind) in [
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui-standalone-preset.js", "javascript"),
        ("swagger-initializer.js", "javascript"),
        ("swagger-ui.css", "text/css"),
        ("index.css", "text/css"),
    ] {
        let served = get(&h, &format!("/docs/{file}")).await;
        assert_eq!(served.status, 200, "{file}");
        assert!(
            served.content_type.contains(kind),
            "{file}: {}",
            served.content_type
        );
        assert!(!served.body.is_empty(), "{file}");
    }
    assert_eq!(get(&h, "/docs/nothing.js").await.status, 404);
}

#[tokio::test]
async fn the_initializer_points_at_the_document() {
    let h = harness().await;
    let init = get(&h, "/docs/swagger-initializer.js").await;
    assert_eq!(init.status, 200);
    assert_no_other_host("the initializer", &init.body);
    for setting in [
        r#""url": "/openapi.json""#,
        r#""persistAuthorization": true"#,
        r#""validatorUrl": "none""#,
    ] {
        assert!(init.body.contains(setting), "{setting} in {}", init.body);
    }
}

#[tokio::test]
async fn bare_paths_redirect_to_the_page() {
    let h = harness().await;
    for path in ["/docs", "/swagger", "/swagger/"] {
        let served = get(&h, path).await;
        assert_eq!(served.status, 302, "{path}");
        assert_eq!(served.location.as_deref(), Some("/docs/"), "{path}");
    }
}

#[tokio::test]
async fn docs_are_public_when_the_api_is_not() {
    let h = harness_with(|c| {
        c.api.auth = Some(BasicAuth {
            user: "docs".into(),
            pass: Secret::new("reader"),
        })
    })
    .await;
    for path in [
        "/docs/",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
        "/openapi.json",
        "/swagger.json",
    ] {
        assert_eq!(
            get(&h, path).await.status,
            200,
            "{path} without credentials"
        );
    }
    assert_eq!(get(&h, "/v1/accounts").await.status, 401);
}
