//! Embeddings: Google AI `batchEmbedContents` and Vertex AI `predict`.
//!
//! Google AI reports no token usage for embeddings (the caller estimates it);
//! Vertex AI's `predict` counts tokens per input.

use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::Value;
use switchyard_proto::types::v1::{EmbedRequest, Embedding, Usage};

use super::{Gemini, request, response};
use crate::ProviderError;

/// Inputs per Vertex AI `predict` call (Google's limit).
const PREDICT_BATCH: usize = 250;
/// `predict` calls in flight at once for one embeddings request.
const PREDICT_CONCURRENCY: usize = 4;

impl Gemini {
    /// Google AI `batchEmbedContents`: one call for all inputs; usage only if
    /// the answer happens to carry it.
    pub(super) async fn embed_google_ai(
        &self,
        model: &str,
        req: &EmbedRequest,
    ) -> Result<(Vec<Embedding>, Option<Usage>), ProviderError> {
        let body = request::batch_embed_body(&self.resource(model)?, req)?;
        let response = self
            .post(&self.url(model, "batchEmbedContents")?, &body, model)
            .await?;
        let answer: WireBatchEmbed = self.read_json(response).await?;
        if let Some(err) = &answer.error {
            return Err(self.google.error_event(model, err));
        }
        let data = answer
            .embeddings
            .into_iter()
            .enumerate()
            .map(|(i, e)| Embedding {
                index: i as u32,
                values: e.values,
            })
            .collect();
        let usage = answer
            .usage_metadata
            .filter(|u| u.prompt_token_count > 0)
            .map(|u| prompt_only(u.prompt_token_count));
        Ok((data, usage))
    }

    /// Vertex AI `predict`, in batches of [`PREDICT_BATCH`] inputs (one for
    /// `gemini-embedding-*` models, which take one instance per request), a few in
    /// flight at once, answers kept in input order.
    pub(super) async fn embed_vertex(
        &self,
        model: &str,
        req: &EmbedRequest,
    ) -> Result<(Vec<Embedding>, Option<Usage>), ProviderError> {
        let inputs = request::embed_inputs(req)?;
        let url = self.url(model, "predict")?;
        let batch = if model.contains("gemini-embedding") {
            1
        } else {
            PREDICT_BATCH
        };
        let calls: Vec<(Value, usize)> = inputs
            .chunks(batch)
            .map(|texts| (request::predict_body(texts, req), texts.len()))
            .collect();
        let url = url.as_str();
        let answers: Vec<WirePredict> = futures::stream::iter(calls)
            .map(|(body, count)| async move {
                let response = self.post(url, &body, model).await?;
                let answer: WirePredict = self.read_json(response).await?;
                if answer.predictions.len() != count {
                    return Err(self.endpoint.malformed("response"));
                }
                Ok(answer)
            })
            .buffered(PREDICT_CONCURRENCY)
            .try_collect()
            .await?;
        let mut tokens = Some(0u64);
        let mut data = Vec::with_capacity(inputs.len());
        for prediction in answers.into_iter().flat_map(|a| a.predictions) {
            let embedding = prediction.embeddings;
            tokens = tokens
                .zip(embedding.statistics.and_then(|s| s.token_count))
                .map(|(a, b)| a + b);
            data.push(Embedding {
                index: data.len() as u32,
                values: embedding.values,
            });
        }
        Ok((data, tokens.filter(|t| *t > 0).map(prompt_only)))
    }
}

/// Usage of an embeddings call: prompt tokens only.
fn prompt_only(tokens: u64) -> Usage {
    Usage {
        prompt_tokens: tokens,
        total_tokens: tokens,
        ..Usage::default()
    }
}

/// `batchEmbedContents`' answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireBatchEmbed {
    embeddings: Vec<WireValues>,
    /// Not documented for every model; used when present.
    usage_metadata: Option<response::WireUsage>,
    error: Option<Value>,
}

/// One embedding vector.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireValues {
    values: Vec<f32>,
}

/// Vertex AI `predict`'s answer for text embeddings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WirePredict {
    predictions: Vec<WirePrediction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WirePrediction {
    embeddings: WirePredictEmbedding,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WirePredictEmbedding {
    values: Vec<f32>,
    statistics: Option<WireStatistics>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WireStatistics {
    token_count: Option<u64>,
}
