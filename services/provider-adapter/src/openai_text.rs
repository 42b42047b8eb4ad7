//! OpenAI's legacy text completions (`POST /completions`), which OpenAI-compatible
//! servers (vLLM, Ollama, llama.cpp, ...) serve for base and fill-in-the-middle
//! models: the request body of a `text_prompt`, and the legacy `logprobs` lists
//! of its answers. The answers are otherwise read with the chat types of
//! `openai_wire`, where a choice's `text` stands for its message.

use serde_json::{Map, Value, json};
use switchyard_proto::types::v1::{ChatRequest, TextPrompt, TokenLogprob, TopLogprob};

use crate::openai_wire::{merge_options, sampling};

/// Keys that `provider_options` may never override in a text completion.
const PROTECTED_KEYS: [&str; 4] = ["model", "prompt", "stream", "stream_options"];

/// The JSON body of `POST /completions` for `req`, whose `text_prompt` is `text`.
pub fn text_body(model: &str, req: &ChatRequest, text: &TextPrompt, stream: bool) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    let prompt = match text.prompts.as_slice() {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    };
    body.insert("prompt".into(), prompt);
    if stream {
        body.insert("stream".into(), true.into());
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(suffix) = &text.suffix {
        body.insert("suffix".into(), suffix.as_str().into());
    }
    if text.echo {
        body.insert("echo".into(), true.into());
    }
    sampling(&mut body, req);
    // The legacy API takes one number: how many alternatives per token (0 for
    // the chosen tokens' own log probabilities only).
    if req.logprobs == Some(true) {
        body.insert("logprobs".into(), req.top_logprobs.unwrap_or(0).into());
    }
    merge_options(&mut body, req.provider_options.as_ref(), &PROTECTED_KEYS);
    Value::Object(body)
}

/// A text completion's `logprobs` lists as Switchyard's per-token log
/// probabilities; `None` when there are no tokens. A missing log probability
/// (an echoed prompt's first token) is NaN; alternatives come likeliest first.
pub fn legacy_logprobs(
    tokens: Vec<String>,
    token_logprobs: Vec<Option<f64>>,
    top_logprobs: Vec<Option<Map<String, Value>>>,
) -> Option<switchyard_proto::types::v1::Logprobs> {
    if tokens.is_empty() {
        return None;
    }
    let mut tops = top_logprobs.into_iter();
    let content = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let mut top_logprobs: Vec<TopLogprob> = tops
                .next()
                .flatten()
                .into_iter()
                .flatten()
                .map(|(token, logprob)| TopLogprob {
                    bytes: token.as_bytes().to_vec(),
                    logprob: logprob.as_f64().unwrap_or(f64::NAN),
                    token,
                })
                .collect();
            top_logprobs.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
            TokenLogprob {
                bytes: token.as_bytes().to_vec(),
                logprob: token_logprobs.get(i).copied().flatten().unwrap_or(f64::NAN),
                token,
                top_logprobs,
            }
        })
        .collect();
    Some(switchyard_proto::types::v1::Logprobs {
        content,
        refusal: Vec::new(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::openai_wire::{WireChatResponse, WireChunk, logprobs};

    fn request(prompts: &[&str]) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            max_tokens: Some(7),
            logprobs: Some(true),
            top_logprobs: Some(2),
            text_prompt: Some(TextPrompt {
                prompts: prompts.iter().map(|p| (*p).to_string()).collect(),
                suffix: Some("return x".into()),
                echo: true,
            }),
            provider_options: Some(prost_types::Struct {
                fields: [
                    ("best_of".to_string(), prost_types::Value::from(3.0)),
                    ("prompt".to_string(), prost_types::Value::from("smuggled")),
                ]
                .into(),
            }),
            ..ChatRequest::default()
        }
    }

    #[test]
    fn body_carries_the_prompt_and_the_legacy_options() {
        let req = request(&["def f(x):"]);
        let body = text_body("base-model", &req, req.text_prompt.as_ref().unwrap(), true);
        assert_eq!(
            body,
            json!({
                "model": "base-model",
                "prompt": "def f(x):",
                "suffix": "return x",
                "echo": true,
                "max_tokens": 7,
                "logprobs": 2,
                "best_of": 3,
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
        let req = request(&["a", "b"]);
        let body = text_body("m", &req, req.text_prompt.as_ref().unwrap(), false);
        assert_eq!(body["prompt"], json!(["a", "b"]));
        assert!(body.get("stream").is_none());
    }

    #[test]
    fn answers_read_text_and_legacy_logprobs() {
        // OpenAI's documented `text_completion` object.
        let answer: WireChatResponse = serde_json::from_value(json!({
            "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
            "choices": [{
                "text": "Hello world", "index": 0, "finish_reason": "length",
                "logprobs": {
                    "tokens": ["Hello", " world"],
                    "token_logprobs": [null, -0.25],
                    "top_logprobs": [null, {" there": -2.0, " world": -0.25}],
                    "text_offset": [0, 5]
                }
            }],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        }))
        .unwrap();
        let choice = answer.choices.into_iter().next().unwrap();
        assert_eq!(choice.text.as_deref(), Some("Hello world"));
        let l = logprobs(choice.logprobs).unwrap();
        assert_eq!(l.content.len(), 2);
        assert!(l.content[0].logprob.is_nan());
        assert!(l.content[0].top_logprobs.is_empty());
        assert_eq!(l.content[1].logprob, -0.25);
        let tops: Vec<_> = l.content[1]
            .top_logprobs
            .iter()
            .map(|t| t.token.as_str())
            .collect();
        assert_eq!(tops, [" world", " there"]);

        let mut chunk: WireChunk = serde_json::from_value(json!({
            "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
            "choices": [{"text": " more", "index": 1, "finish_reason": null, "logprobs": null}]
        }))
        .unwrap();
        assert_eq!(chunk.choices[0].text.as_deref(), Some(" more"));
        assert!(logprobs(chunk.choices[0].logprobs.take()).is_none());
    }
}
