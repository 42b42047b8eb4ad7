//! Chat answers: `types.v1.ChatResponse` / `ChatChunk` as borrowed OpenAI views.

use std::borrow::Cow;

use switchyard_proto::conventions::GEMINI_SIGNATURE;
use switchyard_proto::types::v1 as pb;

use crate::wire::completion as wire;

/// The OpenAI name of a finish reason; null while unspecified.
pub(crate) fn finish_reason(value: i32) -> Option<&'static str> {
    match pb::FinishReason::try_from(value).ok()? {
        pb::FinishReason::Unspecified => None,
        pb::FinishReason::Stop => Some("stop"),
        pb::FinishReason::Length => Some("length"),
        pb::FinishReason::ToolCalls => Some("tool_calls"),
        pb::FinishReason::ContentFilter => Some("content_filter"),
    }
}

/// The OpenAI name of a role; `None` while unspecified.
fn role(value: i32) -> Option<&'static str> {
    match pb::Role::try_from(value).ok()? {
        pb::Role::Unspecified => None,
        pb::Role::System => Some("system"),
        pb::Role::User => Some("user"),
        pb::Role::Assistant => Some("assistant"),
        pb::Role::Tool => Some("tool"),
        pb::Role::Developer => Some("developer"),
    }
}

/// OpenAI usage from Gateway usage.
pub fn usage(u: &pb::Usage) -> wire::CompletionUsage {
    wire::CompletionUsage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
        prompt_tokens_details: wire::PromptTokensDetails {
            cached_tokens: u.cached_prompt_tokens,
        },
        completion_tokens_details: wire::CompletionTokensDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
    }
}

/// The views of `tokens`' log probabilities.
pub fn token_logprobs(tokens: &[pb::TokenLogprob]) -> Vec<wire::TokenLogprob<'_>> {
    tokens
        .iter()
        .map(|t| wire::TokenLogprob {
            token: &t.token,
            logprob: t.logprob,
            bytes: &t.bytes,
            top_logprobs: t
                .top_logprobs
                .iter()
                .map(|top| wire::TopLogprob {
                    token: &top.token,
                    logprob: top.logprob,
                    bytes: &top.bytes,
                })
                .collect(),
        })
        .collect()
}

/// A choice's `logprobs` object, or null when it has none.
fn logprobs(l: Option<&pb::Logprobs>) -> Option<wire::ChoiceLogprobs<'_>> {
    let l = l?;
    Some(wire::ChoiceLogprobs {
        content: (!l.content.is_empty()).then(|| token_logprobs(&l.content)),
        refusal: (!l.refusal.is_empty()).then(|| token_logprobs(&l.refusal)),
    })
}

/// The message text: its text parts joined (borrowed when there is one), or null when
/// there are none.
pub(crate) fn text(parts: &[pb::ContentPart]) -> Option<Cow<'_, str>> {
    let texts = parts.iter().filter_map(|p| match &p.part {
        Some(pb::content_part::Part::Text(t)) => Some(t.as_str()),
        _ => None,
    });
    joined(texts)
}

/// Gemini's thought signature among `signatures`, as Gemini wrote it, as the
/// first tool call's `extra_content` (Google's own OpenAI-compatible shape).
fn gemini_extra<'a>(
    mut signatures: impl Iterator<Item = &'a str>,
) -> Option<wire::ExtraContent<'a>> {
    let thought_signature = signatures.find_map(|s| s.strip_prefix(GEMINI_SIGNATURE))?;
    Some(wire::ExtraContent {
        google: wire::GoogleExtra { thought_signature },
    })
}

fn assistant_message(m: Option<&pb::Message>) -> wire::AssistantMessage<'_> {
    let Some(m) = m else {
        return wire::AssistantMessage {
            role: "assistant",
            content: None,
            tool_calls: Vec::new(),
            refusal: None,
            reasoning_content: None,
        };
    };
    let mut extra = gemini_extra(m.reasoning.iter().map(|r| r.signature.as_str()));
    wire::AssistantMessage {
        role: "assistant",
        content: text(&m.content),
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| wire::ToolCall {
                extra_content: extra.take(),
                id: &c.id,
                kind: if c.r#type.is_empty() {
                    "function"
                } else {
                    &c.r#type
                },
                function: wire::FunctionCall {
                    name: c.function.as_ref().map_or("", |f| f.name.as_str()),
                    arguments: c.function.as_ref().map_or("", |f| f.arguments.as_str()),
                },
            })
            .collect(),
        refusal: m.refusal.as_deref(),
        reasoning_content: joined(
            m.reasoning
                .iter()
                .map(|r| r.text.as_str())
                .filter(|t| !t.is_empty()),
        ),
    }
}

