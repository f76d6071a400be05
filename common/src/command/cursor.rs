//! The `cursor` of a listing or a search: where the next page starts, by UID rather than by
//! page number, so mail arriving while a client pages does not shift the next page.
//!
//! A client sees it as an opaque string (`nextCursor`, then `?cursor=`): base64url of a
//! version byte, the folder's UIDVALIDITY and the lowest UID of the page it ended. The api
//! decodes it (a malformed one is a 400 naming `cursor`) and ingest compares its UIDVALIDITY
//! with the folder's ([`ListCursor::folder_reset`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// The query parameter, as errors name it.
pub const CURSOR_FIELD: &str = "cursor";

/// The first byte of an encoded cursor: a later layout gets another number.
const VERSION: u8 = 1;

/// Bytes of an encoded cursor: the version, UIDVALIDITY and UID (both big-endian).
const ENCODED_LEN: usize = 9;

/// The next page holds the messages with a UID below `below`, in the folder whose
/// UIDVALIDITY was `uid_validity` when the cursor was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCursor {
    pub uid_validity: u32,
    pub below: u32,
}

impl ListCursor {
    /// The opaque string a client gets as `nextCursor`.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; ENCODED_LEN];
        bytes[0] = VERSION;
        bytes[1..5].copy_from_slice(&self.uid_validity.to_be_bytes());
        bytes[5..9].copy_from_slice(&self.below.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Read a `cursor` parameter back; 400 naming `cursor` for anything [`encode`] did not
    /// make (wrong alphabet or length, unknown version, UID 0).
    ///
    /// [`encode`]: ListCursor::encode
    pub fn decode(raw: &str) -> Result<Self, ApiError> {
        let malformed = || ApiError::invalid(CURSOR_FIELD, "is not a cursor from this API");
        let bytes = URL_SAFE_NO_PAD
            .decode(raw.trim())
            .map_err(|_| malformed())?;
        let bytes: [u8; ENCODED_LEN] = bytes.try_into().map_err(|_| malformed())?;
        if bytes[0] != VERSION {
            return Err(malformed());
        }
        let word = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let cursor = ListCursor {
            uid_validity: word(1),
            below: word(5),
        };
        if cursor.below == 0 {
            return Err(malformed());
        }
        Ok(cursor)
    }

    /// `Some(404)` when the folder's UIDVALIDITY is no longer the cursor's: its UIDs now name
    /// other messages, so the listing must start again from the first page.
    pub fn folder_reset(&self, uid_validity: u32) -> Option<ApiError> {
        (self.uid_validity != uid_validity).then(|| {
            ApiError::new(
                404,
                "FolderReset",
                format!(
                    "\"{CURSOR_FIELD}\" was made before the folder was reset (its UIDVALIDITY \
                     changed); list it again without a cursor"
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_an_opaque_url_safe_string() {
        for c in [
            ListCursor {
                uid_validity: 1_700_000_000,
                below: 42,
            },
            ListCursor {
                uid_validity: u32::MAX,
                below: u32::MAX,
            },
            ListCursor {
                uid_validity: 0,
                below: 1,
            },
        ] {
            let s = c.encode();
            assert_eq!(s.len(), 12, "{s}");
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{s}"
            );
            assert_eq!(ListCursor::decode(&s).unwrap(), c);
        }
    }

    #[test]
    fn malformed_cursors_name_the_parameter() {
        let good = ListCursor {
            uid_validity: 7,
            below: 9,
        }
        .encode();
        let other_version = {
            let mut b = URL_SAFE_NO_PAD.decode(&good).unwrap();
            b[0] = 2;
            URL_SAFE_NO_PAD.encode(b)
        };
        let uid_zero = URL_SAFE_NO_PAD.encode([VERSION, 0, 0, 0, 7, 0, 0, 0, 0]);
        for bad in [
            "",
            "x",
            "!!!!!!!!!!!!",
            &good[..11],
            &format!("{good}AA"),
            &other_version,
            &uid_zero,
        ] {
            let e = ListCursor::decode(bad).unwrap_err();
            assert_eq!(e.status_code, 400, "{bad}");
            assert_eq!(e.fields[0].key, "cursor", "{bad}");
        }
    }

    #[test]
    fn a_changed_uidvalidity_is_a_reset_folder() {
        let c = ListCursor {
            uid_validity: 7,
            below: 9,
        };
        assert!(c.folder_reset(7).is_none());
        let e = c.folder_reset(8).unwrap();
        assert_eq!((e.status_code, e.code.as_str()), (404, "FolderReset"));
        assert!(e.message.contains("cursor"), "{}", e.message);
    }
}
