//! What two or more imapapi roles share: configuration, the domain model and its JSON
//! shapes, opaque ids, the api↔ingest command protocol, the MIME composer, the usage
//! counters, the per-account protocol logs, and the `Store` and `Bus` abstractions with
//! their backends.

pub mod bus;
pub mod clock;
pub mod command;
pub mod compose;
pub mod config;
pub mod counters;
pub mod crypto;
pub mod error;
pub mod event_sink;
pub mod ids;
pub mod model;
pub mod net;
pub mod oauth2;
pub mod prometheus;
pub mod protocol_log;
pub mod queue_age;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod webhook;

pub use services::Services;
