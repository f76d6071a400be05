//! The one `imapapi` binary. With no subcommand it runs every role in one process on the
//! configured backends (embedded by default); `imapapi api|ingest|dispatch` runs one role;
//! `imapapi encrypt` re-encrypts stored secrets; `imapapi token` creates an access token.

mod encrypt;
mod roles;
mod secret_check;
mod shutdown;
mod token;

use std::process::ExitCode;

use clap::Parser;
use imapapi_common::config::{Cli, Config, Role};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("imapapi: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = roles::check_shared_backends(&config, cli.role.as_ref()) {
        eprintln!("imapapi: {e}");
        return ExitCode::from(2);
    }
    imapapi_common::telemetry::init_logging(&config.log_level, config.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers_imap.max(2))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("imapapi: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.role {
            Some(Role::Encrypt { decrypt }) => encrypt::run(config, decrypt).await,
            Some(Role::Token {
                scopes,
                description,
                ttl,
            }) => token::run(config, scopes, description, ttl).await,
            role => roles::run(config, role).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "imapapi stopped with an error");
            eprintln!("imapapi: {e:#}");
            ExitCode::FAILURE
        }
    }
}
