//! `imapapi encrypt`: re-encrypt every stored account secret with `--service.secret`,
//! decrypting values sealed with an older secret given as `--decrypt`.

use anyhow::{Context, bail};
use imapapi_common::config::Config;
use imapapi_common::crypto;

pub async fn run(config: Config, old_secret: Option<String>) -> anyhow::Result<()> {
    let Some(secret) = config.service.secret.clone() else {
        bail!("--service.secret must be set to encrypt stored secrets");
    };
    let store = imapapi_common::store::open(&config)
        .await
        .context("opening the store")?;
    let mut done = 0usize;
    for id in store.list_accounts().await? {
        let Some(mut account) = store.get_account(&id).await? else {
            continue;
        };
        let old = old_secret.clone();
        let new = secret.expose().to_string();
        // scrypt is deliberately slow: keep it off the async worker threads.
        account = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            crypto::open_account(&mut account, old.as_deref())
                .with_context(|| format!("account {id}: cannot decrypt with --decrypt"))?;
            crypto::seal_account(&mut account, &new);
            Ok(account)
        })
        .await??;
        store.put_account(&account).await?;
        done += 1;
    }
    println!("encrypted the secrets of {done} account(s)");
    Ok(())
}