/// Texts joined (borrowed when there is one), or `None` when there are none.
fn joined<'a>(mut texts: impl Iterator<Item = &'a str>) -> Option<Cow<'a, str>> {
    let first = texts.next()?;
    match texts.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut all = String::from(first);
            all.push_str(second);
            texts.for_each(|t| all.push_str(t));
            Some(Cow::Owned(all))
        }
    }
}

/// The `chat.completion` view of a complete answer.
pub fn completion(r: &pb::ChatResponse) -> wire::ChatCompletion<'_> {
    wire::ChatCompletion {
        id: &r.id,
        object: "chat.completion",
        created: r.created,
        model: &r.model,
        choices: r
            .choices
            .iter()
            .map(|c| wire::CompletionChoice {
                index: c.index,
                message: assistant_message(c.message.as_ref()),
                logprobs: logprobs(c.logprobs.as_ref()),
                finish_reason: finish_reason(c.finish_reason),
            })
            .collect(),
        usage: r.usage.as_ref().map(|u| Some(usage(u))),
        system_fingerprint: r.system_fingerprint.as_deref(),
    }
}

fn delta(d: Option<&pb::Delta>) -> wire::Delta<'_> {
    let Some(d) = d else {
        return wire::Delta {
            role: None,
            content: None,
            tool_calls: Vec::new(),
            refusal: None,
            reasoning_content: None,
        };
    };
    let mut extra = gemini_extra(d.reasoning.iter().filter_map(|r| r.signature.as_deref()));
    wire::Delta {
        role: role(d.role),
        content: d.content.as_deref(),
        tool_calls: d
            .tool_calls
            .iter()
            .map(|c| wire::ToolCallDelta {
                extra_content: extra.take(),
                index: c.index,
                id: c.id.as_deref(),
                kind: c.r#type.as_deref(),
                function: wire::FunctionCallDelta {
                    name: c.function.as_ref().and_then(|f| f.name.as_deref()),
                    arguments: c.function.as_ref().and_then(|f| f.arguments.as_deref()),
                },
            })
            .collect(),
        refusal: d.refusal.as_deref(),
        reasoning_content: joined(
            d.reasoning
                .iter()
                .filter_map(|r| r.text.as_deref())
                .filter(|t| !t.is_empty()),
        ),
    }
}

/// The `chat.completion.chunk` view of a streamed chunk, or `None` when the chunk has
/// nothing for this caller: the router's usage chunk when `include_usage` was not
/// asked, or an empty chunk.
pub fn chunk(c: &pb::ChatChunk, include_usage: bool) -> Option<wire::ChatCompletionChunk<'_>> {
    if c.choices.is_empty() && !(include_usage && c.usage.is_some()) {
        return None;
    }
    Some(wire::ChatCompletionChunk {
        id: &c.id,
        object: "chat.completion.chunk",
        created: c.created,
        model: &c.model,
        system_fingerprint: c.system_fingerprint.as_deref(),
        choices: c
            .choices
            .iter()
            .map(|choice| wire::ChunkChoice {
                index: choice.index,
                delta: delta(choice.delta.as_ref()),
                logprobs: logprobs(choice.logprobs.as_ref()),
                finish_reason: finish_reason(choice.finish_reason),
            })
            .collect(),
        usage: include_usage.then(|| c.usage.as_ref().map(usage)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_joins_parts_and_is_null_without_them() {
        assert_eq!(text(&[]), None);
        let part = |t: &str| pb::ContentPart {
            part: Some(pb::content_part::Part::Text(t.into())),
        };
        assert_eq!(text(&[part("a")]).as_deref(), Some("a"));
        assert_eq!(
            text(&[part("a"), part("b"), part("c")]).as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn usage_chunk_only_when_asked() {
        let c = pb::ChatChunk {
            usage: Some(pb::Usage::default()),
            ..Default::default()
        };
        assert!(chunk(&c, false).is_none());
        let json = serde_json::to_value(chunk(&c, true).unwrap()).unwrap();
        assert_eq!(json["choices"], serde_json::json!([]));
        assert_eq!(json["usage"]["total_tokens"], 0);
    }
}
