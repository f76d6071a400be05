//! `imapapi encrypt`: seal every stored account secret (and the settings' Gmail client
//! secret) with `--service.secret`, opening
//! values sealed with an older secret given as `--decrypt`. Decided value by value and
//! written one account record at a time, so it is safe to run twice, and after an
//! interruption a second run finishes what the first left. Run it with the gateway
//! stopped: a process still using the old secret could not read what this writes.

use anyhow::{Context, bail};
use imapapi_common::config::Config;
use imapapi_common::crypto::{self, Reseal};
use imapapi_common::model::Secret;
use imapapi_common::store::SettingsStore;

pub async fn run(config: Config, old_secret: Option<String>) -> anyhow::Result<()> {
    let Some(secret) = config.service.secret.clone() else {
        bail!("--service.secret must be set to encrypt stored secrets");
    };
    let store = imapapi_common::store::open(&config)
        .await
        .context("opening the store")?;
    let (mut sealed, mut unchanged, mut failed) = (0usize, 0usize, Vec::new());
    for id in store.list_accounts().await? {
        let Some(mut account) = store.get_account(&id).await? else {
            continue;
        };
        let (old, new) = (old_secret.clone(), secret.expose().to_string());
        // scrypt is deliberately slow: keep it off the async worker threads.
        let outcome = tokio::task::spawn_blocking(move || {
            crypto::reseal_account(&mut account, &new, old.as_deref()).map(|o| (o, account))
        })
        .await?;
        match outcome {
            Ok((Reseal::Unchanged, _)) => unchanged += 1,
            Ok((Reseal::Sealed, account)) => {
                store
                    .put_account(&account)
                    .await
                    .with_context(|| format!("storing account {id}"))?;
                sealed += 1;
            }
            Err(e) => {
                eprintln!("account {id}: {e} (give the secret it was sealed with as --decrypt)");
                failed.push(id);
            }
        }
    }
    reseal_settings(&*store, &secret, old_secret.as_deref(), &mut failed).await?;
    println!(
        "encrypted the secrets of {sealed} account(s); {unchanged} already were; {} failed",
        failed.len()
    );
    if !failed.is_empty() {
        bail!("could not decrypt the secrets of: {}", failed.join(", "));
    }
    Ok(())
}

/// The Gmail client secret of the settings, as the accounts' secrets.
async fn reseal_settings(
    store: &dyn SettingsStore,
    secret: &Secret,
    old: Option<&str>,
    failed: &mut Vec<String>,
) -> anyhow::Result<()> {
    let settings = store.get_settings().await?;
    let (new, old) = (secret.expose().to_string(), old.map(str::to_string));
    let outcome = tokio::task::spawn_blocking(move || {
        let mut settings = settings;
        crypto::reseal_settings(&mut settings, &new, old.as_deref()).map(|o| (o, settings))
    })
    .await?;
    match outcome {
        Ok((Reseal::Unchanged, _)) => {}
        Ok((Reseal::Sealed, settings)) => {
            store
                .put_settings(&settings)
                .await
                .context("storing the settings")?;
            println!("encrypted the Gmail client secret of the settings");
        }
        Err(e) => {
            eprintln!("settings: {e} (give the secret it was sealed with as --decrypt)");
            failed.push("the settings".into());
        }
    }
    Ok(())
}
