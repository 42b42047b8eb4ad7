//! Kind `mock`: deterministic answers with no network, for the quickstart, tests and
//! benchmarks.
//!
//! The answer is `completion_tokens` words (one token each) drawn from a fixed list
//! by a small PRNG seeded with the FNV-1a hash of the last user message, so the same
//! prompt always gets the same text. Usage is exact (`estimated = false`), as a real
//! provider's: prompt tokens counted by `switchyard-tokens` (`o200k_base`, about
//! 0.1–0.2 µs per token; its shared encoder is built at the first request), completion
//! tokens = words. A request for `n` choices gets `n` answers, each its own draw
//! (the first is the answer `n = 1` gets), streamed interleaved as OpenAI streams
//! them (each chunk one choice, by `index`), with completion tokens summed over
//! the choices. `latency_ms` delays the answer (or first token),
//! `tokens_per_second` paces streams, and `failure_rate` fails that fraction of
//! requests up front with a retryable upstream error. Asked for `logprobs`, each
//! word gets a log probability fixed by the word (and `top_logprobs` alternatives,
//! each less likely). A text prompt (`text_prompt`) is served too: each prompt
//! gets `n` choices seeded by its own hash, numbered prompt by prompt, with the
//! prompt in front when echoed (scored as one token without a log probability),
//! and usage counts its text alone. Besides that count, the hot path builds no JSON and
//! allocates only the answer itself.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use switchyard_config::ProviderConfig;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, ContentPart, Delta, EmbedRequest,
    EmbedResponse, Embedding, FinishReason, Logprobs, Message, Role, TokenCount, TokenLogprob,
    TopLogprob, Usage,
};
use tokio::time::{Interval, MissedTickBehavior};

use crate::answer::{new_id, now_secs};
use crate::{ChatProvider, ChunkStream, ProviderError};

/// Embedding dimension when the request names none.
const DEFAULT_DIMENSIONS: u32 = 16;
/// Largest embedding dimension the mock produces.
const MAX_DIMENSIONS: u32 = 65_536;

/// The words answers are made of.
const WORDS: [&str; 32] = [
    "the",
    "switchyard",
    "routes",
    "every",
    "request",
    "to",
    "a",
    "model",
    "and",
    "counts",
    "tokens",
    "exactly",
    "while",
    "streams",
    "flow",
    "through",
    "gateway",
    "fast",
    "quiet",
    "signal",
    "track",
    "train",
    "yard",
    "switch",
    "green",
    "light",
    "moves",
    "on",
    "time",
    "with",
    "care",
    "today",
];

/// A provider that answers locally and deterministically.
#[derive(Debug, Clone)]
pub struct MockProvider {
    name: String,
    latency: Duration,
    tokens_per_second: u32,
    completion_tokens: u32,
    failure_rate: f64,
}

impl MockProvider {
    /// A mock with the `[[providers]]` entry's latency, pace, length and failure rate.
    pub fn from_config(config: &ProviderConfig) -> Self {
        Self {
            name: config.name.clone(),
            latency: Duration::from_millis(config.latency_ms),
            tokens_per_second: config.tokens_per_second,
            completion_tokens: config.completion_tokens,
            failure_rate: config.failure_rate,
        }
    }

    fn maybe_fail(&self) -> Result<(), ProviderError> {
        if self.failure_rate > 0.0 && rand::random::<f64>() < self.failure_rate {
            return Err(ProviderError::Simulated {
                provider: self.name.clone(),
            });
        }
        Ok(())
    }

    async fn wait(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    /// How many words each choice gets and why it stops.
    fn plan(&self, req: &ChatRequest) -> (u32, FinishReason) {
        match req.max_tokens {
            Some(max) if max < self.completion_tokens => (max, FinishReason::Length),
            _ => (self.completion_tokens, FinishReason::Stop),
        }
    }

    /// The mock's own report, as a provider's would be: exact by the mock's rule
    /// (four characters a token, four per message, three to prime the reply), and
    /// cheap, since benchmarks run through the mock and a real tokenizer would cost
    /// ~0.1 µs per prompt token on every request.
    fn usage(req: &ChatRequest, completion_tokens: u64) -> Usage {
        if let Some(p) = &req.text_prompt {
            // No chat framing: each prompt and the suffix sent with it.
            let suffix = p
                .suffix
                .as_deref()
                .map_or(0, switchyard_tokens::approximate);
            let prompt_tokens = p
                .prompts
                .iter()
                .map(|t| switchyard_tokens::approximate(t) + suffix)
                .sum();
            return Usage {
                prompt_tokens,
                completion_tokens,
                total_tokens: prompt_tokens + completion_tokens,
                ..Usage::default()
            };
        }
        let text: u64 = req
            .messages
            .iter()
            .map(|m| {
                let chars: u64 = m
                    .content
                    .iter()
                    .map(|p| match &p.part {
                        Some(switchyard_proto::types::v1::content_part::Part::Text(t)) => {
                            switchyard_tokens::approximate(t)
                        }
                        _ => 0,
                    })
                    .sum();
                chars + 4
            })
            .sum();
        let prompt_tokens = text + 3;
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Usage::default()
        }
    }
}

