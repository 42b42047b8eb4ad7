//! `string | array` and `string | object` fields, decoded without serde's buffering
//! untagged enums so that errors inside the array or object keep their exact JSON
//! path.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A field that is either one string or an array of `T` (`stop`, message `content`).
#[derive(Debug, Clone, PartialEq)]
pub enum StringOrSeq<T> {
    /// The single-string form.
    String(String),
    /// The array form.
    Seq(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StringOrSeq<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = StringOrSeq<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrSeq::String(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(StringOrSeq::String(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(StringOrSeq::Seq(items))
            }
        }

        deserializer.deserialize_any(V(PhantomData))
    }
}

/// A field that is either a mode string or an object (`tool_choice`: "auto" or a
/// named function).
#[derive(Debug, Clone, PartialEq)]
pub enum ModeOrObject<T> {
    /// The string form.
    Mode(String),
    /// The object form.
    Object(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ModeOrObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = ModeOrObject<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an object")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ModeOrObject::Mode(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(ModeOrObject::Object)
            }
        }

        deserializer.deserialize_any(V(PhantomData))
    }
}
