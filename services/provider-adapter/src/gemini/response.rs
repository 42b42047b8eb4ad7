//! Gemini answers (`GenerateContentResponse`, also each streamed event) translated
//! to Switchyard's types: candidates to choices, `functionCall` parts to tool calls,
//! finish reasons to OpenAI's, `usageMetadata` to usage.
//!
//! Parsed leniently like the OpenAI wire: every field optional, `null` lists empty,
//! counts as any JSON number, so a field Google adds or drops never fails a request.

use serde::Deserialize;
use serde_json::Value;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatRequest, ChatResponse, Choice, ContentPart, FinishReason, FunctionCall, Logprobs, Message,
    Reasoning, Role, TokenLogprob, ToolCall, TopLogprob, Usage,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use super::error::{self, Google};
use crate::ProviderError;
use crate::answer::{new_id, now_secs};
use crate::lenient::{count, nullable};

/// A `GenerateContentResponse`: a whole answer, or one streamed event.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireResponse {
    #[serde(deserialize_with = "nullable")]
    pub candidates: Vec<WireCandidate>,
    pub prompt_feedback: Option<WirePromptFeedback>,
    pub usage_metadata: Option<WireUsage>,
    pub model_version: Option<String>,
    pub response_id: Option<String>,
    /// An error object sent with a 200 (a failure mid-stream).
    pub error: Option<Value>,
}

/// One candidate answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireCandidate {
    pub content: Option<WireContent>,
    pub finish_reason: Option<String>,
    pub index: Option<u32>,
    /// Present when `generationConfig.responseLogprobs` was set.
    pub logprobs_result: Option<WireLogprobsResult>,
}

/// `logprobsResult`: per decoding step, the chosen token and the likeliest ones.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireLogprobsResult {
    #[serde(deserialize_with = "nullable")]
    pub chosen_candidates: Vec<WireLogprobCandidate>,
    #[serde(deserialize_with = "nullable")]
    pub top_candidates: Vec<WireTopCandidates>,
}

/// `topCandidates[i]`: the likeliest tokens at step `i`, most likely first.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireTopCandidates {
    #[serde(deserialize_with = "nullable")]
    pub candidates: Vec<WireLogprobCandidate>,
}

/// One token and its log probability.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireLogprobCandidate {
    #[serde(deserialize_with = "nullable")]
    pub token: String,
    #[serde(deserialize_with = "nullable")]
    pub log_probability: f64,
}

/// A candidate's content.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireContent {
    #[serde(deserialize_with = "nullable")]
    pub parts: Vec<WirePart>,
}

/// One part of a candidate: text, a thought summary, or a function call (other
/// kinds, such as executable code or generated images, are not translated).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WirePart {
    pub text: Option<String>,
    /// Set on thought summaries, which are not part of the answer.
    pub thought: Option<bool>,
    pub function_call: Option<WireFunctionCall>,
    /// The model's thought signature (on a turn's first function call, or its
    /// last part), which Gemini 3 wants back on that same part.
    pub thought_signature: Option<String>,
}

/// A function call: a name and an arguments object; `id` on models that send one.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireFunctionCall {
    pub id: Option<String>,
    pub name: Option<String>,
    pub args: Option<Value>,
}

/// Why a prompt was refused.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WirePromptFeedback {
    pub block_reason: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireUsage {
    #[serde(deserialize_with = "count")]
    pub prompt_token_count: u64,
    #[serde(deserialize_with = "count")]
    pub candidates_token_count: u64,
    #[serde(deserialize_with = "count")]
    pub total_token_count: u64,
    #[serde(deserialize_with = "count")]
    pub cached_content_token_count: u64,
    #[serde(deserialize_with = "count")]
    pub thoughts_token_count: u64,
    #[serde(deserialize_with = "count")]
    pub tool_use_prompt_token_count: u64,
}