/// FNV-1a over bytes.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Each choice's word generator and echoed prompt, in choice order: `n` per text
/// prompt (seeded by that prompt), or `n` for a chat.
fn choice_plan(req: &ChatRequest, n: u32) -> Vec<(Rng, Option<&str>)> {
    match &req.text_prompt {
        Some(p) => p
            .prompts
            .iter()
            .flat_map(|prompt| {
                let seed = fnv1a(FNV_OFFSET, prompt.as_bytes());
                let echo = p.echo.then_some(prompt.as_str());
                (0..n).map(move |i| (choice_rng(seed, i), echo))
            })
            .collect(),
        None => {
            let seed = seed(req);
            (0..n).map(|i| (choice_rng(seed, i), None)).collect()
        }
    }
}

/// The log probability of an echoed prompt, scored as one token that, as the
/// first token of a text, has none (NaN).
fn echo_logprob(prompt: &str) -> TokenLogprob {
    TokenLogprob {
        token: prompt.to_string(),
        logprob: f64::NAN,
        bytes: prompt.as_bytes().to_vec(),
        top_logprobs: Vec::new(),
    }
}

/// An answer id as OpenAI's: `cmpl-` for a text completion, `chatcmpl-` for a chat.
fn answer_id(req: &ChatRequest) -> String {
    let id = new_id();
    match req.text_prompt {
        Some(_) => id.replacen("chatcmpl-", "cmpl-", 1),
        None => id,
    }
}

/// The seed of an answer: the hash of the last user message's text.
fn seed(req: &ChatRequest) -> u64 {
    let last_user = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User as i32);
    last_user
        .into_iter()
        .flat_map(|m| m.content.iter())
        .filter_map(|p| match &p.part {
            Some(Part::Text(t)) => Some(t.as_bytes()),
            _ => None,
        })
        .fold(FNV_OFFSET, fnv1a)
}

/// The most choices the mock makes, as OpenAI (the router holds callers to the
/// same bound; this guards a caller of the adapter's own gRPC API).
const MAX_CHOICES: u32 = 128;

/// How many choices a request asks for (`n`, at least one).
fn choices(req: &ChatRequest) -> Result<u32, ProviderError> {
    match req.n.unwrap_or(1) {
        n if n > MAX_CHOICES => Err(ProviderError::invalid(
            "n",
            format!("must be at most {MAX_CHOICES}"),
        )),
        n => Ok(n.max(1)),
    }
}

/// How many alternatives a token's log probability may list (OpenAI's bound).
const MAX_TOP_LOGPROBS: u32 = 20;

/// `Some(alternatives per token)` when the request asks for log probabilities.
fn logprobs_wanted(req: &ChatRequest) -> Result<Option<u32>, ProviderError> {
    let top = req.top_logprobs.unwrap_or(0);
    if top > MAX_TOP_LOGPROBS {
        return Err(ProviderError::invalid(
            "top_logprobs",
            format!("must be at most {MAX_TOP_LOGPROBS}"),
        ));
    }
    Ok((req.logprobs == Some(true)).then_some(top))
}

/// The mock's log probability of `token` (a word, with its leading space when it
/// has one), in (-2, 0], with `top` alternatives: the token itself first, then
/// other words, each half a nat less likely than the one before.
fn token_logprob(token: &str, top: u32) -> TokenLogprob {
    let logprob = -((fnv1a(FNV_OFFSET, token.as_bytes()) % 200) as f64) / 100.0;
    let start = fnv1a(FNV_OFFSET, token.trim_start().as_bytes()) as usize;
    let top_logprobs = (0..top as usize)
        .map(|j| {
            let alternative = if j == 0 {
                token.to_string()
            } else {
                WORDS[(start + j) % WORDS.len()].to_string()
            };
            TopLogprob {
                bytes: alternative.as_bytes().to_vec(),
                token: alternative,
                logprob: logprob - 0.5 * j as f64,
            }
        })
        .collect();
    TokenLogprob {
        token: token.to_string(),
        logprob,
        bytes: token.as_bytes().to_vec(),
        top_logprobs,
    }
}

/// The word generator of choice `index`: choice 0 draws from the prompt's seed
/// itself, so `n` leaves the first answer unchanged; the others from seeds spread
/// apart from it.
fn choice_rng(seed: u64, index: u32) -> Rng {
    Rng(seed ^ u64::from(index).wrapping_mul(0xd6e8_feb8_6659_fd93))
}

