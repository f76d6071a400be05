//! Logs through `tracing`, at `log.level`, as JSON lines or human-readable text
//! (`log.format`).

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Libraries that log protocol lines at debug/trace: async-imap logs every command it
/// sends, LOGIN with its password included. They are capped at info whatever `log.level`
/// says, so no credential can reach a log line.
const WIRE_LOGGERS: &str = "async_imap=info,imap_proto=info,lettre=info,lapin=info,amq_protocol=info,hyper=info,redis=info";

/// Install the global log subscriber. `level` is a level name or a filter directive.
pub fn init_logging(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(format!("{level},{WIRE_LOGGERS}"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => logs.json().with_current_span(false).try_init(),
        LogFormat::Text => logs.try_init(),
    };
}
