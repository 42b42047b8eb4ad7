//! Lenient field readers shared by every kind's answer types: providers (and
//! servers claiming compatibility) send `null` for lists, floats for counts, and
//! proto3-JSON strings for 64-bit integers.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `null` or missing becomes the default.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string, or `None` for anything else (`null`, or an object where a server
/// extends a field its own way).
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        _ => None,
    })
}

/// Any JSON number, numeric string or `null` as a non-negative count.
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64().map_or(0, |f| f.max(0.0) as u64),
        Some(Value::String(s)) => s.trim().parse::<f64>().map_or(0, |f| f.max(0.0) as u64),
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "count", default)]
        n: u64,
        #[serde(deserialize_with = "nullable", default)]
        v: Vec<u8>,
    }

    #[test]
    fn reads_what_providers_send() {
        for (text, n) in [
            (r#"{"n": 3}"#, 3),
            (r#"{"n": 3.0}"#, 3),
            (r#"{"n": "12"}"#, 12),
            (r#"{"n": null}"#, 0),
            (r#"{"n": -1}"#, 0),
            (r#"{}"#, 0),
        ] {
            assert_eq!(serde_json::from_str::<T>(text).unwrap().n, n, "{text}");
        }
        let t: T = serde_json::from_str(r#"{"v": null}"#).unwrap();
        assert!(t.v.is_empty());
    }
}
