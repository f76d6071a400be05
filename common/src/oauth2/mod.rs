//! Where an account's IMAP and SMTP credentials come from, shared by ingest (IMAP logins),
//! submit (SMTP logins) and the api (the Gmail consent flow):
//!
//! - its own `auth` (a password, or an access token sent as XOAUTH2);
//! - the operator's auth server (`useAuthServer`), asked at every login ([`auth_server`]);
//! - Gmail OAuth2 run by the gateway itself (`oauth2` with a refresh token): access tokens
//!   are got from the token endpoint and kept until shortly before they expire
//!   ([`access_tokens`], [`token_endpoint`], [`gmail`]).
//!
//! [`CredentialSource`] picks among them; [`Credentials`] is what a login uses.

pub mod access_tokens;
pub mod auth_server;
mod credentials;
pub mod gmail;
mod source;
pub mod token_endpoint;

pub use credentials::{CredentialError, Credentials, Proto};
pub use source::CredentialSource;
