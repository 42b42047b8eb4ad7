//! Validation of Gateway requests at the boundary, naming the offending field.
//! (The edge validates HTTP bodies too; gRPC callers reach the router directly.)

use switchyard_error::ApiError;
use switchyard_proto::types::v1::{ChatRequest, EmbedRequest, Role, TextPrompt};

/// The most choices (`n`) one chat request may ask for: OpenAI's own limit. Every
/// choice may produce up to `max_tokens`, so admission reserves `n` times the
/// tokens and money; a bound keeps one request from reserving a tenant's budget
/// many times over.
pub const MAX_CHOICES: u32 = 128;

/// The most alternatives per token `top_logprobs` may ask for: OpenAI's limit.
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// Checks what every provider needs of a chat request.
pub fn validate_chat(req: &ChatRequest) -> Result<(), ApiError> {
    if req.model.is_empty() {
        return Err(ApiError::invalid("model", "`model` is required"));
    }
    if let Some(text) = &req.text_prompt {
        validate_text_prompt(req, text)?;
    } else if req.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must contain at least one message",
        ));
    }
    for (i, m) in req.messages.iter().enumerate() {
        if Role::try_from(m.role).map_or(true, |r| r == Role::Unspecified) {
            return Err(ApiError::invalid(
                format!("messages[{i}].role"),
                "role must be one of system, user, assistant, tool, developer",
            ));
        }
        if m.role == Role::Tool as i32 && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                format!("messages[{i}].tool_call_id"),
                "tool messages need the tool_call_id they answer",
            ));
        }
    }
    if req.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err(ApiError::invalid("temperature", "must be between 0 and 2"));
    }
    if req.top_p.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
        return Err(ApiError::invalid("top_p", "must be between 0 and 1"));
    }
    if req.n == Some(0) {
        return Err(ApiError::invalid("n", "must be at least 1"));
    }
    if req.n.is_some_and(|n| n > MAX_CHOICES) {
        return Err(ApiError::invalid(
            "n",
            format!("must be at most {MAX_CHOICES}"),
        ));
    }
    if switchyard_tokens::choices(req) > u64::from(MAX_CHOICES) {
        return Err(ApiError::invalid(
            "n",
            format!("n (or best_of) times the number of prompts must be at most {MAX_CHOICES}"),
        ));
    }
    // Zero only to score an echoed prompt (its log probabilities), as evaluation
    // harnesses ask of text completions.
    let scoring = req.text_prompt.as_ref().is_some_and(|t| t.echo);
    if req.max_tokens == Some(0) && !scoring {
        return Err(ApiError::invalid("max_tokens", "must be at least 1"));
    }
    if req.top_logprobs.is_some_and(|n| n > MAX_TOP_LOGPROBS) {
        return Err(ApiError::invalid(
            "top_logprobs",
            format!("must be at most {MAX_TOP_LOGPROBS}"),
        ));
    }
    Ok(())
}

/// Checks a text completion: prompts and no chat-only fields.
fn validate_text_prompt(req: &ChatRequest, text: &TextPrompt) -> Result<(), ApiError> {
    if !req.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "give `messages` or `text_prompt`, not both",
        ));
    }
    if text.prompts.is_empty() {
        return Err(ApiError::invalid(
            "text_prompt.prompts",
            "must contain at least one prompt",
        ));
    }
    let chat_only = [
        ("tools", !req.tools.is_empty()),
        ("tool_choice", req.tool_choice.is_some()),
        ("parallel_tool_calls", req.parallel_tool_calls.is_some()),
        ("response_format", req.response_format.is_some()),
        ("reasoning_effort", req.reasoning_effort.is_some()),
    ];
    if let Some((field, _)) = chat_only.iter().find(|(_, set)| *set) {
        return Err(ApiError::invalid(
            *field,
            format!("`{field}` applies to chat messages, not to a text prompt"),
        ));
    }
    Ok(())
}

/// Checks an embeddings request.
pub fn validate_embed(req: &EmbedRequest) -> Result<(), ApiError> {
    if req.model.is_empty() {
        return Err(ApiError::invalid("model", "`model` is required"));
    }
    if req.input.is_empty() && req.token_input.is_empty() {
        return Err(ApiError::invalid("input", "`input` must not be empty"));
    }
    if !req.input.is_empty() && !req.token_input.is_empty() {
        return Err(ApiError::invalid(
            "input",
            "give text input or token input, not both",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(prompts: &[&str]) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            text_prompt: Some(TextPrompt {
                prompts: prompts.iter().map(|p| (*p).to_string()).collect(),
                ..TextPrompt::default()
            }),
            ..ChatRequest::default()
        }
    }

    fn param(req: &ChatRequest) -> Option<String> {
        validate_chat(req)
            .err()
            .map(|e| e.param.unwrap_or_default())
    }

    #[test]
    fn a_text_prompt_stands_instead_of_messages() {
        assert_eq!(param(&text(&["Once upon a time"])), None);
        assert_eq!(param(&text(&[])).as_deref(), Some("text_prompt.prompts"));
        let mut both = text(&["a"]);
        both.messages.push(switchyard_proto::types::v1::Message {
            role: Role::User as i32,
            ..Default::default()
        });
        assert_eq!(param(&both).as_deref(), Some("messages"));
        let mut with_format = text(&["a"]);
        with_format.response_format = Some(Default::default());
        assert_eq!(param(&with_format).as_deref(), Some("response_format"));
        let mut reasoning = text(&["a"]);
        reasoning.reasoning_effort = Some("low".into());
        assert_eq!(param(&reasoning).as_deref(), Some("reasoning_effort"));
    }

    #[test]
    fn choices_are_bounded_over_all_prompts() {
        let mut req = text(&["a"; 8]);
        req.n = Some(16);
        assert_eq!(param(&req), None);
        req.n = Some(17);
        assert_eq!(param(&req).as_deref(), Some("n"));
    }

    #[test]
    fn only_an_echoed_prompt_may_ask_for_no_tokens() {
        let mut req = text(&["score me"]);
        req.max_tokens = Some(0);
        assert_eq!(param(&req).as_deref(), Some("max_tokens"));
        req.text_prompt.as_mut().unwrap().echo = true;
        assert_eq!(param(&req), None);
    }
}
