//! Sealing and opening the one secret of the settings record, the Gmail OAuth2 client
//! secret, with `service.secret`, as account secrets are. The settings are read by every
//! role; only the logins that need the client (token renewal, the consent flow) open it.

use super::account::Reseal;
use super::{CryptoError, decrypt, encrypt, is_encrypted};
use crate::model::{Secret, Settings};

/// Encrypt the client secret before the record is stored (left alone when encrypted).
pub fn seal_settings(settings: &mut Settings, secret: &str) {
    if let Some(s) = settings.gmail_client_secret.as_mut()
        && !is_encrypted(s)
    {
        *s = encrypt(secret, s);
    }
}

/// Decrypt the client secret of a stored record in place.
pub fn open_settings(settings: &mut Settings, secret: Option<&str>) -> Result<(), CryptoError> {
    if let Some(s) = settings.gmail_client_secret.as_mut() {
        *s = decrypt(secret, s)?;
    }
    Ok(())
}

/// [`seal_settings`] with `new` for a value in clear or sealed with `old` (see
/// `reseal_account`).
pub fn reseal_settings(
    settings: &mut Settings,
    new: &str,
    old: Option<&str>,
) -> Result<Reseal, CryptoError> {
    let Some(s) = settings.gmail_client_secret.as_mut() else {
        return Ok(Reseal::Unchanged);
    };
    if is_encrypted(s) {
        match decrypt(Some(new), s) {
            Ok(_) => return Ok(Reseal::Unchanged),
            Err(CryptoError::WrongSecret) => {
                let plain = decrypt(Some(old.ok_or(CryptoError::WrongSecret)?), s)?;
                *s = encrypt(new, &plain);
            }
            Err(e) => return Err(e),
        }
    } else {
        *s = encrypt(new, s);
    }
    Ok(Reseal::Sealed)
}

/// [`seal_settings`] on the blocking pool (a key derivation).
pub async fn seal_settings_off_runtime(
    mut settings: Settings,
    secret: Secret,
) -> Result<Settings, CryptoError> {
    tokio::task::spawn_blocking(move || {
        seal_settings(&mut settings, secret.expose());
        settings
    })
    .await
    .map_err(|_| CryptoError::Unavailable)
}

/// [`open_settings`] on the blocking pool. When the client secret cannot be opened it is
/// dropped (so Gmail OAuth2 reads as not configured, and says so) and a warning logged:
/// the rest of the settings stay usable.
pub async fn open_settings_off_runtime(mut settings: Settings, secret: Option<Secret>) -> Settings {
    if !settings
        .gmail_client_secret
        .as_deref()
        .is_some_and(is_encrypted)
    {
        return settings;
    }
    let opened = tokio::task::spawn_blocking(move || {
        let result = open_settings(&mut settings, secret.as_ref().map(Secret::expose));
        (result, settings)
    })
    .await;
    match opened {
        Ok((Ok(()), settings)) => settings,
        Ok((Err(e), mut settings)) => {
            tracing::warn!(error = %e, "the Gmail client secret in the settings cannot be opened");
            settings.gmail_client_secret = None;
            settings
        }
        Err(_) => Settings {
            gmail_client_secret: None,
            ..Settings::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_secret_is_sealed_and_opened() {
        let plain = Settings {
            gmail_client_secret: Some("cs".into()),
            gmail_client_id: Some("id".into()),
            ..Default::default()
        };
        let mut sealed = plain.clone();
        seal_settings(&mut sealed, "k");
        assert!(is_encrypted(sealed.gmail_client_secret.as_deref().unwrap()));
        let mut twice = sealed.clone();
        seal_settings(&mut twice, "k");
        assert_eq!(twice, sealed);
        let opened = open_settings_off_runtime(sealed.clone(), Some(Secret::new("k"))).await;
        assert_eq!(opened, plain);
        let wrong = open_settings_off_runtime(sealed.clone(), Some(Secret::new("x"))).await;
        assert_eq!(wrong.gmail_client_secret, None);
        assert_eq!(wrong.gmail_client_id.as_deref(), Some("id"));
        let mut rotated = sealed.clone();
        assert_eq!(
            reseal_settings(&mut rotated, "n", Some("k")),
            Ok(Reseal::Sealed)
        );
        assert_eq!(
            reseal_settings(&mut rotated, "n", None),
            Ok(Reseal::Unchanged)
        );
    }
}