/// SplitMix64: a tiny, good-enough PRNG.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn word(&mut self) -> &'static str {
        WORDS[(self.next_u64() % WORDS.len() as u64) as usize]
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

#[async_trait]
impl ChatProvider for MockProvider {
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let n = choices(req)?;
        let top = logprobs_wanted(req)?;
        self.maybe_fail()?;
        self.wait().await;
        let (words, finish) = self.plan(req);
        let plan = choice_plan(req, n);
        let answered = plan.len() as u64;
        let choices = plan
            .into_iter()
            .enumerate()
            .map(|(index, (mut rng, echo))| {
                let mut text = String::with_capacity(words as usize * 8);
                let mut tokens = Vec::new();
                if let Some(prompt) = echo {
                    text.push_str(prompt);
                    if top.is_some() {
                        tokens.push(echo_logprob(prompt));
                    }
                }
                for _ in 0..words {
                    let start = text.len();
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    text.push_str(rng.word());
                    if let Some(top) = top {
                        tokens.push(token_logprob(&text[start..], top));
                    }
                }
                Choice {
                    index: index as u32,
                    message: Some(Message {
                        role: Role::Assistant as i32,
                        content: vec![ContentPart {
                            part: Some(Part::Text(text)),
                        }],
                        ..Message::default()
                    }),
                    finish_reason: finish as i32,
                    logprobs: top.map(|_| Logprobs {
                        content: tokens,
                        refusal: Vec::new(),
                    }),
                }
            })
            .collect();
        Ok(ChatResponse {
            id: answer_id(req),
            created: now_secs(),
            model: upstream_model.to_string(),
            choices,
            usage: Some(Self::usage(req, u64::from(words) * answered)),
            system_fingerprint: None,
            provider: String::new(),
        })
    }

    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let n = choices(req)?;
        let top = logprobs_wanted(req)?;
        self.maybe_fail()?;
        let (words, finish) = self.plan(req);
        let (rngs, echoes): (Vec<Rng>, Vec<Option<String>>) = choice_plan(req, n)
            .into_iter()
            .map(|(rng, echo)| (rng, echo.map(str::to_string)))
            .unzip();
        let answered = rngs.len() as u64;
        let state = MockStream {
            logprobs: top,
            phase: Phase::Start,
            latency: self.latency,
            tokens_per_second: self.tokens_per_second,
            pace: None,
            rngs,
            echoes,
            choice: 0,
            words,
            sent: 0,
            finish,
            usage: Some(Self::usage(req, u64::from(words) * answered)),
            id: answer_id(req),
            created: now_secs(),
            model: upstream_model.to_string(),
        };
        Ok(futures::stream::unfold(state, |mut st| async move {
            let chunk = st.next_chunk().await?;
            Some((Ok(chunk), st))
        })
        .boxed())
    }

    fn completes_text(&self) -> bool {
        true
    }

    async fn embed(
        &self,
        upstream_model: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        self.maybe_fail()?;
        let dims = req.dimensions.unwrap_or(DEFAULT_DIMENSIONS);
        if dims == 0 || dims > MAX_DIMENSIONS {
            return Err(ProviderError::invalid(
                "dimensions",
                format!("must be between 1 and {MAX_DIMENSIONS}"),
            ));
        }
        if req.input.is_empty() == req.token_input.is_empty() {
            return Err(ProviderError::invalid(
                "input",
                "exactly one of input and token_input must be set",
            ));
        }
        self.wait().await;
        let seeds = req
            .input
            .iter()
            .map(|s| fnv1a(FNV_OFFSET, s.as_bytes()))
            .chain(req.token_input.iter().map(|t| {
                t.ids
                    .iter()
                    .fold(FNV_OFFSET, |h, id| fnv1a(h, &id.to_le_bytes()))
            }));
        let data = seeds
            .enumerate()
            .map(|(i, seed)| Embedding {
                index: i as u32,
                values: unit_vector(seed, dims as usize),
            })
            .collect();
        // The mock's rule again (see `usage`): cheap and deterministic.
        let prompt_tokens: u64 = req
            .input
            .iter()
            .map(|t| switchyard_tokens::approximate(t))
            .chain(req.token_input.iter().map(|t| t.ids.len() as u64))
            .sum();
        Ok(EmbedResponse {
            model: upstream_model.to_string(),
            data,
            usage: Some(Usage {
                prompt_tokens,
                total_tokens: prompt_tokens,
                ..Usage::default()
            }),
            provider: String::new(),
        })
    }

    /// The prompt tokens its answers report, by the same rule: exact, as a
    /// provider's own count is.
    async fn count_tokens(
        &self,
        _upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<TokenCount, ProviderError> {
        Ok(TokenCount {
            input_tokens: Self::usage(req, 0).prompt_tokens,
            estimated: false,
            provider: String::new(),
        })
    }
}

