//! Embeddings: OpenAI JSON into `types.v1.EmbedRequest`, and the answer back in the
//! encoding the caller asked for.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use switchyard_error::ApiError;
use switchyard_proto::types::v1 as pb;

use super::chat::{non_empty, required};
use super::json::to_options;
use crate::wire::StringOrSeq;
use crate::wire::embeddings as wire;

/// How vectors go back to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON float arrays (the API default).
    Float,
    /// Base64 of little-endian f32 bytes (what the SDK asks for by default).
    Base64,
}

/// The request and the encoding its answer needs.
pub fn embed_request(
    req: wire::EmbeddingsRequest,
) -> Result<(pb::EmbedRequest, Encoding), ApiError> {
    let model = non_empty(req.model, || "model".into())?;
    let encoding = match req.encoding_format.as_deref() {
        None | Some("float") => Encoding::Float,
        Some("base64") => Encoding::Base64,
        Some(other) => {
            return Err(ApiError::invalid(
                "encoding_format",
                format!("Invalid value: '{other}'. Supported values are: 'float' and 'base64'."),
            ));
        }
    };
    let (input, token_input) = match required(req.input, || "input".into())? {
        StringOrSeq::String(text) => (vec![text], Vec::new()),
        StringOrSeq::Seq(items) => inputs(items)?,
    };
    let request = pb::EmbedRequest {
        model,
        input,
        token_input,
        dimensions: req.dimensions,
        user: req.user,
        metadata: Default::default(),
        provider_options: to_options(req.extra),
    };
    Ok((request, encoding))
}

/// An `input` array: all strings, all token ids (one input), or all token id arrays.
fn inputs(items: Vec<wire::InputItem>) -> Result<(Vec<String>, Vec<pb::TokenIds>), ApiError> {
    use wire::InputItem;
    let mixed = || {
        ApiError::invalid(
            "input",
            "'input' must be a string, an array of strings, an array of token ids, or an \
             array of token id arrays.",
        )
    };
    match items.first() {
        None => Err(ApiError::invalid("input", "'input' must not be empty.")),
        Some(InputItem::Text(_)) => items
            .into_iter()
            .map(|item| match item {
                InputItem::Text(t) => Ok(t),
                _ => Err(mixed()),
            })
            .collect::<Result<_, _>>()
            .map(|texts| (texts, Vec::new())),
        Some(InputItem::Token(_)) => items
            .into_iter()
            .map(|item| match item {
                InputItem::Token(id) => Ok(id),
                _ => Err(mixed()),
            })
            .collect::<Result<_, _>>()
            .map(|ids| (Vec::new(), vec![pb::TokenIds { ids }])),
        Some(InputItem::Tokens(_)) => items
            .into_iter()
            .map(|item| match item {
                InputItem::Tokens(ids) => Ok(pb::TokenIds { ids }),
                _ => Err(mixed()),
            })
            .collect::<Result<_, _>>()
            .map(|tokens| (Vec::new(), tokens)),
    }
}

/// Base64 of the vector's little-endian f32 bytes.
pub fn base64_vector(values: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    STANDARD.encode(bytes)
}

/// The OpenAI view of an embeddings answer.
pub fn embeddings_response(
    r: &pb::EmbedResponse,
    encoding: Encoding,
) -> wire::EmbeddingsResponse<'_> {
    let prompt_tokens = r.usage.as_ref().map_or(0, |u| u.prompt_tokens);
    wire::EmbeddingsResponse {
        object: "list",
        data: r
            .data
            .iter()
            .map(|e| wire::EmbeddingData {
                object: "embedding",
                index: e.index,
                embedding: match encoding {
                    Encoding::Float => wire::EmbeddingVector::Float(&e.values),
                    Encoding::Base64 => wire::EmbeddingVector::Base64(base64_vector(&e.values)),
                },
            })
            .collect(),
        model: &r.model,
        usage: wire::EmbeddingsUsage {
            prompt_tokens,
            total_tokens: r.usage.as_ref().map_or(prompt_tokens, |u| {
                if u.total_tokens == 0 {
                    prompt_tokens
                } else {
                    u.total_tokens
                }
            }),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn convert(json: serde_json::Value) -> Result<(pb::EmbedRequest, Encoding), ApiError> {
        embed_request(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn every_input_shape_converts() {
        let (r, e) = convert(serde_json::json!({"model": "e", "input": "a"})).unwrap();
        assert_eq!((r.input, e), (vec!["a".to_string()], Encoding::Float));
        let (r, _) = convert(serde_json::json!({"model": "e", "input": ["a", "b"]})).unwrap();
        assert_eq!(r.input.len(), 2);
        let (r, _) = convert(serde_json::json!({"model": "e", "input": [1, 2]})).unwrap();
        assert_eq!(r.token_input, vec![pb::TokenIds { ids: vec![1, 2] }]);
        let (r, e) = convert(
            serde_json::json!({"model": "e", "input": [[1], [2, 3]], "encoding_format": "base64"}),
        )
        .unwrap();
        assert_eq!(r.token_input.len(), 2);
        assert_eq!(e, Encoding::Base64);
        let err = convert(serde_json::json!({"model": "e", "input": ["a", 1]})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input"));
        let err = convert(serde_json::json!({"model": "e", "input": []})).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input"));
    }

    #[test]
    fn base64_is_little_endian_f32() {
        assert_eq!(base64_vector(&[0.25, -0.5, 1.0]), "AACAPgAAAL8AAIA/");
    }
}
