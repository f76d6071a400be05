//! The JSON form of stored records, shared by every backend.
//!
//! serde_json's error messages can quote the offending value, which may be a secret of an
//! account record, so errors report only the error category and position.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

fn corrupt(what: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!(
        "{what}: {:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    ))
}

/// Parse a stored record.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what, &e))
}

/// Serialize a record for storage.
pub(crate) fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| corrupt(what, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_quote_the_value() {
        let e = decode::<u32>("account", b"\"hunter2\"").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
