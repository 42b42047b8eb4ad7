//! Kind `bedrock`: AWS Bedrock's Converse and ConverseStream APIs for chat,
//! CountTokens for token counts, and InvokeModel for Titan and Cohere embeddings, every request signed with SigV4
//! (service `bedrock`, the configured region) over one pooled HTTP client per
//! provider instance. No AWS SDK: `aws-sigv4` signs, `aws-smithy-eventstream` reads
//! the binary event-stream framing, the HTTP client sends.
//!
//! Credentials are static (access key id, secret key, optional session token), read
//! once at start-up from the variables the config names; the secret only ever enters
//! the HMAC and never a header, log line or error.

mod embed;
mod errors;
mod eventstream;
mod response;
mod sign;
mod stream;
mod wire;

use std::sync::Arc;
use std::time::SystemTime;

use ::http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use async_trait::async_trait;
use futures::StreamExt;
use serde_json::Value;
use switchyard_config::{ProviderAdapterConfig, ProviderConfig, Secret};
use switchyard_proto::types::v1::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Embedding, TokenCount, Usage,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

pub use sign::AwsCredentials;

use self::embed::Family;
use self::response::WireConverseResponse;
use self::sign::Signer;
use self::stream::ConverseStream;
use crate::http::{self, Endpoint};
use crate::{AdapterError, ChatProvider, ChunkStream, ProviderError};

/// The content type of ConverseStream answers.
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";
/// Titan embeds one text per call: this many calls run at once.
const TITAN_CONCURRENCY: usize = 4;
/// InvokeModel reports the tokens it counted in this header.
const INPUT_TOKEN_COUNT: &str = "x-amzn-bedrock-input-token-count";

/// One Bedrock provider instance: its region's endpoint, signer and client.
#[derive(Debug)]
pub struct Bedrock {
    name: Arc<str>,
    /// `https://bedrock-runtime.{region}.amazonaws.com`, or the configured override.
    base: String,
    signer: Signer,
    /// The pooled client (no static headers: every request is signed).
    endpoint: Endpoint,
}

impl Bedrock {
    /// A provider instance for `region` with static `credentials`, calling
    /// `base_url` instead of the region's endpoint when given (a VPC endpoint, a
    /// proxy, a test server; requests are still signed for `region`). Embedders and
    /// tests use this; the service builds instances from config.
    pub fn new(
        name: &str,
        region: &str,
        base_url: Option<&str>,
        credentials: AwsCredentials,
        settings: &ProviderAdapterConfig,
    ) -> Result<Self, AdapterError> {
        Self::build(name, region, base_url, &credentials, settings, &|field| {
            field.to_string()
        })
    }

