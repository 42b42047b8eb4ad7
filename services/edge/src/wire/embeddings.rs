//! `POST /v1/embeddings` request and answer.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize as DeriveDeserialize, Serialize};
use serde_json::{Map, Value};

use super::StringOrSeq;

/// The request body; unknown fields travel as `provider_options`.
#[derive(Debug, DeriveDeserialize)]
pub struct EmbeddingsRequest {
    /// Model name.
    pub model: Option<String>,
    /// string | [string] | [int] | [[int]].
    pub input: Option<StringOrSeq<InputItem>>,
    /// float (default) | base64.
    pub encoding_format: Option<String>,
    /// Output dimensions, for models that can shorten vectors.
    pub dimensions: Option<u32>,
    /// End-user id.
    pub user: Option<String>,
    /// Every other top-level field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One element of an `input` array; the array must be homogeneous, which the
/// conversion checks.
#[derive(Debug, Clone, PartialEq)]
pub enum InputItem {
    /// A text input.
    Text(String),
    /// One token id (the array is one pre-tokenized input).
    Token(u32),
    /// A pre-tokenized input.
    Tokens(Vec<u32>),
}

impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;

        impl<'de> Visitor<'de> for V {
            type Value = InputItem;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a token id or an array of token ids")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<InputItem, E> {
                Ok(InputItem::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<InputItem, E> {
                Ok(InputItem::Text(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<InputItem, E> {
                u32::try_from(v)
                    .map(InputItem::Token)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<InputItem, A::Error> {
                let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(8192));
                while let Some(id) = seq.next_element()? {
                    ids.push(id);
                }
                Ok(InputItem::Tokens(ids))
            }
        }

        deserializer.deserialize_any(V)
    }
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct EmbeddingsResponse<'a> {
    /// Always "list".
    pub object: &'static str,
    /// One embedding per input.
    pub data: Vec<EmbeddingData<'a>>,
    /// The model that answered.
    pub model: &'a str,
    /// Token counts.
    pub usage: EmbeddingsUsage,
}

/// One embedding.
#[derive(Debug, Serialize)]
pub struct EmbeddingData<'a> {
    /// Always "embedding".
    pub object: &'static str,
    /// Index of the input.
    pub index: u32,
    /// The vector, as the caller asked.
    pub embedding: EmbeddingVector<'a>,
}

/// A vector as a float array or as base64 of little-endian f32 bytes.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EmbeddingVector<'a> {
    /// `encoding_format: "float"`.
    Float(&'a [f32]),
    /// `encoding_format: "base64"`.
    Base64(String),
}

/// `usage` of an embeddings answer.
#[derive(Debug, Serialize)]
pub struct EmbeddingsUsage {
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Same as prompt tokens.
    pub total_tokens: u64,
}
