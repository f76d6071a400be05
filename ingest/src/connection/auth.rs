//! Authentication: LOGIN with a password, AUTHENTICATE XOAUTH2 with an access token (where
//! the credentials come from is `imapapi_common::oauth2`). Secrets stay inside [`Secret`]
//! and are never formatted into logs or errors. A refusal is
//! reported with the server's own text and response code (`AUTHENTICATIONFAILED`, …), the
//! way the original's `serverResponseCode` did.

use async_imap::Client;
use imapapi_common::model::Secret;
pub use imapapi_common::oauth2::Credentials;

use super::{ConnectError, ImapSession, Transport, answer};

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
}
