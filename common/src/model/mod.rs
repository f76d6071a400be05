//! The domain model: the JSON shapes of the REST API and of published events, following
//! the original IMAP API 1.8 field names (we add fields, never rename).

pub mod account;
pub mod event;
pub mod event_id;
pub mod folder;
pub mod idle_folders;
pub mod mailbox;
pub mod message;
pub mod or_false;
pub mod outbox;
pub mod receiver;
pub mod secret;
pub mod settings;
pub mod token;

pub use account::*;
pub use event::*;
pub use folder::*;
pub use mailbox::*;
pub use message::*;
pub use or_false::OrFalse;
pub use outbox::*;
pub use receiver::FailingReceiver;
pub use secret::Secret;
pub use settings::*;
pub use token::{Scope, TokenRecord};