/// A deterministic vector of length one.
fn unit_vector(seed: u64, dims: usize) -> Vec<f32> {
    let mut rng = Rng(seed);
    let mut values: Vec<f32> = (0..dims).map(|_| rng.unit()).collect();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        values.iter_mut().for_each(|v| *v /= norm);
    } else {
        values[0] = 1.0;
    }
    values
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Words,
    Usage,
    Done,
}

/// A streamed mock answer: role chunks, one chunk per word, finish chunks (each of
/// these once per choice, the choices taking turns), then the usage chunk.
struct MockStream {
    /// `Some(alternatives per token)` when log probabilities were asked for.
    logprobs: Option<u32>,
    phase: Phase,
    latency: Duration,
    tokens_per_second: u32,
    pace: Option<Interval>,
    /// One generator per choice.
    rngs: Vec<Rng>,
    /// Each choice's echoed prompt, sent with its role chunk.
    echoes: Vec<Option<String>>,
    /// The choice whose turn it is within the current step.
    choice: u32,
    /// Words per choice.
    words: u32,
    /// Words each choice has sent (whole steps).
    sent: u32,
    finish: FinishReason,
    usage: Option<Usage>,
    id: String,
    created: i64,
    model: String,
}

impl MockStream {
    /// A chunk for the choice whose turn it is; passes the turn on and returns
    /// whether the step is complete (every choice had its turn).
    fn chunk(&mut self, delta: Option<Delta>, finish: FinishReason) -> (ChatChunk, bool) {
        self.chunk_with(delta, finish, None)
    }

    /// [`Self::chunk`] with the log probabilities of the tokens it adds.
    fn chunk_with(
        &mut self,
        delta: Option<Delta>,
        finish: FinishReason,
        logprobs: Option<Logprobs>,
    ) -> (ChatChunk, bool) {
        let index = self.choice;
        self.choice += 1;
        let step_done = self.choice as usize == self.rngs.len();
        if step_done {
            self.choice = 0;
        }
        let chunk = ChatChunk {
            id: self.id.clone(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index,
                delta,
                finish_reason: finish as i32,
                logprobs,
            }],
            usage: None,
            system_fingerprint: None,
        };
        (chunk, step_done)
    }

    async fn next_chunk(&mut self) -> Option<ChatChunk> {
        match self.phase {
            Phase::Start => {
                if self.choice == 0 && !self.latency.is_zero() {
                    tokio::time::sleep(self.latency).await;
                }
                if self.choice == 0 && self.tokens_per_second > 0 {
                    let mut pace = tokio::time::interval(Duration::from_secs_f64(
                        1.0 / f64::from(self.tokens_per_second),
                    ));
                    pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    self.pace = Some(pace);
                }
                let echo = self.echoes[self.choice as usize].clone();
                let logprobs = echo
                    .as_deref()
                    .zip(self.logprobs)
                    .map(|(prompt, _)| Logprobs {
                        content: vec![echo_logprob(prompt)],
                        refusal: Vec::new(),
                    });
                let role = Delta {
                    role: Role::Assistant as i32,
                    content: echo,
                    ..Delta::default()
                };
                let (chunk, step_done) =
                    self.chunk_with(Some(role), FinishReason::Unspecified, logprobs);
                if step_done {
                    self.phase = Phase::Words;
                }
                Some(chunk)
            }
            Phase::Words if self.sent < self.words => {
                if self.choice == 0
                    && let Some(pace) = &mut self.pace
                {
                    pace.tick().await;
                }
                let echoed = self.echoes[self.choice as usize]
                    .as_deref()
                    .is_some_and(|p| !p.is_empty());
                let word = self.rngs[self.choice as usize].word();
                let content = if self.sent == 0 && !echoed {
                    word.to_string()
                } else {
                    format!(" {word}")
                };
                let logprobs = self.logprobs.map(|top| Logprobs {
                    content: vec![token_logprob(&content, top)],
                    refusal: Vec::new(),
                });
                let delta = Delta {
                    content: Some(content),
                    ..Delta::default()
                };
                let (chunk, step_done) =
                    self.chunk_with(Some(delta), FinishReason::Unspecified, logprobs);
                if step_done {
                    self.sent += 1;
                }
                Some(chunk)
            }
            Phase::Words => {
                let (chunk, step_done) = self.chunk(Some(Delta::default()), self.finish);
                if step_done {
                    self.phase = Phase::Usage;
                }
                Some(chunk)
            }
            Phase::Usage => {
                self.phase = Phase::Done;
                Some(ChatChunk {
                    id: self.id.clone(),
                    created: self.created,
                    model: self.model.clone(),
                    choices: Vec::new(),
                    usage: self.usage.take(),
                    system_fingerprint: None,
                })
            }
            Phase::Done => None,
        }
    }
}
