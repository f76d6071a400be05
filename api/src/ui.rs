//! The web UI at `/`: one page (plain HTML, CSS and JavaScript, no framework, no build
//! step) that drives the REST API with `fetch`, so a newcomer can add accounts, read and
//! answer mail, change settings and read logs without curl.
//!
//! Served by the api role because that is the process a browser already reaches, and from
//! files compiled into the binary (`include_str!`) so it works on a gateway without Internet
//! access and can never drift from the binary's own API. The page itself is public, like
//! `/docs/`: it holds no data. Every call it makes goes through the usual auth filter, and
//! on a 401 the page asks for basic-auth credentials or an access token.
//!
//! Every answer carries a strict Content-Security-Policy: scripts and styles only from this
//! origin (no inline script), API calls only to this origin, nothing from another host, and
//! mail HTML only in sandboxed `srcdoc` frames, which inherit this policy and so cannot
//! load remote images or run scripts either.

use warp::filters::BoxedFilter;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use warp::reply::Response;
use warp::{Filter, Reply};

/// The paths the UI answers: `/` (the page) and `/ui/<file>` (its script and styles).
pub const PREFIXES: &[&str] = &["/", "/ui"];

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");

/// Same origin only; `img-src data: blob:` for the inline chart and downloads; frames are
/// the page's own `srcdoc` mail views; no one may frame the UI itself (clickjacking).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; \
    form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /` and `GET /ui/{app.js,app.css}`.
pub fn routes() -> BoxedFilter<(Response,)> {
    let index = warp::path::end()
        .and(warp::get())
        .map(|| file(INDEX_HTML, "text/html; charset=utf-8"));
    let assets = warp::path!("ui" / String)
        .and(warp::get())
        .and_then(|name: String| async move { asset(&name).ok_or_else(warp::reject::not_found) });
    index.or(assets).unify().boxed()
}

fn asset(name: &str) -> Option<Response> {
    match name {
        "app.js" => Some(file(APP_JS, "text/javascript; charset=utf-8")),
        "app.css" => Some(file(APP_CSS, "text/css; charset=utf-8")),
        _ => None,
    }
}

fn file(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // API URLs carry account ids; no reason to hand them to anyone.
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // Revalidated each time, so an upgraded binary's UI is used at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_page_and_its_files_with_a_csp() {
        let filter = routes();
        for (path, kind) in [
            ("/", "text/html"),
            ("/ui/app.js", "text/javascript"),
            ("/ui/app.css", "text/css"),
        ] {
            let res = warp::test::request().path(path).reply(&filter).await;
            assert_eq!(res.status(), 200, "{path}");
            let ct = res.headers()[CONTENT_TYPE].to_str().unwrap();
            assert!(ct.starts_with(kind), "{path}: {ct}");
            let csp = res.headers()["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("script-src 'self'"), "{path}");
        }
        let missing = warp::test::request()
            .path("/ui/nope.js")
            .reply(&filter)
            .await;
        assert_eq!(missing.status(), 404);
    }

    #[test]
    fn the_page_has_no_inline_script() {
        assert!(INDEX_HTML.contains(r#"<script src="/ui/app.js""#));
        assert_eq!(INDEX_HTML.matches("<script").count(), 1);
    }
}
