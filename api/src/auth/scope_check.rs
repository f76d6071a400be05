//! Which requests a token's scopes allow. Decided from the method and the path alone, before
//! any handler runs, so a route cannot forget to check.

use imapapi_common::model::Scope;
use warp::http::Method;

use crate::params::decode_segment;

/// Whether any of `scopes` allows `method path`.
pub fn allows(scopes: &[Scope], method: &Method, path: &str) -> bool {
    scopes.iter().any(|s| scope_allows(s, method, path))
}

fn scope_allows(scope: &Scope, method: &Method, path: &str) -> bool {
    match scope {
        Scope::Api => true,
        // Tokens are managed with full access only, even their listing.
        _ if is_token_route(path) => false,
        Scope::Read => is_read(method, path),
        Scope::Account(id) => account_of(path).is_some_and(|a| a == *id),
    }
}

fn is_token_route(path: &str) -> bool {
    path == "/v1/tokens" || path.starts_with("/v1/tokens/")
}

/// `GET`/`HEAD` anywhere, and a search (a `POST` that changes nothing).
fn is_read(method: &Method, path: &str) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    method == Method::POST
        && account_of(path).is_some()
        && path.trim_end_matches('/').ends_with("/search")
        && path.split('/').count() == 5
}

/// The (decoded) account id of `/v1/account/<id>` and the paths below it, and of the
/// account's protocol log `/v1/logs/<id>`.
fn account_of(path: &str) -> Option<String> {
    let mut segs = path.trim_start_matches('/').split('/');
    match (segs.next(), segs.next(), segs.next()) {
        (Some("v1"), Some("account" | "logs"), Some(id)) if !id.is_empty() => {
            decode_segment("account", id).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(list: &[&str]) -> Vec<Scope> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn api_allows_everything() {
        let s = scopes(&["api"]);
        assert!(allows(&s, &Method::DELETE, "/v1/account/a"));
        assert!(allows(&s, &Method::POST, "/v1/tokens"));
    }

    #[test]
    fn read_allows_gets_and_search_only() {
        let s = scopes(&["read"]);
        assert!(allows(&s, &Method::GET, "/v1/accounts"));
        assert!(allows(&s, &Method::GET, "/v1/account/a/messages"));
        assert!(allows(&s, &Method::POST, "/v1/account/a/search"));
        assert!(!allows(&s, &Method::POST, "/v1/account"));
        assert!(!allows(&s, &Method::PUT, "/v1/account/a/message/x"));
        assert!(!allows(&s, &Method::DELETE, "/v1/account/a"));
        assert!(!allows(&s, &Method::POST, "/v1/account/a/search/x"));
        assert!(!allows(&s, &Method::GET, "/v1/tokens"));
    }

    #[test]
    fn account_scope_is_one_account() {
        let s = scopes(&["account:a b"]);
        assert!(allows(&s, &Method::GET, "/v1/account/a%20b"));
        assert!(allows(&s, &Method::PUT, "/v1/account/a%20b/message/x"));
        assert!(allows(&s, &Method::DELETE, "/v1/account/a%20b"));
        assert!(!allows(&s, &Method::GET, "/v1/account/other/messages"));
        assert!(!allows(&s, &Method::GET, "/v1/account/a%20bc"));
        assert!(!allows(&s, &Method::GET, "/v1/accounts"));
        assert!(!allows(&s, &Method::POST, "/v1/account"));
        assert!(!allows(&s, &Method::GET, "/v1/settings"));
        assert!(!allows(&s, &Method::DELETE, "/v1/tokens/x"));
        assert!(allows(&s, &Method::GET, "/v1/logs/a%20b"));
        assert!(!allows(&s, &Method::GET, "/v1/logs/other"));
    }

    #[test]
    fn scopes_add_up() {
        let s = scopes(&["read", "account:a"]);
        assert!(allows(&s, &Method::GET, "/v1/accounts"));
        assert!(allows(&s, &Method::PUT, "/v1/account/a/message/x"));
        assert!(!allows(&s, &Method::PUT, "/v1/account/b/message/x"));
    }
}
