//! Credentials and authentication: LOGIN with a password, AUTHENTICATE XOAUTH2 with an
//! access token, or credentials fetched from the configured auth server (`useAuthServer`).
//! Secrets stay inside [`Secret`] and are never formatted into logs or errors. A refusal is
//! reported with the server's own text and response code (`AUTHENTICATIONFAILED`, …), the
//! way the original's `serverResponseCode` did.

use async_imap::Client;
use http_body_util::{BodyExt, Empty};
use imapapi_common::model::{ImapConfig, Secret};
use serde::Deserialize;

use super::{ConnectError, ImapSession, Transport, answer};

/// `serverResponseCode` of a failed auth server request, as the original named it.
const HTTP_REQUEST_ERROR: &str = "HTTPRequestError";

/// What an account authenticates with.
#[derive(Clone)]
pub enum Credentials {
    Password { user: String, pass: Secret },
    OAuth2 { user: String, token: Secret },
}

impl Credentials {
    /// The user that logs in (no secret: fit for events and logs).
    pub fn user(&self) -> &str {
        match self {
            Credentials::Password { user, .. } | Credentials::OAuth2 { user, .. } => user,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { user, .. } => write!(f, "Password({user}, ******)"),
            Credentials::OAuth2 { user, .. } => write!(f, "OAuth2({user}, ******)"),
        }
    }
}

/// The auth server's answer: `{user, pass | accessToken}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthServerReply {
    user: String,
    #[serde(default)]
    pass: Option<Secret>,
    #[serde(default)]
    access_token: Option<Secret>,
}

fn from_parts(
    user: String,
    pass: Option<Secret>,
    token: Option<Secret>,
) -> Result<Credentials, ConnectError> {
    match (pass, token) {
        (_, Some(token)) if !token.is_empty() => Ok(Credentials::OAuth2 { user, token }),
        (Some(pass), _) => Ok(Credentials::Password { user, pass }),
        _ => Err(ConnectError::auth("No IMAP credentials configured")),
    }
}

/// Resolve the credentials of an account: its own `imap.auth`, or the auth server.
pub async fn resolve(
    account: &str,
    imap: &ImapConfig,
    auth_server: Option<&str>,
) -> Result<Credentials, ConnectError> {
    if imap.use_auth_server {
        let base = auth_server
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConnectError::auth("Auth server is not configured"))?;
        let reply = fetch_from_auth_server(base, account).await?;
        return from_parts(reply.user, reply.pass, reply.access_token);
    }
    let auth = imap
        .auth
        .as_ref()
        .ok_or_else(|| ConnectError::auth("No IMAP credentials configured"))?;
    from_parts(
        auth.user.clone(),
        auth.pass.clone(),
        auth.access_token.clone(),
    )
}

fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// GET `<authServer>?account=<id>&proto=imap` (plain HTTP).
async fn fetch_from_auth_server(
    base: &str,
    account: &str,
) -> Result<AuthServerReply, ConnectError> {
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}account={}&proto=imap", encode_query(account));
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| ConnectError::auth("Invalid auth server URL"))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let fail = |e: String| {
        ConnectError::Connect(answer(
            format!("Auth server request failed: {e}"),
            Some(HTTP_REQUEST_ERROR),
        ))
    };
    let resp = tokio::time::timeout(std::time::Duration::from_secs(10), client.get(uri))
        .await
        .map_err(|_| fail("timed out".into()))?
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(ConnectError::Auth(answer(
            format!("Auth server refused the account ({status})"),
            Some(HTTP_REQUEST_ERROR),
        )));
    }
    serde_json::from_slice(&body).map_err(|_| fail("invalid JSON reply".into()))
}

/// SASL XOAUTH2 initial response.
struct XOAuth2<'a> {
    user: &'a str,
    token: &'a Secret,
}

impl async_imap::Authenticator for XOAuth2<'_> {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> Self::Response {
        if challenge.is_empty() {
            format!(
                "user={}\x01auth=Bearer {}\x01\x01",
                self.user,
                self.token.expose()
            )
        } else {
            // The server sent an error description; an empty reply ends the exchange.
            String::new()
        }
    }
}

