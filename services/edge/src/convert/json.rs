//! JSON values into `google.protobuf.Struct`, for schemas and provider options.

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as ProtoValue};
use serde_json::{Map, Value};

/// A JSON object as a `Struct`. Numbers become doubles, as `Struct` demands.
pub fn to_struct(map: Map<String, Value>) -> Struct {
    Struct {
        fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

/// A JSON value as a `google.protobuf.Value`. Depth is bounded by serde_json's
/// recursion limit on the way in.
pub fn to_value(value: Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(to_struct(map)),
    };
    ProtoValue { kind: Some(kind) }
}

/// `Some(struct)` for a non-empty object, else `None` (no options at all).
pub fn to_options(map: Map<String, Value>) -> Option<Struct> {
    (!map.is_empty()).then(|| to_struct(map))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_convert() {
        let Value::Object(map) = serde_json::json!({"a": [1, "x", null, {"b": true}]}) else {
            unreachable!()
        };
        let s = to_struct(map);
        let Some(Kind::ListValue(list)) = &s.fields["a"].kind else {
            panic!("not a list")
        };
        assert_eq!(list.values[0].kind, Some(Kind::NumberValue(1.0)));
        assert_eq!(list.values[1].kind, Some(Kind::StringValue("x".into())));
        assert_eq!(list.values[2].kind, Some(Kind::NullValue(0)));
        assert!(matches!(list.values[3].kind, Some(Kind::StructValue(_))));
    }
}
