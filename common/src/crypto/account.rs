//! Sealing and opening the secrets of whole account records (IMAP and SMTP passwords and
//! access tokens, OAuth2 tokens). Opening or sealing a value whose key is not cached costs
//! a key derivation (about 16 ms of CPU), so async code uses the `_off_runtime` variants,
//! which run on tokio's blocking pool and never stall the threads that serve requests and
//! IMAP sessions.

use super::{CryptoError, decrypt, encrypt, is_encrypted};
use crate::model::{AccountConfig, AuthConfig, Secret};

/// Encrypt every secret of an account record before it is stored. Values already
/// encrypted are left as they are, so sealing twice is harmless.
pub fn seal_account(cfg: &mut AccountConfig, secret: &str) {
    for s in secrets_mut(cfg) {
        if !is_encrypted(s.expose()) {
            *s = Secret::new(encrypt(secret, s.expose()));
        }
    }
}

/// Decrypt every secret of a stored account record in place. On error the record may be
/// partly decrypted; callers drop it.
pub fn open_account(cfg: &mut AccountConfig, secret: Option<&str>) -> Result<(), CryptoError> {
    for s in secrets_mut(cfg) {
        if is_encrypted(s.expose()) {
            *s = Secret::new(decrypt(secret, s.expose())?);
        }
    }
    Ok(())
}

/// What [`reseal_account`] did to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Every secret was sealed with the new secret already (or there are none).
    Unchanged,
    /// Some secret was cleartext or sealed with the old secret; now all are sealed with
    /// the new one.
    Sealed,
}

/// Seal every secret of a stored record with `new`, value by value: a cleartext value is
/// sealed, one that opens with `new` is left as it is, one that opens with `old` is sealed
/// again with `new`. Deciding per value is what makes `imapapi encrypt` safe to run twice
/// or to run again after an interruption: whatever mix it left, a second run finishes it.
/// On error the record may be partly changed; callers drop it.
pub fn reseal_account(
    cfg: &mut AccountConfig,
    new: &str,
    old: Option<&str>,
) -> Result<Reseal, CryptoError> {
    let mut outcome = Reseal::Unchanged;
    for s in secrets_mut(cfg) {
        if !is_encrypted(s.expose()) {
            *s = Secret::new(encrypt(new, s.expose()));
            outcome = Reseal::Sealed;
            continue;
        }
        match decrypt(Some(new), s.expose()) {
            Ok(_) => {}
            Err(CryptoError::WrongSecret) => {
                let plain = decrypt(Some(old.ok_or(CryptoError::WrongSecret)?), s.expose())?;
                *s = Secret::new(encrypt(new, &plain));
                outcome = Reseal::Sealed;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(outcome)
}

/// Whether any secret of `cfg` is stored encrypted.
pub fn has_sealed_secrets(cfg: &AccountConfig) -> bool {
    let mut probe = cfg.clone();
    secrets_mut(&mut probe)
        .iter()
        .any(|s| is_encrypted(s.expose()))
}

/// [`seal_account`] on the blocking pool. `Err` only when that task could not run (the
/// runtime is shutting down): nothing is ever returned unsealed.
pub async fn seal_account_off_runtime(
    mut cfg: AccountConfig,
    secret: Secret,
) -> Result<AccountConfig, CryptoError> {
    tokio::task::spawn_blocking(move || {
        seal_account(&mut cfg, secret.expose());
        cfg
    })
    .await
    .map_err(|_| CryptoError::Unavailable)
}

/// [`open_account`] on the blocking pool.
pub async fn open_account_off_runtime(
    mut cfg: AccountConfig,
    secret: Option<Secret>,
) -> Result<AccountConfig, CryptoError> {
    tokio::task::spawn_blocking(move || {
        open_account(&mut cfg, secret.as_ref().map(Secret::expose))?;
        Ok(cfg)
    })
    .await
    .unwrap_or(Err(CryptoError::Unavailable))
}

/// Every secret field of an account, so sealing and opening cannot miss one.
fn secrets_mut(cfg: &mut AccountConfig) -> Vec<&mut Secret> {
    fn auth(a: &mut Option<AuthConfig>) -> impl Iterator<Item = &mut Secret> {
        a.iter_mut()
            .flat_map(|a| a.pass.iter_mut().chain(a.access_token.iter_mut()))
    }
    let mut out: Vec<&mut Secret> = Vec::new();
    if let Some(imap) = &mut cfg.imap {
        out.extend(auth(&mut imap.auth));
    }
    if let Some(smtp) = &mut cfg.smtp {
        out.extend(auth(&mut smtp.auth));
    }
    if let Some(o) = &mut cfg.oauth2 {
        out.extend(o.access_token.iter_mut());
        out.extend(o.refresh_token.iter_mut());
    }
    out
}