impl WireUsage {
    /// Switchyard's usage, following the `Usage` contract: reasoning tokens are a
    /// subset of completion tokens (Google bills thoughts as output but counts them
    /// apart from `candidatesTokenCount`), cached tokens a subset of prompt tokens
    /// (`promptTokenCount` includes the cached content), and results of Google's
    /// own tools fed back to the model are prompt tokens, so the total is
    /// Google's `totalTokenCount`.
    pub fn to_proto(&self) -> Usage {
        let prompt = self.prompt_token_count + self.tool_use_prompt_token_count;
        let completion = self.candidates_token_count + self.thoughts_token_count;
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            cached_prompt_tokens: self.cached_content_token_count.min(prompt),
            reasoning_tokens: self.thoughts_token_count,
            estimated: false,
            cache_write_prompt_tokens: 0,
        }
    }
}

/// The usage an answer or event reports, if it carries counts (Vertex AI's
/// intermediate stream events carry `usageMetadata` with no counts).
/// A candidate's `logprobsResult` as the Gateway's log probabilities: one entry
/// per chosen token, with that step's top candidates. Gemini gives no bytes; the
/// token's own UTF-8 stands in for them.
pub fn logprobs(result: Option<WireLogprobsResult>) -> Option<Logprobs> {
    let result = result?;
    if result.chosen_candidates.is_empty() {
        return None;
    }
    let mut tops = result.top_candidates.into_iter();
    let content = result
        .chosen_candidates
        .into_iter()
        .map(|chosen| TokenLogprob {
            bytes: chosen.token.as_bytes().to_vec(),
            logprob: chosen.log_probability,
            top_logprobs: tops
                .next()
                .map(|t| t.candidates)
                .unwrap_or_default()
                .into_iter()
                .map(|top| TopLogprob {
                    bytes: top.token.as_bytes().to_vec(),
                    logprob: top.log_probability,
                    token: top.token,
                })
                .collect(),
            token: chosen.token,
        })
        .collect();
    Some(Logprobs {
        content,
        refusal: Vec::new(),
    })
}

pub fn reported(usage: Option<&WireUsage>) -> Option<Usage> {
    usage
        .filter(|u| {
            u.prompt_token_count > 0 || u.candidates_token_count > 0 || u.total_token_count > 0
        })
        .map(WireUsage::to_proto)
}

/// OpenAI's finish reason for Gemini's; `None` while a candidate is unfinished.
/// Safety, recitation and blocklist stops are `content_filter`; a stop after
/// function calls is `tool_calls`; any other reason means the model stopped.
pub fn finish_reason(reason: Option<&str>, called_functions: bool) -> Option<FinishReason> {
    Some(match reason? {
        "" | "FINISH_REASON_UNSPECIFIED" => return None,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ if called_functions => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    })
}

/// A tool-call id: the one Gemini sent, else a new unique one (ids are not sent
/// back to Gemini, which matches results by function name and order).
pub fn call_id(sent: Option<String>) -> String {
    sent.filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("call_{}", uuid::Uuid::now_v7().simple()))
}

/// A function call's name and its arguments as the JSON text OpenAI clients expect.
pub fn call_name_and_arguments(call: WireFunctionCall) -> (String, String) {
    let arguments = match call.args {
        None | Some(Value::Null) => "{}".to_string(),
        Some(args) => args.to_string(),
    };
    (call.name.unwrap_or_default(), arguments)
}

/// The error a refused prompt becomes: no candidates and a `blockReason`. Coded
/// `content_filter` so it maps to Switchyard's content-filtered error.
pub fn blocked(provider: &str, model: &str, response: &WireResponse) -> Option<ProviderError> {
    if !response.candidates.is_empty() {
        return None;
    }
    let reason = response
        .prompt_feedback
        .as_ref()?
        .block_reason
        .as_deref()
        .filter(|r| !r.is_empty() && *r != "BLOCK_REASON_UNSPECIFIED")?;
    Some(error::content_filtered(provider, model, reason))
}

