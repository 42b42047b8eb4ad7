//! Text completions: OpenAI's legacy request into a `types.v1.ChatRequest` with a
//! `text_prompt`, validated, naming the parameter at fault; and Gateway answers
//! as borrowed `text_completion` views.

use std::borrow::Cow;

use serde_json::Value;
use switchyard_error::ApiError;
use switchyard_proto::types::v1 as pb;

use super::chat::{non_empty, stops};
use super::completion::{finish_reason, text, token_logprobs, usage};
use super::json::to_options;
use crate::wire::text_completion as wire;

/// The most alternatives per token `logprobs` may ask for (the Gateway's bound;
/// OpenAI's own models allow 5).
const MAX_LOGPROBS: u32 = 20;

impl TryFrom<wire::CompletionRequest> for pb::ChatRequest {
    type Error = ApiError;

    fn try_from(req: wire::CompletionRequest) -> Result<Self, ApiError> {
        let model = non_empty(req.model, || "model".into())?;
        let prompts = prompts(req.prompt)?;
        if req.logprobs.is_some_and(|n| n > MAX_LOGPROBS) {
            return Err(ApiError::invalid(
                "logprobs",
                format!("'logprobs' must be at most {MAX_LOGPROBS}."),
            ));
        }
        Ok(pb::ChatRequest {
            model,
            text_prompt: Some(pb::TextPrompt {
                prompts,
                suffix: req.suffix,
                echo: req.echo.unwrap_or(false),
            }),
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req.max_tokens,
            n: req.n,
            stop: stops(req.stop),
            seed: req.seed,
            presence_penalty: req.presence_penalty,
            frequency_penalty: req.frequency_penalty,
            user: req.user,
            provider_options: to_options(req.extra),
            include_usage: req
                .stream_options
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
            logprobs: req.logprobs.map(|_| true),
            top_logprobs: req.logprobs,
            ..pb::ChatRequest::default()
        })
    }
}

/// `prompt` as texts: a string or an array of strings.
fn prompts(prompt: Option<Value>) -> Result<Vec<String>, ApiError> {
    let tokens = || {
        ApiError::invalid(
            "prompt",
            "Prompts of token ids are not supported; send the prompt as text.",
        )
    };
    match prompt {
        None | Some(Value::Null) => Err(ApiError::invalid(
            "prompt",
            "Missing required parameter: 'prompt'.",
        )),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) if items.is_empty() => Err(ApiError::invalid(
            "prompt",
            "'prompt' must contain at least one prompt.",
        )),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                Value::Number(_) | Value::Array(_) => Err(tokens()),
                _ => Err(ApiError::invalid(
                    format!("prompt[{i}]"),
                    "Expected a string.",
                )),
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(
            "prompt",
            "Expected a string or an array of strings.",
        )),
    }
}

/// A choice's `logprobs` in the legacy shape, its tokens' offsets counted on from
/// `offset` (characters of the choice's text before them); null when it has none.
fn logprobs<'a>(l: Option<&'a pb::Logprobs>, offset: &mut u64) -> Option<wire::TextLogprobs<'a>> {
    let tokens = token_logprobs(&l?.content);
    if tokens.is_empty() {
        return None;
    }
    let text_offset = tokens
        .iter()
        .map(|t| {
            let at = *offset;
            *offset += t.token.chars().count() as u64;
            at
        })
        .collect();
    let alternatives = tokens.iter().any(|t| !t.top_logprobs.is_empty());
    Some(wire::TextLogprobs {
        tokens: tokens.iter().map(|t| t.token).collect(),
        token_logprobs: tokens
            .iter()
            .map(|t| t.logprob.is_finite().then_some(t.logprob))
            .collect(),
        top_logprobs: alternatives.then(|| {
            tokens
                .into_iter()
                .map(|t| wire::TopTokens(t.top_logprobs))
                .collect()
        }),
        text_offset,
    })
}

/// The `text_completion` view of a complete answer.
pub fn answer(r: &pb::ChatResponse) -> wire::TextCompletion<'_> {
    wire::TextCompletion {
        id: &r.id,
        object: "text_completion",
        created: r.created,
        model: &r.model,
        system_fingerprint: r.system_fingerprint.as_deref(),
        choices: r
            .choices
            .iter()
            .map(|c| wire::TextChoice {
                text: c
                    .message
                    .as_ref()
                    .and_then(|m| text(&m.content))
                    .unwrap_or(Cow::Borrowed("")),
                index: c.index,
                logprobs: logprobs(c.logprobs.as_ref(), &mut 0),
                finish_reason: finish_reason(c.finish_reason),
            })
            .collect(),
        usage: r.usage.as_ref().map(|u| Some(usage(u))),
    }
}

