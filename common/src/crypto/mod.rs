//! Encryption of account secrets at rest (`service.secret`), so that a copy of the store
//! (a redb file, a Redis dump) does not hand out mail passwords and tokens.
//!
//! A stored value is either cleartext (written while no secret was configured) or
//! `$imapapi$1$<salt>$<nonce>$<ciphertext>` (standard base64 without padding): AES-256-GCM
//! under a key derived with scrypt from the secret and a random 16-byte salt of that value.
//! Version 1 pins scrypt at N=2^12, r=8, p=1 (4 MiB): measured on this project's 2-core
//! machine at about 16 ms per derivation in a release build while the machine was heavily
//! loaded (load average 13), 3.6 ms at N=2^11 and 21 ms at N=2^13 (see the ignored test
//! `measure_key_derivation`). A new cost means a new version number, so old values keep
//! decrypting.
//!
//! Derived keys are kept in a bounded cache (`key_cache.rs`), because the same stored
//! values are decrypted again each time an account record is loaded; sealing and opening
//! whole account records, on or off the async runtime, is in `account.rs`, and the
//! settings' Gmail client secret in `settings.rs`.

mod account;
mod key_cache;
mod settings;

pub use account::{
    Reseal, has_sealed_secrets, open_account, open_account_off_runtime, reseal_account,
    seal_account, seal_account_off_runtime,
};
pub use settings::{
    open_settings, open_settings_off_runtime, reseal_settings, seal_settings,
    seal_settings_off_runtime,
};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use rand::Rng as _;

/// Start of every encrypted value.
const MARKER: &str = "$imapapi$";
const VERSION: &str = "1";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const SCRYPT_LOG_N: u8 = 12;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
/// Binds ciphertexts to this format, so they cannot be replayed into another use of the key.
const AAD: &[u8] = b"imapapi-secret-v1";
/// Derived keys kept; beyond this the oldest goes.
const KEY_CACHE_MAX: usize = 1024;

/// Why a stored secret could not be decrypted. Never carries the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the value is encrypted but no service.secret is configured")]
    NoSecret,
    #[error("the value cannot be decrypted: wrong service.secret or tampered data")]
    WrongSecret,
    #[error("the encrypted value is malformed: {0}")]
    Malformed(&'static str),
    #[error("the encrypted value uses unsupported format version")]
    UnsupportedVersion,
    /// The blocking pool that derives keys could not run the work (shutting down).
    #[error("encryption is unavailable while the process shuts down")]
    Unavailable,
}

fn key_cache() -> &'static key_cache::KeyCache {
    static CACHE: std::sync::OnceLock<key_cache::KeyCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| key_cache::KeyCache::new(KEY_CACHE_MAX))
}

fn derive_key(secret: &str, salt: &[u8; SALT_LEN]) -> [u8; KEY_LEN] {
    if let Some(k) = key_cache().get(secret, salt) {
        return k;
    }
    let mut key = [0u8; KEY_LEN];
    // Both can only fail for out-of-range constants (checked by the unit tests).
    let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
        .expect("constant scrypt parameters are valid");
    scrypt::scrypt(secret.as_bytes(), salt, &params, &mut key)
        .expect("a 32-byte scrypt output is valid");
    key_cache().insert(secret, salt, key);
    key
}

fn cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&(*key).into())
}

/// True when `stored` is in the encrypted format (whatever its version).
pub fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(MARKER)
}

/// Encrypt `plain` with `secret`: a fresh salt and nonce every time, so equal values give
/// different outputs.
pub fn encrypt(secret: &str, plain: &str) -> String {
    let mut rng = rand::rng();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt);
    rng.fill(&mut nonce);
    let key = derive_key(secret, &salt);
    let payload = Payload {
        msg: plain.as_bytes(),
        aad: AAD,
    };
    // AES-GCM only refuses plaintexts over 64 GiB; a credential is never near that.
    let ct = cipher(&key)
        .encrypt(&Nonce::from(nonce), payload)
        .expect("AES-GCM encryption of a short value cannot fail");
    format!(
        "{MARKER}{VERSION}${}${}${}",
        B64.encode(salt),
        B64.encode(nonce),
        B64.encode(ct)
    )
}

fn field<const N: usize>(part: Option<&str>, what: &'static str) -> Result<[u8; N], CryptoError> {
    let bytes = B64
        .decode(part.ok_or(CryptoError::Malformed(what))?)
        .map_err(|_| CryptoError::Malformed(what))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::Malformed(what))
}

