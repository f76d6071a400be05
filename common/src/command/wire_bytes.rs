//! Binary data inside JSON command replies: base64 on the wire, bytes in memory (a JSON
//! array of numbers would be four times the size).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes carried as a base64 string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct WireBytes(pub Vec<u8>);

impl std::fmt::Debug for WireBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WireBytes({} bytes)", self.0.len())
    }
}

impl Serialize for WireBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for WireBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(WireBytes)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_base64_in_json() {
        let j = serde_json::to_string(&WireBytes(vec![0, 255, 10])).unwrap();
        assert_eq!(j, "\"AP8K\"");
        assert_eq!(
            serde_json::from_str::<WireBytes>(&j).unwrap(),
            WireBytes(vec![0, 255, 10])
        );
    }
}
