//! Configuration: built-in defaults (`default.toml`), an optional TOML file, the command
//! line (`--section.key=value`) and environment variables (with a `.env` file), in that
//! order of precedence from lowest to highest, as the original's mapping table documents.
//! Every value is checked at start-up; a bad one stops the process with its option named.

mod cli;
mod options;
pub mod redact;

pub use cli::{Cli, Role};
pub use options::*;
