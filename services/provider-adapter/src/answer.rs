//! What every kind needs to shape an answer in Switchyard's types: ids and times
//! for providers that send none, the text an estimate counts, and a complete
//! answer replayed as the chunks a stream would have carried.

use std::time::{SystemTime, UNIX_EPOCH};

use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatChunk, ChatResponse, Choice, ChunkChoice, Delta, FunctionCallDelta, Reasoning,
    ReasoningDelta, ToolCallDelta, Usage,
};
use switchyard_tokens::Counter;

/// An answer id for providers that send none.
pub(crate) fn new_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::now_v7().simple())
}

/// The current Unix time in seconds.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A whole answer's reasoning blocks as the stream fragments that rebuild them.
pub(crate) fn reasoning_deltas(blocks: Vec<Reasoning>) -> Vec<ReasoningDelta> {
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, r)| ReasoningDelta {
            index: i as u32,
            text: (!r.text.is_empty()).then_some(r.text),
            signature: (!r.signature.is_empty()).then_some(r.signature),
            redacted: r.redacted,
        })
        .collect()
}

/// What a complete answer produced, as a stream's text would have carried it: text,
/// refusals, tool-call names and arguments.
pub(crate) fn answer_text(choices: &[Choice]) -> Counter {
    let mut text = Counter::new();
    for m in choices.iter().filter_map(|c| c.message.as_ref()) {
        message_text(m, &mut text);
    }
    text
}

/// Adds what one answer message produced to `text`: reasoning, text, refusal,
/// tool-call names and arguments.
pub(crate) fn message_text(m: &switchyard_proto::types::v1::Message, text: &mut Counter) {
    for r in &m.reasoning {
        text.push(&r.text);
    }
    for part in &m.content {
        if let Some(Part::Text(t)) = &part.part {
            text.push(t);
        }
    }
    if let Some(refusal) = &m.refusal {
        text.push(refusal);
    }
    for f in m.tool_calls.iter().filter_map(|c| c.function.as_ref()) {
        text.push(&f.name);
        text.push(&f.arguments);
    }
}

/// A complete answer as the chunks a stream would have carried: one per choice,
/// then the usage chunk.
pub(crate) fn replay(answer: ChatResponse) -> Vec<ChatChunk> {
    let chunk = |choices: Vec<ChunkChoice>, usage: Option<Usage>| ChatChunk {
        id: answer.id.clone(),
        created: answer.created,
        model: answer.model.clone(),
        choices,
        usage,
        system_fingerprint: answer.system_fingerprint.clone(),
    };
    let mut chunks: Vec<ChatChunk> = answer
        .choices
        .iter()
        .map(|c| {
            let message = c.message.clone().unwrap_or_default();
            let content: Option<String> = (!message.content.is_empty()).then(|| {
                message
                    .content
                    .iter()
                    .filter_map(|p| match &p.part {
                        Some(Part::Text(t)) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect()
            });
            let tool_calls = message
                .tool_calls
                .into_iter()
                .enumerate()
                .map(|(i, call)| {
                    let function = call.function.unwrap_or_default();
                    ToolCallDelta {
                        index: i as u32,
                        id: Some(call.id),
                        r#type: Some(call.r#type),
                        function: Some(FunctionCallDelta {
                            name: Some(function.name),
                            arguments: Some(function.arguments),
                        }),
                    }
                })
                .collect();
            let delta = Delta {
                role: message.role,
                content,
                tool_calls,
                refusal: message.refusal,
                reasoning: reasoning_deltas(message.reasoning),
            };
            chunk(
                vec![ChunkChoice {
                    index: c.index,
                    delta: Some(delta),
                    finish_reason: c.finish_reason,
                    logprobs: c.logprobs.clone(),
                }],
                None,
            )
        })
        .collect();
    chunks.push(chunk(Vec::new(), answer.usage));
    chunks
}