/// Decrypt a stored value. A value without the marker is cleartext (stored before a secret
/// was configured) and comes back as is.
pub fn decrypt(secret: Option<&str>, stored: &str) -> Result<String, CryptoError> {
    let Some(rest) = stored.strip_prefix(MARKER) else {
        return Ok(stored.to_string());
    };
    let mut parts = rest.split('$');
    if parts.next() != Some(VERSION) {
        return Err(CryptoError::UnsupportedVersion);
    }
    let salt: [u8; SALT_LEN] = field(parts.next(), "salt")?;
    let nonce: [u8; NONCE_LEN] = field(parts.next(), "nonce")?;
    let ct = B64
        .decode(parts.next().ok_or(CryptoError::Malformed("ciphertext"))?)
        .map_err(|_| CryptoError::Malformed("ciphertext"))?;
    if parts.next().is_some() {
        return Err(CryptoError::Malformed("trailing data"));
    }
    let secret = secret.ok_or(CryptoError::NoSecret)?;
    let key = derive_key(secret, &salt);
    let payload = Payload { msg: &ct, aad: AAD };
    let plain = cipher(&key)
        .decrypt(&Nonce::from(nonce), payload)
        .map_err(|_| CryptoError::WrongSecret)?;
    String::from_utf8(plain).map_err(|_| CryptoError::Malformed("plaintext is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AccountConfig, AuthConfig, ImapConfig, OAuth2Config, OAuth2User, Secret, SmtpConfig,
    };

    fn auth(pass: Option<&str>, token: Option<&str>) -> Option<AuthConfig> {
        Some(AuthConfig {
            user: "user@example.com".into(),
            pass: pass.map(Secret::new),
            access_token: token.map(Secret::new),
        })
    }

    fn account() -> AccountConfig {
        AccountConfig {
            account: "a".into(),
            name: "A".into(),
            copy: None,
            notify_from: None,
            path: None,
            imap: Some(ImapConfig {
                host: "imap.example.com".into(),
                port: 993,
                secure: true,
                auth: auth(Some("imap-pass"), Some("imap-token")),
                use_auth_server: false,
                tls: None,
                resync_delay: None,
                idle_folders: None,
            }),
            smtp: Some(SmtpConfig {
                host: "smtp.example.com".into(),
                port: 465,
                secure: true,
                auth: auth(Some("smtp-pass"), None),
                use_auth_server: false,
                tls: None,
            }),
            oauth2: Some(OAuth2Config {
                auth: OAuth2User {
                    user: "user@example.com".into(),
                },
                access_token: Some(Secret::new("oauth-access")),
                refresh_token: Some(Secret::new("oauth-refresh")),
                expires: None,
            }),
            webhooks: None,
        }
    }

    #[test]
    fn round_trip_and_fresh_salt() {
        let a = encrypt("s3cret", "hunter2 ünïcode");
        let b = encrypt("s3cret", "hunter2 ünïcode");
        assert!(is_encrypted(&a) && a.starts_with("$imapapi$1$"));
        assert_ne!(a, b, "salt and nonce are fresh per value");
        assert!(!a.contains("hunter2"));
        assert_eq!(decrypt(Some("s3cret"), &a).unwrap(), "hunter2 ünïcode");
        assert_eq!(decrypt(Some("s3cret"), &b).unwrap(), "hunter2 ünïcode");
        assert_eq!(decrypt(Some("s3cret"), &encrypt("s3cret", "")).unwrap(), "");
    }

    #[test]
    fn cleartext_passes_through() {
        assert!(!is_encrypted("plain"));
        assert_eq!(decrypt(None, "plain").unwrap(), "plain");
        assert_eq!(decrypt(Some("x"), "plain").unwrap(), "plain");
    }

    #[test]
    fn errors_never_reveal_the_value() {
        let stored = encrypt("right", "topsecretvalue");
        for (secret, want) in [
            (None, CryptoError::NoSecret),
            (Some("wrong"), CryptoError::WrongSecret),
        ] {
            let err = decrypt(secret, &stored).unwrap_err();
            assert_eq!(err, want);
            let text = format!("{err} {err:?}");
            assert!(!text.contains("topsecretvalue") && !text.contains(&stored[9..]));
        }
    }

    #[test]
    fn tampering_and_malformed_values_are_refused() {
        let stored = encrypt("k", "value");
        let mut parts: Vec<String> = stored.split('$').map(str::to_string).collect();
        // Flip one bit of the ciphertext.
        let mut ct = B64.decode(&parts[5]).unwrap();
        ct[0] ^= 1;
        parts[5] = B64.encode(ct);
        assert_eq!(
            decrypt(Some("k"), &parts.join("$")).unwrap_err(),
            CryptoError::WrongSecret
        );
        assert_eq!(
            decrypt(Some("k"), "$imapapi$2$a$b$c").unwrap_err(),
            CryptoError::UnsupportedVersion
        );
        assert!(matches!(
            decrypt(Some("k"), "$imapapi$1$!!$b$c").unwrap_err(),
            CryptoError::Malformed("salt")
        ));
        assert!(matches!(
            decrypt(Some("k"), &format!("{stored}$extra")).unwrap_err(),
            CryptoError::Malformed(_)
        ));
    }

    #[test]
    fn seals_and_opens_every_secret_of_an_account() {
        let plain = account();
        let mut sealed = plain.clone();
        seal_account(&mut sealed, "k");
        let json = serde_json::to_string(&sealed).unwrap();
        for v in [
            "imap-pass",
            "imap-token",
            "smtp-pass",
            "oauth-access",
            "oauth-refresh",
        ] {
            assert!(!json.contains(v), "{v} left in clear");
        }
        assert_eq!(json.matches("$imapapi$1$").count(), 5);
        assert!(
            json.contains("user@example.com"),
            "only secrets are touched"
        );

        // Sealing twice does not double-encrypt.
        let mut twice = sealed.clone();
        seal_account(&mut twice, "k");
        assert_eq!(twice, sealed);

        let mut opened = sealed.clone();
        open_account(&mut opened, Some("k")).unwrap();
        assert_eq!(opened, plain);

        let mut no_key = sealed.clone();
        assert_eq!(
            open_account(&mut no_key, None).unwrap_err(),
            CryptoError::NoSecret
        );

        // A record stored in clear opens without a secret.
        let mut clear = plain.clone();
        open_account(&mut clear, None).unwrap();
        assert_eq!(clear, plain);
    }

    #[test]
    fn resealing_is_idempotent_and_finishes_a_mix() {
        let plain = account();
        // From cleartext, then again: the second run changes nothing.
        let mut a = plain.clone();
        assert_eq!(reseal_account(&mut a, "new", None), Ok(Reseal::Sealed));
        let sealed = a.clone();
        assert_eq!(reseal_account(&mut a, "new", None), Ok(Reseal::Unchanged));
        assert_eq!(a, sealed, "nothing rewritten");
        // A record left half done (some values old, some new, one clear) is finished.
        let mut mixed = plain.clone();
        seal_account(&mut mixed, "old");
        let mut half = plain.clone();
        seal_account(&mut half, "new");
        mixed.imap.as_mut().unwrap().auth = half.imap.clone().unwrap().auth;
        mixed.smtp.as_mut().unwrap().auth.as_mut().unwrap().pass = Some(Secret::new("smtp-pass"));
        assert_eq!(
            reseal_account(&mut mixed, "new", Some("old")),
            Ok(Reseal::Sealed)
        );
        let mut opened = mixed.clone();
        open_account(&mut opened, Some("new")).unwrap();
        assert_eq!(opened, plain);
        // Old values without the old secret, or with a wrong one: refused.
        let mut old_only = plain.clone();
        seal_account(&mut old_only, "old");
        assert_eq!(
            reseal_account(&mut old_only.clone(), "new", None),
            Err(CryptoError::WrongSecret)
        );
        assert_eq!(
            reseal_account(&mut old_only, "new", Some("wrong")),
            Err(CryptoError::WrongSecret)
        );
    }

    /// Re-measure the derivation cost: `cargo test -p imapapi-common --release --lib
    /// measure_key_derivation -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn measure_key_derivation() {
        let mut best = std::time::Duration::MAX;
        for i in 0..20u8 {
            let t = std::time::Instant::now();
            derive_key("measure", &[i; SALT_LEN]);
            best = best.min(t.elapsed());
        }
        eprintln!("scrypt N=2^{SCRYPT_LOG_N} r={SCRYPT_R} p={SCRYPT_P}: best of 20 {best:?}");
    }

    #[test]
    fn scrypt_parameters_are_valid() {
        assert!(scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P).is_ok());
    }
}
