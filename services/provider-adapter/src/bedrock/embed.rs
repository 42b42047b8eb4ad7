//! Embeddings on Bedrock, through InvokeModel (`POST /model/{modelId}/invoke`): each
//! model family has its own body, chosen by model id.
//!
//! - Amazon Titan (`amazon.titan-embed-*`): one text per call,
//!   `{"inputText", "dimensions"?}` to `{"embedding", "inputTextTokenCount"}`.
//! - Cohere (`cohere.embed-*`): up to 96 texts per call,
//!   `{"texts", "input_type": "search_document"}` to `{"embeddings"}` (a list of
//!   vectors, or by type, `{"float": [...]}`, when `embedding_types` is asked for).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard_proto::types::v1::EmbedRequest;

use crate::ProviderError;
use crate::lenient::count;
use crate::openai_wire::value_json;

/// Most texts Cohere embeds in one call.
pub const COHERE_BATCH: usize = 96;

/// The body shape a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `amazon.titan-embed-*`.
    Titan,
    /// `cohere.embed-*`.
    Cohere,
}

/// The family of a model id, a cross-region profile (`us.cohere.embed-v4:0`) or an
/// ARN ending in either.
pub fn family(model: &str) -> Option<Family> {
    let id = model.rsplit('/').next().unwrap_or(model);
    let is = |prefix: &str| id.starts_with(prefix) || id.contains(&format!(".{prefix}"));
    if is("amazon.titan-embed") {
        Some(Family::Titan)
    } else if is("cohere.embed") {
        Some(Family::Cohere)
    } else {
        None
    }
}

/// The texts to embed; Bedrock models take text only.
pub fn texts(req: &EmbedRequest) -> Result<&[String], ProviderError> {
    if !req.token_input.is_empty() {
        return Err(ProviderError::invalid(
            "token_input",
            "Bedrock embedding models take text input only",
        ));
    }
    if req.input.is_empty() {
        return Err(ProviderError::invalid("input", "must not be empty"));
    }
    Ok(&req.input)
}

/// A Titan body for one text.
pub fn titan_body(text: &str, req: &EmbedRequest) -> Value {
    let mut body = Map::new();
    body.insert("inputText".into(), text.into());
    if let Some(d) = req.dimensions {
        body.insert("dimensions".into(), d.into());
    }
    merge_options(&mut body, req, &["inputText"]);
    Value::Object(body)
}

/// A Cohere body for one batch: documents to store unless `provider_options` say
/// otherwise (`"input_type": "search_query"`).
pub fn cohere_body(texts: &[String], req: &EmbedRequest) -> Value {
    let mut body = Map::new();
    body.insert("texts".into(), texts.into());
    body.insert("input_type".into(), "search_document".into());
    if let Some(d) = req.dimensions {
        body.insert("output_dimension".into(), d.into());
    }
    merge_options(&mut body, req, &["texts"]);
    Value::Object(body)
}

fn merge_options(body: &mut Map<String, Value>, req: &EmbedRequest, protected: &[&str]) {
    for (key, value) in req.provider_options.iter().flat_map(|o| o.fields.iter()) {
        if !protected.contains(&key.as_str()) {
            body.insert(key.clone(), value_json(value));
        }
    }
}

/// A Titan answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TitanResponse {
    pub embedding: Option<Value>,
    pub embeddings_by_type: Option<Value>,
    #[serde(deserialize_with = "count")]
    pub input_text_token_count: u64,
}

impl TitanResponse {
    /// The vector: `embedding`, or the float one of `embeddingsByType`.
    pub fn values(&self) -> Option<Vec<f32>> {
        match (&self.embedding, &self.embeddings_by_type) {
            (Some(v), _) if !v.is_null() => embedding_values(v),
            (_, Some(by_type)) => embedding_values(by_type.get("float")?),
            _ => None,
        }
    }
}

/// A Cohere answer's vectors, in text order.
pub fn cohere_values(body: &Value) -> Option<Vec<Vec<f32>>> {
    let embeddings = body.get("embeddings")?;
    let list = match embeddings {
        Value::Array(list) => list,
        Value::Object(by_type) => by_type.get("float")?.as_array()?,
        _ => return None,
    };
    list.iter().map(embedding_values).collect()
}

/// An embedding as floats, or as base64 of little-endian f32s.
pub fn embedding_values(value: &Value) -> Option<Vec<f32>> {
    match value {
        Value::Array(items) => items.iter().map(|v| v.as_f64().map(|f| f as f32)).collect(),
        Value::String(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            if bytes.len() % 4 != 0 {
                return None;
            }
            Some(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn families_by_model_id() {
        assert_eq!(family("amazon.titan-embed-text-v2:0"), Some(Family::Titan));
        assert_eq!(family("amazon.titan-embed-image-v1"), Some(Family::Titan));
        assert_eq!(family("cohere.embed-english-v3"), Some(Family::Cohere));
        assert_eq!(family("us.cohere.embed-v4:0"), Some(Family::Cohere));
        assert_eq!(
            family("arn:aws:bedrock:us-east-1::foundation-model/cohere.embed-multilingual-v3"),
            Some(Family::Cohere)
        );
        assert_eq!(family("anthropic.claude-3-haiku-20240307-v1:0"), None);
        assert_eq!(family("amazon.titan-text-express-v1"), None);
    }

    #[test]
    fn vectors_as_floats_by_type_or_base64() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(
            [1.5f32, -2.0]
                .iter()
                .flat_map(|f| f.to_le_bytes())
                .collect::<Vec<_>>(),
        );
        assert_eq!(embedding_values(&json!(b64)), Some(vec![1.5, -2.0]));
        assert_eq!(embedding_values(&json!("AAA")), None);
        let titan: TitanResponse = serde_json::from_value(
            json!({"embeddingsByType": {"float": [0.5]}, "inputTextTokenCount": 3}),
        )
        .unwrap();
        assert_eq!(titan.values(), Some(vec![0.5]));
        assert_eq!(
            cohere_values(&json!({"embeddings": {"float": [[1.0], [2.0]]}})),
            Some(vec![vec![1.0], vec![2.0]])
        );
        assert_eq!(cohere_values(&json!({"embeddings": [[1.0, "x"]]})), None);
    }
}
