//! `false` standing for "none": the original API wrote a missing attachment filename or
//! special use as `false` and accepted `imap: false` / `smtp: false` in account bodies, so
//! clients test these fields for `false`. [`OrFalse`] keeps such a value typed (an
//! `Option<T>` inside) while speaking the original's JSON.
//!
//! Use the type itself where the three states of `Option<OrFalse<T>>` are needed (absent,
//! `false`, value), or this module with `#[serde(with = "…::or_false")]` on an `Option<T>`
//! field that is always written (`None` as `false`); `deserialize` alone also fits a field
//! that is stored without the `false` but must accept it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, IntoDeserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A value, or `false` in its place when there is none. `null` reads as none too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OrFalse<T>(pub Option<T>);

impl<T> From<Option<T>> for OrFalse<T> {
    fn from(v: Option<T>) -> Self {
        OrFalse(v)
    }
}

impl<T: Serialize> Serialize for OrFalse<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(v) => v.serialize(s),
            None => s.serialize_bool(false),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrFalse<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OrFalseVisitor(PhantomData)).map(OrFalse)
    }
}

/// Reads `false`/`null` itself and hands anything else to `T`. Forwarding through the
/// visitor (rather than an untagged enum) keeps `T`'s own errors, and with them the path
/// of a bad nested field (`imap.port`), which the api reports to the client.
struct OrFalseVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OrFalseVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value or false")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        if v {
            // `true` is no value and no "none": let T say what it wanted instead.
            T::deserialize(v.into_deserializer()).map(Some)
        } else {
            Ok(None)
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        T::deserialize(d).map(Some)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Some)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Some)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Some)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Some)
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        T::deserialize(v.into_deserializer()).map(Some)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        T::deserialize(SeqAccessDeserializer::new(seq)).map(Some)
    }
}

/// `#[serde(with)]` form for an `Option<T>` field: `None` is written as `false`.
pub fn serialize<T: Serialize, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    OrFalse(v.as_ref()).serialize(s)
}

/// `#[serde(with)]` / `deserialize_with` form: `false` and `null` read as `None`.
pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    OrFalse::<T>::deserialize(d).map(|v| v.0)
}

/// OpenAPI schemas of fields that speak this module's JSON: a value or `false`.
pub mod schema {
    use utoipa::ToSchema;
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::{Ref, RefOr};

    /// A `T` (referenced by its schema name) or `false`.
    pub fn value_or_false<T: ToSchema>() -> Schema {
        one_of_false(Ref::from_schema_name(T::name()).into())
    }

    /// A string or `false`.
    pub fn string_or_false() -> Schema {
        one_of_false(ObjectBuilder::new().schema_type(Type::String).into())
    }

    fn one_of_false(value: RefOr<Schema>) -> Schema {
        let no_value = ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([false]))
            .description(Some("`false`: none"));
        OneOfBuilder::new().item(value).item(no_value).into()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::OrFalse;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Server {
        host: String,
        port: u16,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(default, with = "super")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<OrFalse<Server>>,
    }

    #[test]
    fn writes_false_for_none_and_the_value_otherwise() {
        let h = Holder {
            name: None,
            server: None,
        };
        assert_eq!(serde_json::to_string(&h).unwrap(), r#"{"name":false}"#);
        let h = Holder {
            name: Some("a.pdf".into()),
            server: Some(OrFalse(None)),
        };
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"name":"a.pdf","server":false}"#
        );
    }

    #[test]
    fn reads_false_null_absent_and_values() {
        let h: Holder = serde_json::from_str(r#"{"name":false,"server":false}"#).unwrap();
        assert_eq!(h.name, None);
        assert_eq!(h.server, Some(OrFalse(None)));
        let h: Holder = serde_json::from_str(r#"{"name":null}"#).unwrap();
        assert_eq!((h.name, h.server), (None, None));
        let h: Holder =
            serde_json::from_str(r#"{"name":"x","server":{"host":"h","port":1}}"#).unwrap();
        assert_eq!(h.name.as_deref(), Some("x"));
        assert_eq!(h.server.unwrap().0.unwrap().port, 1);
    }

    #[test]
    fn nested_errors_keep_their_path_and_true_is_refused() {
        let de = &mut serde_json::Deserializer::from_str(r#"{"server":{"host":"h","port":"1"}}"#);
        let e = serde_path_to_error::deserialize::<_, Holder>(de).unwrap_err();
        assert_eq!(e.path().to_string(), "server.port");
        let de = &mut serde_json::Deserializer::from_str(r#"{"server":{"host":"h","x":1}}"#);
        let e = serde_path_to_error::deserialize::<_, Holder>(de).unwrap_err();
        assert!(e.inner().to_string().contains("unknown field `x`"), "{e}");
        assert!(serde_json::from_str::<Holder>(r#"{"server":true}"#).is_err());
        assert!(serde_json::from_str::<Holder>(r#"{"name":true}"#).is_err());
    }
}
