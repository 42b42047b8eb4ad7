//! Converse answers in Switchyard's types: the response body, stop reasons and
//! token usage (shared by the streamed `metadata` event).

use serde::Deserialize;
use serde_json::Value;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatRequest, ChatResponse, Choice, ContentPart, FinishReason, FunctionCall, Message, Reasoning,
    Role, ToolCall, Usage,
};
use switchyard_tokens::{Counter, DeferredPrompt, estimate_usage};

use crate::answer::{new_id, now_secs};
use crate::lenient::{count, nullable};

/// A Converse answer (`output.message`, `stopReason`, `usage`; `metrics` and
/// `trace` are not needed).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireConverseResponse {
    pub output: Option<WireOutput>,
    pub stop_reason: Option<String>,
    pub usage: Option<WireUsage>,
}

/// `output`: a union whose one member is `message`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireOutput {
    pub message: Option<WireMessage>,
}

/// The assistant's message.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireMessage {
    #[serde(deserialize_with = "nullable")]
    pub content: Vec<WireBlock>,
}

/// A content block: `text`, `toolUse` or `reasoningContent` (others are
/// skipped).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireBlock {
    pub text: Option<String>,
    pub tool_use: Option<WireToolUse>,
    pub reasoning_content: Option<WireReasoning>,
}

/// `reasoningContent`: signed text, or a redacted block's encrypted content.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireReasoning {
    pub reasoning_text: Option<WireReasoningText>,
    pub redacted_content: Option<String>,
}

/// `reasoningText`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireReasoningText {
    #[serde(deserialize_with = "nullable")]
    pub text: String,
    #[serde(deserialize_with = "nullable")]
    pub signature: String,
}

impl WireReasoning {
    /// As a reasoning block; `None` when it holds neither member.
    fn block(self) -> Option<Reasoning> {
        if let Some(t) = self.reasoning_text {
            return Some(Reasoning {
                text: t.text,
                signature: t.signature,
                redacted: false,
            });
        }
        self.redacted_content.map(|data| Reasoning {
            text: String::new(),
            signature: data,
            redacted: true,
        })
    }
}

/// A complete tool call.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireToolUse {
    #[serde(deserialize_with = "nullable")]
    pub tool_use_id: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    pub input: Value,
}

/// `usage` (TokenUsage). `inputTokens` counts only the prompt tokens neither read
/// from nor written to the prompt cache; the cache counts come apart.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WireUsage {
    #[serde(deserialize_with = "count")]
    pub input_tokens: u64,
    #[serde(deserialize_with = "count")]
    pub output_tokens: u64,
    #[serde(deserialize_with = "count")]
    pub total_tokens: u64,
    #[serde(deserialize_with = "count")]
    pub cache_read_input_tokens: u64,
    #[serde(deserialize_with = "count")]
    pub cache_write_input_tokens: u64,
}

impl WireUsage {
    /// Switchyard's usage, when the provider reported any: prompt tokens are all the
    /// input (uncached + cache reads + cache writes), the cache counts subsets of it,
    /// as the Usage message defines them.
    pub fn reported(&self) -> Option<Usage> {
        let prompt = self
            .input_tokens
            .saturating_add(self.cache_read_input_tokens)
            .saturating_add(self.cache_write_input_tokens);
        if prompt == 0 && self.output_tokens == 0 && self.total_tokens == 0 {
            return None;
        }
        Some(Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output_tokens,
            total_tokens: prompt.saturating_add(self.output_tokens),
            cached_prompt_tokens: self.cache_read_input_tokens,
            reasoning_tokens: 0,
            estimated: false,
            cache_write_prompt_tokens: self.cache_write_input_tokens,
        })
    }
}

/// The finish reason for a Converse `stopReason`. Unknown reasons mean the model
/// stopped, as with OpenAI's.
pub fn finish_reason(reason: Option<&str>) -> FinishReason {
    match reason {
        None | Some("") => FinishReason::Unspecified,
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("guardrail_intervened" | "content_filtered") => FinishReason::ContentFilter,
        Some(_) => FinishReason::Stop,
    }
}

/// Tool input as OpenAI's JSON-encoded arguments.
pub fn arguments(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_string(),
        v => v.to_string(),
    }
}

/// A complete answer in Switchyard's types, usage estimated if not reported.
pub async fn chat_response(
    answer: WireConverseResponse,
    upstream_model: &str,
    req: &ChatRequest,
) -> ChatResponse {
    let blocks = answer
        .output
        .and_then(|o| o.message)
        .map(|m| m.content)
        .unwrap_or_default();
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut reasoning = Vec::new();
    let mut streamed = Counter::new();
    for block in blocks {
        if let Some(r) = block.reasoning_content.and_then(WireReasoning::block) {
            streamed.push(&r.text);
            reasoning.push(r);
        }
        if let Some(t) = block.text {
            streamed.push(&t);
            text.push_str(&t);
        }
        if let Some(call) = block.tool_use {
            let arguments = arguments(&call.input);
            streamed.push(&call.name);
            streamed.push(&arguments);
            tool_calls.push(ToolCall {
                id: call.tool_use_id,
                r#type: "function".into(),
                function: Some(FunctionCall {
                    name: call.name,
                    arguments,
                }),
            });
        }
    }
    let content = (!text.is_empty())
        .then_some(ContentPart {
            part: Some(Part::Text(text)),
        })
        .into_iter()
        .collect();
    let usage = match answer.usage.as_ref().and_then(WireUsage::reported) {
        Some(usage) => usage,
        None => estimate_usage(DeferredPrompt::chat(req), streamed).await,
    };
    ChatResponse {
        id: new_id(),
        created: now_secs(),
        model: upstream_model.to_string(),
        choices: vec![Choice {
            index: 0,
            message: Some(Message {
                role: Role::Assistant as i32,
                content,
                tool_calls,
                reasoning,
                ..Message::default()
            }),
            finish_reason: finish_reason(answer.stop_reason.as_deref()) as i32,
            logprobs: None,
        }],
        usage: Some(usage),
        system_fingerprint: None,
        provider: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_cache_reads_and_writes_as_prompt() {
        let usage: WireUsage = serde_json::from_str(
            r#"{"inputTokens":20,"outputTokens":7,"totalTokens":1527,
                "cacheReadInputTokens":1000,"cacheWriteInputTokens":500}"#,
        )
        .unwrap();
        assert_eq!(
            usage.reported(),
            Some(Usage {
                prompt_tokens: 1520,
                completion_tokens: 7,
                total_tokens: 1527,
                cached_prompt_tokens: 1000,
                reasoning_tokens: 0,
                estimated: false,
                cache_write_prompt_tokens: 500,
            })
        );
        assert_eq!(WireUsage::default().reported(), None);
    }

    #[test]
    fn stop_reasons() {
        for (reason, want) in [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("guardrail_intervened", FinishReason::ContentFilter),
            ("content_filtered", FinishReason::ContentFilter),
            ("something_new", FinishReason::Stop),
        ] {
            assert_eq!(finish_reason(Some(reason)), want, "{reason}");
        }
        assert_eq!(finish_reason(None), FinishReason::Unspecified);
    }
}