    /// The instance for `[[providers]]` entry `index`, its credentials read from the
    /// environment now; errors name the key path (`providers[4].aws_access_key_id_env`).
    pub(crate) fn from_config(
        index: usize,
        provider: &ProviderConfig,
        settings: &ProviderAdapterConfig,
    ) -> Result<Self, AdapterError> {
        let key = |field: &str| format!("providers[{index}].{field}");
        let region = provider.region.as_deref().unwrap_or_default();
        let var = |configured: &Option<String>, default: &'static str| {
            configured.clone().unwrap_or_else(|| default.to_string())
        };
        let access_key_id = Secret::from_env(
            &key("aws_access_key_id_env"),
            &var(&provider.aws_access_key_id_env, "AWS_ACCESS_KEY_ID"),
        )?;
        let secret_access_key = Secret::from_env(
            &key("aws_secret_access_key_env"),
            &var(&provider.aws_secret_access_key_env, "AWS_SECRET_ACCESS_KEY"),
        )?;
        // Required when named; otherwise optional (long-term keys have none), and
        // taken from AWS_SESSION_TOKEN only beside the default key variables: a
        // token belongs to its key pair, not to whatever else the environment holds.
        let session_token = match (
            &provider.aws_session_token_env,
            &provider.aws_access_key_id_env,
        ) {
            (Some(name), _) => Some(Secret::from_env(&key("aws_session_token_env"), name)?),
            (None, None) => std::env::var("AWS_SESSION_TOKEN")
                .ok()
                .filter(|v| !v.is_empty())
                .map(Secret::new),
            (None, Some(_)) => None,
        };
        let credentials = AwsCredentials {
            access_key_id: access_key_id.expose().to_string(),
            secret_access_key,
            session_token,
        };
        Self::build(
            &provider.name,
            region,
            provider.base_url.as_deref(),
            &credentials,
            settings,
            &key,
        )
    }

    fn build(
        name: &str,
        region: &str,
        base_url: Option<&str>,
        credentials: &AwsCredentials,
        settings: &ProviderAdapterConfig,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Self, AdapterError> {
        let invalid = |field: &str, message: &str| AdapterError::Invalid {
            key: key(field),
            message: message.to_string(),
        };
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(
                "region",
                "must be an AWS region name such as us-east-1",
            ));
        }
        // The key id goes into the authorization header, the token is one.
        let header_safe = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic());
        if !header_safe(&credentials.access_key_id) || credentials.access_key_id.contains('/') {
            return Err(invalid(
                "aws_access_key_id_env",
                "the access key id is empty or has characters AWS key ids never have",
            ));
        }
        if credentials.secret_access_key.expose().is_empty() {
            return Err(invalid(
                "aws_secret_access_key_env",
                "the secret key is empty",
            ));
        }
        if let Some(token) = &credentials.session_token
            && !header_safe(token.expose())
        {
            return Err(invalid(
                "aws_session_token_env",
                "the session token contains characters not allowed in an HTTP header",
            ));
        }
        let base = match base_url {
            Some(url) => http::base_url(&key("base_url"), url)?,
            None => format!("https://bedrock-runtime.{region}.amazonaws.com"),
        };
        Ok(Self {
            name: name.into(),
            base,
            signer: Signer::new(credentials, region),
            endpoint: Endpoint {
                name: name.into(),
                client: http::client(name, settings)?,
                headers: HeaderMap::new(),
                parse_error: errors::parse_error,
            },
        })
    }

    /// `{base}/model/{modelId}/{action}`, the model id percent-encoded as one segment.
    fn url(&self, model: &str, action: &str) -> Result<String, ProviderError> {
        if matches!(model, "" | "." | "..") {
            return Err(ProviderError::invalid(
                "upstream_model",
                "is not a Bedrock model id",
            ));
        }
        Ok(format!(
            "{}/model/{}/{action}",
            self.base,
            sign::encode_segment(model)
        ))
    }

    /// Signs and POSTs `body`; a non-2xx answer becomes its mapped error, read from
    /// `x-amzn-errortype` (or the body's `__type`) and the body's `message`.
    async fn post(
        &self,
        model: &str,
        action: &str,
        body: &Value,
        accept: &'static str,
    ) -> Result<http::Response, ProviderError> {
        let url = self.url(model, action)?;
        let bytes = serde_json::to_vec(body)
            .map_err(|_| ProviderError::invalid("request", "cannot be encoded as JSON"))?;
        let headers = [("content-type", "application/json"), ("accept", accept)];
        let signed = self
            .signer
            .sign("POST", &url, &headers, &bytes, SystemTime::now())?;
        let mut request_headers = HeaderMap::with_capacity(2 + signed.len());
        request_headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        request_headers.insert(ACCEPT, HeaderValue::from_static(accept));
        let unsignable =
            || ProviderError::invalid("upstream_model", "cannot be signed for Bedrock");
        for h in signed {
            let name = HeaderName::try_from(h.name).map_err(|_| unsignable())?;
            let mut value = HeaderValue::from_str(&h.value).map_err(|_| unsignable())?;
            value.set_sensitive(h.sensitive);
            request_headers.append(name, value);
        }
        let response = self
            .endpoint
            .client
            .post(
                http::request_url(url, "upstream_model")?,
                request_headers,
                bytes,
            )
            .await
            .map_err(|e| ProviderError::transport(&self.name, &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let header_kind = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .and_then(errors::type_name);
        let body = http::read_limited(response, http::MAX_ERROR_BODY, &self.name)
            .await
            .unwrap_or_default();
        let (body_kind, message) = errors::parse_body(&body);
        Err(errors::provider_error(
            &self.name,
            model,
            Some(status),
            header_kind.or(body_kind).as_deref(),
            message,
        ))
    }

    /// A JSON answer, or a malformed-response error.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        response: http::Response,
    ) -> Result<T, ProviderError> {
        let bytes = self.endpoint.read(response).await?;
        serde_json::from_slice(&bytes).map_err(|_| self.endpoint.malformed("response"))
    }

    /// One Titan call: the vector and the tokens Titan counted.
    async fn titan(
        &self,
        model: &str,
        text: &str,
        req: &EmbedRequest,
    ) -> Result<(Vec<f32>, u64), ProviderError> {
        let body = embed::titan_body(text, req);
        let response = self
            .post(model, "invoke", &body, "application/json")
            .await?;
        let answer: embed::TitanResponse = self.json(response).await?;
        let values = answer
            .values()
            .ok_or_else(|| self.endpoint.malformed("response"))?;
        Ok((values, answer.input_text_token_count))
    }

    /// One Cohere call: the vectors, in order, and the tokens Bedrock counted.
    async fn cohere(
        &self,
        model: &str,
        texts: &[String],
        req: &EmbedRequest,
    ) -> Result<(Vec<Vec<f32>>, Option<u64>), ProviderError> {
        let body = embed::cohere_body(texts, req);
        let response = self
            .post(model, "invoke", &body, "application/json")
            .await?;
        let counted = response
            .headers()
            .get(INPUT_TOKEN_COUNT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let answer: Value = self.json(response).await?;
        let vectors = embed::cohere_values(&answer)
            .filter(|v| v.len() == texts.len())
            .ok_or_else(|| self.endpoint.malformed("response"))?;
        Ok((vectors, counted))
    }
}

#[async_trait]
impl ChatProvider for Bedrock {
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let mut body = wire::converse_body(req)?;
        wire::claude_thinking(&mut body, upstream_model, req)?;
        let response = self
            .post(upstream_model, "converse", &body, "application/json")
            .await?;
        let answer: WireConverseResponse = self.json(response).await?;
        if answer
            .output
            .as_ref()
            .and_then(|o| o.message.as_ref())
            .is_none()
        {
            return Err(self.endpoint.malformed("response"));
        }
        Ok(response::chat_response(answer, upstream_model, req).await)
    }

    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let mut body = wire::converse_body(req)?;
        wire::claude_thinking(&mut body, upstream_model, req)?;
        let response = self
            .post(upstream_model, "converse-stream", &body, EVENT_STREAM)
            .await?;
        let mut state = ConverseStream::new(
            Box::pin(response.bytes_stream()),
            self.name.clone(),
            upstream_model,
            req,
        );
        // The first message decides whether the call failed before anything reached
        // the caller (a throttling exception as the first event, a body that is no
        // event stream): then the router may still fall back.
        let first = match state.next_item().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => return Err(e),
            None => {
                return Err(ProviderError::StreamEnded {
                    provider: self.name.to_string(),
                });
            }
        };
        let rest = futures::stream::unfold(state, |mut st| async move {
            let item = st.next_item().await?;
            Some((item, st))
        });
        Ok(futures::stream::once(async move { Ok(first) })
            .chain(rest)
            .boxed())
    }

    async fn embed(
        &self,
        upstream_model: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let family = embed::family(upstream_model).ok_or_else(|| {
            ProviderError::invalid(
                "model",
                "Bedrock embeddings support amazon.titan-embed-* and cohere.embed-* models",
            )
        })?;
        let texts = embed::texts(req)?;
        let (vectors, counted): (Vec<Vec<f32>>, Option<u64>) = match family {
            Family::Titan => {
                // By index: a closure over `&String` trips async-trait's lifetimes.
                let answers: Vec<_> = futures::stream::iter(0..texts.len())
                    .map(|i| self.titan(upstream_model, &texts[i], req))
                    .buffered(TITAN_CONCURRENCY)
                    .collect()
                    .await;
                let mut vectors = Vec::with_capacity(texts.len());
                let mut tokens = 0u64;
                for answer in answers {
                    let (values, count) = answer?;
                    vectors.push(values);
                    tokens = tokens.saturating_add(count);
                }
                (vectors, (tokens > 0).then_some(tokens))
            }
            Family::Cohere => {
                let mut vectors = Vec::with_capacity(texts.len());
                let mut tokens = Some(0u64);
                for batch in texts.chunks(embed::COHERE_BATCH) {
                    let (values, count) = self.cohere(upstream_model, batch, req).await?;
                    vectors.extend(values);
                    tokens = tokens.zip(count).map(|(a, b)| a.saturating_add(b));
                }
                (vectors, tokens.filter(|t| *t > 0))
            }
        };
        let usage = match counted {
            Some(tokens) => Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
                ..Usage::default()
            },
            None => estimate_usage(DeferredPrompt::embed(req), Counter::new()).await,
        };
        Ok(EmbedResponse {
            model: upstream_model.to_string(),
            data: vectors
                .into_iter()
                .enumerate()
                .map(|(i, values)| Embedding {
                    index: i as u32,
                    values,
                })
                .collect(),
            usage: Some(usage),
            provider: String::new(),
        })
    }

    /// Bedrock's CountTokens with the Converse input (`messages`, `system`): the
    /// count Bedrock bills by, for the models that support counting (others
    /// answer a validation error, passed on as such).
    async fn count_tokens(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<TokenCount, ProviderError> {
        let mut converse = wire::converse_request(req)?;
        converse.retain(|key, _| key == "messages" || key == "system");
        let body = serde_json::json!({ "input": { "converse": converse } });
        let response = self
            .post(upstream_model, "count-tokens", &body, "application/json")
            .await?;
        let count: WireTokenCount = self.json(response).await?;
        Ok(TokenCount {
            input_tokens: count.input_tokens,
            estimated: false,
            provider: String::new(),
        })
    }
}

/// A CountTokens answer. `inputTokens` is required: an answer without it is
/// malformed, not a count of zero.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTokenCount {
    input_tokens: u64,
}
