//! Test rig shared by the end-to-end tests (`mod support;` in `tests/*.rs`).
//!
//! - [`Dovecot`]: the real IMAP server started by `infra/dovecot/start.sh`, test users,
//!   direct Maildir filling.
//! - [`ScriptedSmtp`]: an SMTP server refusing on demand (temporary, permanent).
//! - [`Postfix`]: the real SMTP server started by `infra/postfix/start.sh`, delivering into
//!   that Dovecot.
//! - [`ImapTestClient`]: an IMAP client (plaintext, STARTTLS or implicit TLS) that plays
//!   "another mail client" changing the mailbox behind the gateway's back.
//! - [`WebhookReceiver`]: an HTTP server that records webhook POSTs and can fail on demand.
//! - [`OAuth2Server`]: the rig's OAuth2 server (Dovecot checks bearer tokens with it).
//! - [`AuthServer`]: an operator's auth server answering what a test sets.
//! - [`Gateway`]: the real `imapapi` binary as a child process.
//! - [`http`] / [`http_raw`] / [`request`]: small HTTP client helpers with timeouts.

// Each test binary uses a different subset of the rig.
#![allow(dead_code, unused_imports)]

mod auth_server;
mod dovecot;
mod event_schema;
mod gateway;
mod http;
mod imap;
mod oauth2_server;
mod postfix;
mod rig_env;
mod scripted_smtp;
mod webhook;

pub use auth_server::{AuthReply, AuthServer};
pub use dovecot::{Dovecot, TestUser};
pub use event_schema::assert_valid_event;
pub use gateway::Gateway;
pub use http::{RawResponse, http, http_raw, request};
pub use imap::{ImapTestClient, tls_client_config};
pub use oauth2_server::{IssuedTokens, OAuth2Server};
pub use postfix::Postfix;
pub use scripted_smtp::{Script, ScriptedSmtp};
pub use webhook::{Received, WebhookReceiver};

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// A TCP port on 127.0.0.1 that was free a moment ago. Never hands out the same port twice
/// within one test process, so parallel tests asking at the same time do not collide.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if given.insert(port) {
            return port;
        }
    }
    panic!("no free port found");
}

/// A short random lowercase suffix, for names that must not collide across reruns.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}
