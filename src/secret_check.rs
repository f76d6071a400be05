//! At start, whether `service.secret` opens the stored secrets: a wrong or missing secret
//! would otherwise surface only as every account failing to connect, one error each. One
//! sealed account is tried (one key derivation); an empty store or one with cleartext
//! secrets only passes.

use anyhow::bail;
use imapapi_common::crypto::{CryptoError, has_sealed_secrets, open_account_off_runtime};
use imapapi_common::model::Secret;
use imapapi_common::store::SharedStore;

/// How many accounts are looked at for one with sealed secrets.
const ACCOUNTS_LOOKED_AT: usize = 100;

/// `Err` with what to do when the stored secrets cannot be opened with `secret`.
pub async fn check(store: &SharedStore, secret: Option<&Secret>) -> anyhow::Result<()> {
    for id in store
        .list_accounts()
        .await?
        .into_iter()
        .take(ACCOUNTS_LOOKED_AT)
    {
        let Some(account) = store.get_account(&id).await? else {
            continue;
        };
        if !has_sealed_secrets(&account) {
            continue;
        }
        return match open_account_off_runtime(account, secret.cloned()).await {
            Ok(_) => Ok(()),
            Err(CryptoError::NoSecret) => bail!(
                "stored account secrets are encrypted, but no service.secret is set \
                 (--service.secret / IMAPAPI_SECRET): start with the secret they were \
                 encrypted with"
            ),
            Err(CryptoError::WrongSecret) => bail!(
                "service.secret does not decrypt the stored account secrets (account {id}): \
                 start with the secret they were encrypted with, or re-encrypt them with \
                 `imapapi encrypt --decrypt=<old secret>` and the new one as service.secret"
            ),
            Err(e) => bail!("the stored secrets of account {id} cannot be read: {e}"),
        };
    }
    Ok(())
}
