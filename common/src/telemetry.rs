//! Structured JSON logs through `tracing`, at `log.level`.

use tracing_subscriber::EnvFilter;

/// Install the global JSON log subscriber. `level` is a level name or a filter directive.
pub fn init_logging(level: &str) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .try_init();
}