/// Each streamed choice's text so far, in characters: where its next tokens'
/// `text_offset` starts. A list, not indexed by choice: the index comes from
/// upstream, and a stream has few choices.
#[derive(Debug, Default)]
pub struct Offsets(Vec<(u32, u64)>);

impl Offsets {
    fn of(&mut self, index: u32) -> &mut u64 {
        let at = match self.0.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                self.0.push((index, 0));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }
}

/// The `text_completion` view of a streamed chunk, or `None` when it has nothing
/// for this caller: no text, log probabilities or finish reason (a role chunk,
/// say), or the router's usage chunk when `include_usage` was not asked.
pub fn chunk<'a>(
    c: &'a pb::ChatChunk,
    include_usage: bool,
    offsets: &mut Offsets,
) -> Option<wire::TextCompletion<'a>> {
    let choices: Vec<_> = c
        .choices
        .iter()
        .filter_map(|choice| {
            let text = choice
                .delta
                .as_ref()
                .and_then(|d| d.content.as_deref())
                .unwrap_or("");
            let finish = finish_reason(choice.finish_reason);
            let logprobs = logprobs(choice.logprobs.as_ref(), offsets.of(choice.index));
            (!text.is_empty() || finish.is_some() || logprobs.is_some()).then_some(
                wire::TextChoice {
                    text: Cow::Borrowed(text),
                    index: choice.index,
                    logprobs,
                    finish_reason: finish,
                },
            )
        })
        .collect();
    if choices.is_empty() && !(include_usage && c.usage.is_some()) {
        return None;
    }
    Some(wire::TextCompletion {
        id: &c.id,
        object: "text_completion",
        created: c.created,
        model: &c.model,
        system_fingerprint: c.system_fingerprint.as_deref(),
        choices,
        usage: include_usage.then(|| c.usage.as_ref().map(usage)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn convert(body: Value) -> Result<pb::ChatRequest, ApiError> {
        pb::ChatRequest::try_from(serde_json::from_value::<wire::CompletionRequest>(body).unwrap())
    }

    fn param(body: Value) -> String {
        convert(body).unwrap_err().param.unwrap_or_default()
    }

    #[test]
    fn request_carries_prompts_and_legacy_options() {
        let req = convert(json!({
            "model": "base", "prompt": "def add(a, b):", "suffix": "    return c",
            "max_tokens": 16, "echo": true, "logprobs": 2, "stop": "\n\n", "n": 2,
            "best_of": 3, "stream_options": {"include_usage": true},
        }))
        .unwrap();
        let text = req.text_prompt.as_ref().unwrap();
        assert_eq!(text.prompts, ["def add(a, b):"]);
        assert_eq!(text.suffix.as_deref(), Some("    return c"));
        assert!(text.echo);
        assert!(req.messages.is_empty());
        assert_eq!((req.logprobs, req.top_logprobs), (Some(true), Some(2)));
        assert_eq!(req.stop, ["\n\n"]);
        assert_eq!((req.n, req.max_tokens), (Some(2), Some(16)));
        assert!(req.include_usage);
        assert!(req.provider_options.unwrap().fields.contains_key("best_of"));

        let req = convert(json!({"model": "m", "prompt": ["a", "b"]})).unwrap();
        assert_eq!(req.text_prompt.unwrap().prompts, ["a", "b"]);
        assert_eq!(req.logprobs, None);
    }

    #[test]
    fn bad_prompts_name_the_parameter() {
        assert_eq!(param(json!({"model": "m"})), "prompt");
        assert_eq!(param(json!({"model": "m", "prompt": []})), "prompt");
        assert_eq!(param(json!({"model": "m", "prompt": [1, 2]})), "prompt");
        assert_eq!(param(json!({"model": "m", "prompt": [[1, 2]]})), "prompt");
        assert_eq!(
            param(json!({"model": "m", "prompt": ["a", {}]})),
            "prompt[1]"
        );
        assert_eq!(param(json!({"model": "m", "prompt": 5})), "prompt");
        assert_eq!(param(json!({"prompt": "a"})), "model");
        assert_eq!(
            param(json!({"model": "m", "prompt": "a", "logprobs": 21})),
            "logprobs"
        );
        let tokens = convert(json!({"model": "m", "prompt": [1]})).unwrap_err();
        assert!(tokens.message.contains("token ids"), "{}", tokens.message);
    }

    fn token(t: &str, logprob: f64, top: &[(&str, f64)]) -> pb::TokenLogprob {
        pb::TokenLogprob {
            token: t.into(),
            logprob,
            bytes: t.as_bytes().to_vec(),
            top_logprobs: top
                .iter()
                .map(|(t, l)| pb::TopLogprob {
                    token: (*t).into(),
                    logprob: *l,
                    bytes: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn answer_has_text_and_legacy_logprobs_with_offsets() {
        let reply = pb::ChatResponse {
            id: "cmpl-1".into(),
            created: 7,
            model: "base".into(),
            choices: vec![pb::Choice {
                index: 0,
                message: Some(pb::Message {
                    content: vec![pb::ContentPart {
                        part: Some(pb::content_part::Part::Text("Hé there".into())),
                    }],
                    ..Default::default()
                }),
                finish_reason: pb::FinishReason::Length as i32,
                logprobs: Some(pb::Logprobs {
                    content: vec![
                        token("Hé", f64::NAN, &[]),
                        token(" there", -0.5, &[(" there", -0.5), (" world", -1.5)]),
                    ],
                    refusal: Vec::new(),
                }),
            }],
            usage: Some(pb::Usage {
                prompt_tokens: 1,
                completion_tokens: 2,
                total_tokens: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(answer(&reply)).unwrap();
        assert_eq!(
            json,
            json!({
                "id": "cmpl-1", "object": "text_completion", "created": 7, "model": "base",
                "choices": [{
                    "text": "Hé there", "index": 0, "finish_reason": "length",
                    "logprobs": {
                        "tokens": ["Hé", " there"],
                        "token_logprobs": [null, -0.5],
                        "top_logprobs": [{}, {" there": -0.5, " world": -1.5}],
                        "text_offset": [0, 2],
                    },
                }],
                "usage": {
                    "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            })
        );
    }

    fn fragment(index: u32, text: Option<&str>, finish: pb::FinishReason) -> pb::ChatChunk {
        pb::ChatChunk {
            id: "cmpl-1".into(),
            choices: vec![pb::ChunkChoice {
                index,
                delta: Some(pb::Delta {
                    content: text.map(str::to_string),
                    ..Default::default()
                }),
                finish_reason: finish as i32,
                logprobs: text.map(|t| pb::Logprobs {
                    content: vec![token(t, -0.1, &[])],
                    refusal: Vec::new(),
                }),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn stream_chunks_skip_empty_fragments_and_count_offsets_per_choice() {
        let mut offsets = Offsets::default();
        let role = pb::ChatChunk {
            choices: vec![pb::ChunkChoice {
                delta: Some(pb::Delta {
                    role: pb::Role::Assistant as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(chunk(&role, true, &mut offsets).is_none());
        let offset = |c: &pb::ChatChunk, offsets: &mut Offsets| {
            let json = serde_json::to_value(chunk(c, false, offsets).unwrap()).unwrap();
            json["choices"][0]["logprobs"]["text_offset"][0].clone()
        };
        let unspecified = pb::FinishReason::Unspecified;
        assert_eq!(
            offset(&fragment(0, Some("Once"), unspecified), &mut offsets),
            0
        );
        assert_eq!(
            offset(&fragment(1, Some("Two"), unspecified), &mut offsets),
            0
        );
        assert_eq!(
            offset(&fragment(0, Some(" upon"), unspecified), &mut offsets),
            4
        );
        assert_eq!(
            offset(&fragment(1, Some(" more"), unspecified), &mut offsets),
            3
        );
        let end = fragment(0, None, pb::FinishReason::Stop);
        let json = serde_json::to_value(chunk(&end, true, &mut offsets).unwrap()).unwrap();
        assert_eq!(
            json["choices"],
            json!([{"text": "", "index": 0, "logprobs": null, "finish_reason": "stop"}])
        );
        assert_eq!(json["usage"], Value::Null);
        let usage = pb::ChatChunk {
            usage: Some(pb::Usage::default()),
            ..Default::default()
        };
        assert!(chunk(&usage, false, &mut offsets).is_none());
        let json = serde_json::to_value(chunk(&usage, true, &mut offsets).unwrap()).unwrap();
        assert_eq!(json["choices"], json!([]));
        assert_eq!(json["usage"]["total_tokens"], 0);
    }
}
