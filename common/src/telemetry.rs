//! Structured JSON logs through `tracing`, at `log.level`.

use tracing_subscriber::EnvFilter;

/// Libraries that log protocol lines at debug/trace: async-imap logs every command it
/// sends, LOGIN with its password included. They are capped at info whatever `log.level`
/// says, so no credential can reach a log line.
const WIRE_LOGGERS: &str = "async_imap=info,imap_proto=info,lettre=info,lapin=info,amq_protocol=info,hyper=info,redis=info";

/// Install the global JSON log subscriber. `level` is a level name or a filter directive.
pub fn init_logging(level: &str) {
    let filter = EnvFilter::try_new(format!("{level},{WIRE_LOGGERS}"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .try_init();
}
