//! `POST /v1/completions`: OpenAI's legacy text completions, the request body and
//! the `text_completion` answers (whole and streamed), the latter borrowing from
//! the Gateway messages.

use serde::ser::{Serialize, Serializer};
use serde::{Deserialize, Serialize as DeriveSerialize};
use serde_json::{Map, Value};

use super::StringOrSeq;
use super::chat::StreamOptions;
use super::completion::{Envelope, TopLogprob};

/// The request body. Fields the Gateway API has no slot for (`best_of`,
/// `logit_bias`, ...) land in `extra` and travel as `provider_options`.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    /// Model name (an alias configured in the router).
    pub model: Option<String>,
    /// A string or an array of strings (token-id prompts are refused on
    /// conversion, with a message saying so).
    pub prompt: Option<Value>,
    /// Text after the completion, for fill-in-the-middle models.
    pub suffix: Option<String>,
    /// Output-token limit.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Completions per prompt.
    pub n: Option<u32>,
    /// Whether to answer with server-sent events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// How many likeliest alternatives per token to return with each token's log
    /// probability (0: the chosen tokens' only).
    pub logprobs: Option<u32>,
    /// Answer with the prompt in front of the completion.
    pub echo: Option<bool>,
    /// Stop sequences.
    pub stop: Option<StringOrSeq<String>>,
    /// Presence penalty.
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f64>,
    /// Sampling seed.
    pub seed: Option<i64>,
    /// End-user id.
    pub user: Option<String>,
    /// Every other top-level field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A complete answer (`object: "text_completion"`); a streamed chunk has the same
/// shape.
pub type TextCompletion<'a> = Envelope<'a, TextChoice<'a>>;

/// One completion, or a fragment of one.
#[derive(Debug, DeriveSerialize)]
pub struct TextChoice<'a> {
    /// The generated text (with the prompt in front when echoed).
    pub text: std::borrow::Cow<'a, str>,
    /// Choice index: prompt i's choices are i*n to i*n+n-1.
    pub index: u32,
    /// The tokens' log probabilities when asked for, else null.
    pub logprobs: Option<TextLogprobs<'a>>,
    /// stop | length | content_filter; null until a stream's last fragment.
    pub finish_reason: Option<&'static str>,
}

/// The legacy `logprobs` object: parallel lists, one entry per token.
#[derive(Debug, DeriveSerialize)]
pub struct TextLogprobs<'a> {
    /// The tokens.
    pub tokens: Vec<&'a str>,
    /// Each token's log probability; null where the provider gave none (the
    /// first token of an echoed prompt).
    pub token_logprobs: Vec<Option<f64>>,
    /// Each position's likeliest tokens, token to log probability; null when
    /// no alternatives were asked for.
    pub top_logprobs: Option<Vec<TopTokens<'a>>>,
    /// Each token's character offset in the choice's text.
    pub text_offset: Vec<u64>,
}

/// The likeliest tokens at one position, written as a JSON object.
#[derive(Debug)]
pub struct TopTokens<'a>(pub Vec<TopLogprob<'a>>);

impl Serialize for TopTokens<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|t| (t.token, t.logprob)))
    }
}
