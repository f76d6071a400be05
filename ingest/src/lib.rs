//! The ingest role: one persistent IMAP session per owned account, folder sync, IDLE,
//! change events, and execution of account commands sent by api.

pub mod index;
pub mod message;
