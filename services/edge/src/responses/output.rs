//! Gateway answers as the Responses API's: output items (messages with text,
//! refusals and log probabilities; function calls; reasoning), status, usage,
//! and the `response` object every state of one response shares.

use std::borrow::Cow;

use switchyard_proto::types::v1 as pb;

use super::convert::encrypted;
use super::wire;
use crate::convert::completion::{text, token_logprobs};

/// Usage in the Responses API's names.
fn usage(u: &pb::Usage) -> wire::Usage {
    wire::Usage {
        input_tokens: u.prompt_tokens,
        input_tokens_details: wire::InputTokensDetails {
            cached_tokens: u.cached_prompt_tokens,
            cache_write_tokens: u.cache_write_prompt_tokens,
        },
        output_tokens: u.completion_tokens,
        output_tokens_details: wire::OutputTokensDetails {
            reasoning_tokens: u.reasoning_tokens,
        },
        total_tokens: u.total_tokens,
    }
}

/// What every state of one response shares: its id, creation time and the
/// request's settings.
pub struct Head<'a> {
    /// `resp_<request id>`.
    pub id: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    /// The request's settings.
    pub echo: &'a wire::Echo,
}

impl<'a> Head<'a> {
    /// The `response` object in `status`, for an answer that ended with
    /// `finish_reason`: a completed one gets `completed_at`, an incomplete one
    /// says why (`incomplete_details`).
    pub fn response(
        &self,
        model: &'a str,
        status: &'static str,
        finish_reason: i32,
        output: &'a [wire::OutputItem<'a>],
        usage_so_far: Option<&pb::Usage>,
        error: Option<wire::ResponseError<'a>>,
    ) -> wire::Response<'a> {
        let incomplete_details = if status == "incomplete" {
            incomplete(finish_reason)
        } else {
            None
        };
        wire::Response {
            id: self.id,
            object: "response",
            created_at: self.created_at,
            status,
            completed_at: (status == "completed").then(now_secs),
            error,
            incomplete_details,
            model,
            output,
            usage: usage_so_far.map(usage),
            echo: self.echo,
        }
    }
}

/// Why an answer that ended with `finish_reason` was cut short, if it was.
fn incomplete(finish_reason: i32) -> Option<wire::IncompleteDetails> {
    let reason = match pb::FinishReason::try_from(finish_reason) {
        Ok(pb::FinishReason::Length) => "max_output_tokens",
        Ok(pb::FinishReason::ContentFilter) => "content_filter",
        _ => return None,
    };
    Some(wire::IncompleteDetails { reason })
}

/// How a response that ended with `finish_reason` ended: completed, or
/// incomplete (cut short by its token limit or a filter).
pub fn status(finish_reason: i32) -> &'static str {
    if incomplete(finish_reason).is_some() {
        "incomplete"
    } else {
        "completed"
    }
}

/// Unix seconds now: `created_at` and `completed_at`.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The id of the message item at `output_index` of response `id`.
pub fn message_id(id: &str, output_index: usize) -> String {
    let base = id.strip_prefix("resp_").unwrap_or(id);
    if output_index == 0 {
        format!("msg_{base}")
    } else {
        format!("msg_{base}_{output_index}")
    }
}

/// The id of the reasoning item at `output_index` of response `id`.
pub fn reasoning_id(id: &str, output_index: usize) -> String {
    let base = id.strip_prefix("resp_").unwrap_or(id);
    format!("rs_{base}_{output_index}")
}

/// A reasoning block as an output item; `encrypted_content` only when asked for.
pub fn reasoning_item<'a>(
    id: Cow<'a, str>,
    status: &'static str,
    r: &'a pb::Reasoning,
    encrypted_reasoning: bool,
) -> wire::OutputItem<'a> {
    wire::OutputItem::Reasoning {
        id,
        status,
        summary: [],
        content: (!r.text.is_empty())
            .then(|| wire::ReasoningText {
                kind: "reasoning_text",
                text: Cow::Borrowed(&r.text),
            })
            .into_iter()
            .collect(),
        encrypted_content: encrypted_reasoning
            .then(|| encrypted(r))
            .flatten()
            .map(Cow::Owned),
    }
}

/// A function call's `call_id` (the provider's, or one made up when it gave none)
/// and its item id.
pub fn call_ids(id: &str, call_id: &str, output_index: usize) -> (String, String) {
    let call_id = if call_id.is_empty() {
        let base = id.strip_prefix("resp_").unwrap_or(id);
        format!("call_{base}_{output_index}")
    } else {
        call_id.to_string()
    };
    let item = format!("fc_{}", call_id.strip_prefix("call_").unwrap_or(&call_id));
    (call_id, item)
}

/// The output items of a whole answer (its first choice: the Responses API has no
/// `n`), with the status each finished in.
pub fn output<'a>(
    id: &str,
    r: &'a pb::ChatResponse,
    item_status: &'static str,
    encrypted_reasoning: bool,
) -> Vec<wire::OutputItem<'a>> {
    let Some(choice) = r.choices.first() else {
        return Vec::new();
    };
    let Some(m) = choice.message.as_ref() else {
        return Vec::new();
    };
    let mut items = Vec::with_capacity(m.reasoning.len() + 1 + m.tool_calls.len());
    for r in &m.reasoning {
        items.push(reasoning_item(
            Cow::Owned(reasoning_id(id, items.len())),
            "completed",
            r,
            encrypted_reasoning,
        ));
    }
    let mut content = Vec::new();
    if let Some(text) = text(&m.content).filter(|t| !t.is_empty()) {
        let tokens = choice.logprobs.as_ref().map(|l| l.content.as_slice());
        content.push(wire::OutputContent::OutputText {
            text,
            annotations: [],
            logprobs: token_logprobs(tokens.unwrap_or_default()),
        });
    }
    if let Some(refusal) = m.refusal.as_deref().filter(|r| !r.is_empty()) {
        content.push(wire::OutputContent::Refusal {
            refusal: Cow::Borrowed(refusal),
        });
    }
    if !content.is_empty() {
        items.push(wire::OutputItem::Message {
            id: Cow::Owned(message_id(id, items.len())),
            status: item_status,
            role: "assistant",
            content,
        });
    }
    for c in &m.tool_calls {
        let (call_id, item_id) = call_ids(id, &c.id, items.len());
        let f = c.function.as_ref();
        items.push(wire::OutputItem::FunctionCall {
            id: Cow::Owned(item_id),
            status: "completed",
            call_id: Cow::Owned(call_id),
            name: Cow::Borrowed(f.map_or("", |f| f.name.as_str())),
            arguments: Cow::Borrowed(f.map_or("", |f| f.arguments.as_str())),
        });
    }
    items
}
