//! `imapapi token --scope api`: create an access token straight in the store and print it.
//! A gateway that requires auth without a basic auth pair has no other way to get its
//! first token.

use anyhow::{Context, anyhow};
use imapapi_api::routes::tokens::{CreateToken, issue};
use imapapi_common::config::Config;

pub async fn run(
    config: Config,
    scopes: Vec<String>,
    description: String,
    ttl: Option<String>,
) -> anyhow::Result<()> {
    let store = imapapi_common::store::open(&config)
        .await
        .context("opening the store")?;
    let body = CreateToken {
        description,
        scopes,
        expires: None,
        ttl,
    };
    let created = issue(&*store, body)
        .await
        .map_err(|e| anyhow!("{}", e.message))?;
    // The token goes to stdout only, once: it is not logged.
    println!("{}", created.token);
    eprintln!(
        "token {} created; it cannot be shown again",
        created.info.id
    );
    Ok(())
}