/// Render an async-imap error without echoing what we sent.
fn describe(e: &async_imap::error::Error) -> String {
    use async_imap::error::Error;
    match e {
        Error::No(m) | Error::Bad(m) => server_answer(m).response,
        Error::ConnectionLost => "Connection closed by server".into(),
        Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// The server's answer to a refused LOGIN/AUTHENTICATE. async-imap hands it over only as
/// `code: {code:?}, info: {information:?}`, so the text is taken back out of that. A code
/// imap-proto does not know (all of RFC 5530's, such as `AUTHENTICATIONFAILED`) stays at
/// the start of the text as `[CODE] text`; of the ones it knows only `ALERT` is met at
/// login.
fn server_answer(formatted: &str) -> imapapi_common::model::AccountErrorEntry {
    let (code, info) = match formatted.split_once(", info: ") {
        Some((code, info)) => (code.strip_prefix("code: ").unwrap_or(code), info),
        None => ("None", formatted),
    };
    let text = info
        .strip_prefix("Some(\"")
        .and_then(|t| t.strip_suffix("\")"))
        .map(unescape_debug)
        .unwrap_or_default();
    let (bracketed, rest) = split_code(&text);
    let known = (code == "Some(Alert)").then_some("ALERT");
    let response = if rest.is_empty() {
        "Authentication failed".to_string()
    } else {
        rest.to_string()
    };
    answer(response, bracketed.or(known))
}

/// `[CODE args] text` → (`CODE`, `text`); the code is an IMAP atom.
fn split_code(text: &str) -> (Option<&str>, &str) {
    let Some(inner) = text.strip_prefix('[') else {
        return (None, text.trim());
    };
    let Some((code, rest)) = inner.split_once(']') else {
        return (None, text.trim());
    };
    let atom = code.split(' ').next().unwrap_or_default();
    let is_atom = !atom.is_empty()
        && atom
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
    if is_atom {
        (Some(atom), rest.trim())
    } else {
        (None, text.trim())
    }
}

/// Undo `{:?}` of a `str`: `\"`, `\\`, `\n`, `\r`, `\t`, `\0`, `\'` and `\u{…}`.
fn unescape_debug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let hex: String = chars
                    .by_ref()
                    .skip_while(|c| *c == '{')
                    .take_while(|c| *c != '}')
                    .collect();
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Authenticate on a greeted transport.
pub async fn authenticate(
    transport: Transport,
    credentials: &Credentials,
) -> Result<ImapSession, ConnectError> {
    let client = Client::new(transport);
    let result = match credentials {
        Credentials::Password { user, pass } => client.login(user, pass.expose()).await,
        Credentials::OAuth2 { user, token } => {
            client
                .authenticate("XOAUTH2", XOAuth2 { user, token })
                .await
        }
    };
    result.map_err(|(e, _)| match &e {
        async_imap::error::Error::No(m) | async_imap::error::Error::Bad(m) => {
            ConnectError::Auth(server_answer(m))
        }
        _ => ConnectError::connect(describe(&e)),
    })
}

/// The base64 XOAUTH2 string, for tests and diagnostics of the format only.
#[cfg(test)]
fn xoauth2_b64(user: &str, token: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_wins_over_password() {
        let c = from_parts("u".into(), Some(Secret::new("p")), Some(Secret::new("t"))).unwrap();
        assert!(matches!(c, Credentials::OAuth2 { .. }));
        assert!(!format!("{c:?}").contains('t') || !format!("{c:?}").contains("\"t\""));
        assert!(from_parts("u".into(), None, None).is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::Password {
            user: "me".into(),
            pass: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn xoauth2_format() {
        let mut a = XOAuth2 {
            user: "me@example.com",
            token: &Secret::new("tok"),
        };
        use async_imap::Authenticator;
        assert_eq!(
            a.process(b""),
            "user=me@example.com\x01auth=Bearer tok\x01\x01"
        );
        use base64::Engine;
        assert_eq!(
            xoauth2_b64("a", "b"),
            base64::engine::general_purpose::STANDARD.encode("user=a\x01auth=Bearer b\x01\x01")
        );
    }

    #[test]
    fn refusals_keep_the_server_text_and_response_code() {
        // What async-imap makes of `a NO [AUTHENTICATIONFAILED] Authentication failed.`
        let a = server_answer(
            r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#,
        );
        assert_eq!(a.response, "Authentication failed.");
        assert_eq!(
            a.server_response_code.as_deref(),
            Some("AUTHENTICATIONFAILED")
        );
        // A code imap-proto parses itself, and escapes in the text.
        let a = server_answer(
            r#"code: Some(Alert), info: Some("Please log in via your \"web\" browser")"#,
        );
        assert_eq!(a.response, "Please log in via your \"web\" browser");
        assert_eq!(a.server_response_code.as_deref(), Some("ALERT"));
        // No code at all; no text at all.
        let a = server_answer(r#"code: None, info: Some("LOGIN failed")"#);
        assert_eq!(
            (a.response.as_str(), a.server_response_code),
            ("LOGIN failed", None)
        );
        let a = server_answer("code: None, info: None");
        assert_eq!(a.response, "Authentication failed");
        let a = server_answer(r#"code: None, info: Some("[(x] y")"#);
        assert_eq!(
            (a.response.as_str(), a.server_response_code),
            ("[(x] y", None)
        );
        assert_eq!(unescape_debug(r"caf\u{e9} \\ \n"), "café \\ \n");
    }

    #[test]
    fn user_is_known_without_the_secret() {
        let c = Credentials::OAuth2 {
            user: "me@example.com".into(),
            token: Secret::new("tok"),
        };
        assert_eq!(c.user(), "me@example.com");
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("a b&c"), "a%20b%26c");
    }
}