/// A complete answer in Switchyard's types, usage estimated if not reported.
pub async fn chat_response(
    answer: WireResponse,
    provider: &Google,
    upstream_model: &str,
    req: &ChatRequest,
) -> Result<ChatResponse, ProviderError> {
    if let Some(err) = &answer.error {
        return Err(provider.error_event(upstream_model, err));
    }
    if let Some(err) = blocked(&provider.name, upstream_model, &answer) {
        return Err(err);
    }
    let mut completion = Counter::new();
    let mut choices: Vec<Choice> = answer
        .candidates
        .into_iter()
        .enumerate()
        .map(|(position, c)| choice(position, c, &mut completion))
        .collect();
    choices.sort_by_key(|c| c.index);
    let usage = match reported(answer.usage_metadata.as_ref()) {
        Some(usage) => usage,
        None => estimate_usage(DeferredPrompt::chat(req), completion).await,
    };
    Ok(ChatResponse {
        id: answer
            .response_id
            .filter(|id| !id.is_empty())
            .unwrap_or_else(new_id),
        created: now_secs(),
        model: answer
            .model_version
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| upstream_model.to_string()),
        choices,
        usage: Some(usage),
        system_fingerprint: None,
        provider: String::new(),
    })
}

/// A thought signature as a reasoning block of its own: no text, the signature
/// marked as Gemini's (`crate::signature`).
pub fn signed(signature: &str) -> Reasoning {
    Reasoning {
        signature: crate::signature::from_gemini(signature),
        ..Reasoning::default()
    }
}

/// One candidate as a choice: its text parts joined, its thought summaries (sent
/// with `thinkingConfig.includeThoughts`) as one unsigned reasoning block and its
/// thought signatures as blocks of their own, its
/// function calls as tool calls (what they produced also counted into
/// `completion`).
fn choice(position: usize, c: WireCandidate, completion: &mut Counter) -> Choice {
    let logprobs = logprobs(c.logprobs_result);
    let mut text = String::new();
    let mut thoughts = String::new();
    let mut tool_calls = Vec::new();
    let mut signatures = Vec::new();
    for part in c.content.map(|c| c.parts).unwrap_or_default() {
        if let Some(signature) = part.thought_signature.as_deref().filter(|s| !s.is_empty()) {
            signatures.push(signed(signature));
        }
        if part.thought == Some(true) {
            thoughts.push_str(part.text.as_deref().unwrap_or_default());
            continue;
        }
        if let Some(t) = &part.text {
            text.push_str(t);
        }
        if let Some(call) = part.function_call {
            let id = call_id(call.id.clone());
            let (name, arguments) = call_name_and_arguments(call);
            completion.push(&name);
            completion.push(&arguments);
            tool_calls.push(ToolCall {
                id,
                r#type: "function".into(),
                function: Some(FunctionCall { name, arguments }),
            });
        }
    }
    completion.push(&text);
    // Thoughts are billed as output: an estimate counts the summaries it saw.
    completion.push(&thoughts);
    let called = !tool_calls.is_empty();
    // A complete answer without a reason (not seen from Google) ends as if stopped.
    let finish = finish_reason(c.finish_reason.as_deref(), called).unwrap_or(if called {
        FinishReason::ToolCalls
    } else {
        FinishReason::Stop
    });
    let content = (!text.is_empty())
        .then_some(ContentPart {
            part: Some(Part::Text(text)),
        })
        .into_iter()
        .collect();
    let reasoning = (!thoughts.is_empty())
        .then(|| Reasoning {
            text: thoughts,
            ..Reasoning::default()
        })
        .into_iter()
        .chain(signatures)
        .collect();
    Choice {
        index: c.index.unwrap_or(position as u32),
        message: Some(Message {
            role: Role::Assistant as i32,
            content,
            tool_calls,
            reasoning,
            ..Message::default()
        }),
        finish_reason: finish as i32,
        logprobs,
    }
}
