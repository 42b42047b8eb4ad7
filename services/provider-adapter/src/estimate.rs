//! Token estimates for when a provider does not report usage (and the mock's exact
//! counts, which use the same rule so they are deterministic).
//!
//! The rule is deliberately simple and stable: about four characters per token,
//! rounded up, plus a small fixed overhead per message, as OpenAI's chat format
//! costs. Estimates are flagged `usage.estimated = true` wherever they are used.

use prost_types::value::Kind;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{ChatRequest, EmbedRequest, Message, Usage};

/// Tokens each message costs beyond its content (role and separators).
pub const MESSAGE_OVERHEAD: u64 = 4;
/// Tokens that prime the assistant's reply, once per request.
pub const REPLY_PRIMING: u64 = 3;
/// Rough cost of one image (OpenAI's low-detail price).
pub const IMAGE_TOKENS: u64 = 85;
/// Rough cost of one audio clip.
pub const AUDIO_TOKENS: u64 = 100;
/// Tokens each tool definition costs beyond its text.
pub const TOOL_OVERHEAD: u64 = 8;

/// Tokens for `chars` characters of text: `ceil(chars / 4)`.
pub fn tokens_for_chars(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

/// Character count, as the estimate counts them.
pub fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Estimated prompt tokens of a chat request: per message `ceil(chars / 4) + 4`,
/// plus 3 for the reply, plus tool definitions.
pub fn prompt_tokens(req: &ChatRequest) -> u64 {
    let messages: u64 = req.messages.iter().map(message_tokens).sum();
    let tools: u64 = req
        .tools
        .iter()
        .filter_map(|t| t.function.as_ref())
        .map(|f| {
            let mut n = chars(&f.name) + f.description.as_deref().map_or(0, chars);
            if let Some(params) = &f.parameters {
                n += struct_chars(params);
            }
            tokens_for_chars(n) + TOOL_OVERHEAD
        })
        .sum();
    messages + tools + REPLY_PRIMING
}

fn message_tokens(m: &Message) -> u64 {
    let mut text = m.name.as_deref().map_or(0, chars)
        + m.tool_call_id.as_deref().map_or(0, chars)
        + m.refusal.as_deref().map_or(0, chars);
    let mut media = 0;
    for part in &m.content {
        match &part.part {
            Some(Part::Text(t)) => text += chars(t),
            Some(Part::ImageUrl(_)) => media += IMAGE_TOKENS,
            Some(Part::InputAudio(_)) => media += AUDIO_TOKENS,
            None => {}
        }
    }
    for call in &m.tool_calls {
        if let Some(f) = &call.function {
            text += chars(&f.name) + chars(&f.arguments);
        }
    }
    tokens_for_chars(text) + media + MESSAGE_OVERHEAD
}

fn struct_chars(s: &prost_types::Struct) -> usize {
    s.fields
        .iter()
        .map(|(k, v)| chars(k) + value_chars(v))
        .sum()
}

fn value_chars(v: &prost_types::Value) -> usize {
    match &v.kind {
        Some(Kind::StringValue(s)) => chars(s),
        Some(Kind::StructValue(s)) => struct_chars(s),
        Some(Kind::ListValue(l)) => l.values.iter().map(value_chars).sum(),
        Some(Kind::NumberValue(_)) | Some(Kind::BoolValue(_)) => 2,
        Some(Kind::NullValue(_)) | None => 1,
    }
}

/// Estimated prompt tokens of an embeddings request: `ceil(chars / 4)` per text
/// input; token inputs count exactly.
pub fn embed_tokens(req: &EmbedRequest) -> u64 {
    let text: u64 = req.input.iter().map(|s| tokens_for_chars(chars(s))).sum();
    let ids: u64 = req.token_input.iter().map(|t| t.ids.len() as u64).sum();
    text + ids
}

/// A usage record from estimates.
pub fn usage(prompt_tokens: u64, completion_tokens: u64) -> Usage {
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        estimated: true,
        ..Usage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::types::v1::{ContentPart, ImageUrl, Role};

    fn text(role: Role, t: &str) -> Message {
        Message {
            role: role as i32,
            content: vec![ContentPart {
                part: Some(Part::Text(t.into())),
            }],
            ..Message::default()
        }
    }

    #[test]
    fn four_chars_per_token_plus_overhead() {
        assert_eq!(tokens_for_chars(0), 0);
        assert_eq!(tokens_for_chars(1), 1);
        assert_eq!(tokens_for_chars(8), 2);
        assert_eq!(tokens_for_chars(9), 3);
        let req = ChatRequest {
            messages: vec![text(Role::System, "be brief"), text(Role::User, "hi")],
            ..ChatRequest::default()
        };
        // (2 + 4) + (1 + 4) + 3
        assert_eq!(prompt_tokens(&req), 14);
        let mut with_image = text(Role::User, "what is this");
        with_image.content.push(ContentPart {
            part: Some(Part::ImageUrl(ImageUrl::default())),
        });
        let req = ChatRequest {
            messages: vec![with_image],
            ..ChatRequest::default()
        };
        assert_eq!(prompt_tokens(&req), 3 + 85 + 4 + 3);
    }

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(chars("héé"), 3);
        assert_eq!(usage(3, 2).total_tokens, 5);
        assert!(usage(3, 2).estimated);
    }
}
