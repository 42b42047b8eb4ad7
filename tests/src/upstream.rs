//! An emulated OpenAI-compatible upstream (`/v1/chat/completions`,
//! `/v1/completions`, `/v1/embeddings`), answering in OpenAI's documented wire
//! format. A text completion continues each prompt with " continues <prompt>" (or
//! " fills before <suffix>" given a `suffix`), `n` times, echoing the prompt when
//! asked, with legacy `logprobs` lists when `logprobs` is a number. The requested
//! upstream model selects the behaviour:
//!
//! | model | behaviour |
//! |---|---|
//! | anything else | a normal answer echoing the last user message (as `{"echo": …}` JSON when `response_format` is a `json_schema`) |
//! | (any, with `logprobs: true`) | each word's log probability, -0.25 nat per word of the reply, with `top_logprobs` alternatives |
//! | `reasoner` | thinks first: `reasoning_content` (as DeepSeek and vLLM send it) "Thinking about: <last user message>", then the normal answer |
//! | `tool-call` | calls the first tool with `{"q": <last user message>}`; after a tool result, echoes that result |
//! | `fail-500` | HTTP 500 with an OpenAI error body |
//! | `rate-limited` | HTTP 429, `retry-after: 7` |
//! | `over-quota` | HTTP 429 `insufficient_quota` (the account is out of credit) |
//! | `cut-stream` | streams two chunks, then closes without `[DONE]` |
//! | `no-usage` | streams without a usage chunk even when asked |
//! | `hang` | waits for [`Upstream::release`] before answering (streams: after the first two chunks) |
//! | `hang-first` | as `hang`, but a stream sends its head and then waits before its first chunk |

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

struct Inner {
    requests: Mutex<Vec<RecordedRequest>>,
    release: tokio::sync::Semaphore,
}

/// A running emulated upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    _task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Starts on a fresh `127.0.0.1:0` listener.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            requests: Mutex::new(Vec::new()),
            release: tokio::sync::Semaphore::new(0),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/completions", post(completions))
            .route("/v1/embeddings", post(embeddings))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            inner,
            _task: task,
        }
    }

    /// The base URL a provider config uses (`http://127.0.0.1:port/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Lets one waiting `hang` request finish.
    pub fn release(&self) {
        self.inner.release.add_permits(1);
    }

    /// Waits (bounded: 10 s) until `n` requests have arrived.
    pub async fn wait_requests(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.requests().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "upstream saw fewer than {n} requests"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// The `model` of every request received so far, in order.
    pub fn models(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.body["model"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn record(inner: &Inner, path: &str, headers: &HeaderMap, body: &Value) {
    inner.requests.lock().unwrap().push(RecordedRequest {
        path: path.to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body.clone(),
    });
}

fn openai_error(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}})),
    )
        .into_response()
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        })
        .unwrap_or_default()
}

/// The content of the last message when it is a tool result.
fn tool_result(body: &Value) -> Option<String> {
    let last = body["messages"].as_array()?.last()?;
    (last["role"] == "tool").then(|| last["content"].as_str().unwrap_or_default().to_string())
}

/// The tool call the `tool-call` model makes: the first tool, unless the
/// conversation already ends with a tool result.
fn tool_call(body: &Value) -> Option<(String, String)> {
    if tool_result(body).is_some() {
        return None;
    }
    let name = body["tools"][0]["function"]["name"].as_str()?.to_string();
    let arguments = json!({"q": last_user_text(body)}).to_string();
    Some((name, arguments))
}

/// The deterministic answer: the words of the reply, and the usage it reports.
fn answer(body: &Value) -> (Vec<String>, Value) {
    let said = tool_result(body).unwrap_or_else(|| last_user_text(body));
    let text = if body["response_format"]["type"] == "json_schema" {
        json!({"echo": said}).to_string()
    } else {
        format!("echo: {said}")
    };
    let words: Vec<String> = text
        .split(' ')
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_string()
            } else {
                format!(" {w}")
            }
        })
        .collect();
    let prompt = 9 + text.len() as u64 / 4;
    let completion = words.len() as u64;
    let usage = json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    });
    (words, usage)
}

async fn chat(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&inner, "/v1/chat/completions", &headers, &body);
    let model = body["model"].as_str().unwrap_or_default().to_string();
    match model.as_str() {
        "fail-500" => {
            return openai_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server had an error while processing your request.",
                "server_error",
                None,
            );
        }
        "too-long" => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                Some("context_length_exceeded"),
            );
        }
        "bad-request" => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "Invalid value for 'temperature': must be at most 2.",
                "invalid_request_error",
                Some("invalid_value"),
            );
        }
        "over-quota" => {
            return openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                Some("insufficient_quota"),
            );
        }
        "rate-limited" => {
            let mut r = openai_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests",
                "requests",
                Some("rate_limit_exceeded"),
            );
            r.headers_mut().insert("retry-after", "7".parse().unwrap());
            return r;
        }
        _ => {}
    }
    let (words, usage) = answer(&body);
    let id = "chatcmpl-emulated123";
    let created = 1_795_475_077;
    let hang = model == "hang" || model == "hang-first";
    let thought =
        (model == "reasoner").then(|| format!("Thinking about: {}", last_user_text(&body)));
    let call = if model == "tool-call" {
        tool_call(&body)
    } else {
        None
    };
    if let Some((name, arguments)) = call {
        return tool_call_answer(&body, &model, &name, &arguments, usage);
    }
    if body["stream"] != json!(true) {
        if hang {
            // Consumed, not returned: one `release` lets exactly one request through.
            inner.release.acquire().await.unwrap().forget();
        }
        let mut message = json!({"role": "assistant", "content": words.concat(), "refusal": null, "annotations": []});
        if let Some(thought) = &thought {
            message["reasoning_content"] = json!(thought);
        }
        return Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": logprobs(&body, &words),
                "finish_reason": "stop"
            }],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_emulated"
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| chunk_json(id, created, &model, delta, finish);
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    if let Some(thought) = &thought {
        let (head, tail) = thought.split_at(thought.len() / 2);
        for piece in [head, tail] {
            events.push(chunk(json!({"reasoning_content": piece}), Value::Null));
        }
    }
    for w in &words {
        let mut event = chunk(json!({"content": w}), Value::Null);
        event["choices"][0]["logprobs"] = logprobs(&body, std::slice::from_ref(w));
        events.push(event);
    }
    let cut = model == "cut-stream";
    if cut {
        events.truncate(2);
    } else {
        events.push(chunk(json!({}), json!("stop")));
        let wants_usage = body["stream_options"]["include_usage"] == json!(true);
        if wants_usage && model != "no-usage" {
            events.push(usage_json(id, created, &model, usage));
        }
    }
    let mut frames: Vec<String> = events
        .into_iter()
        .map(|e| format!("data: {e}\n\n"))
        .collect();
    if !cut {
        frames.push("data: [DONE]\n\n".into());
    }
    let body = if hang {
        // Two chunks now (none for `hang-first`), the rest once the test
        // releases the request.
        let rest = frames.split_off(if model == "hang-first" { 0 } else { 2 });
        let head = futures::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>));
        let tail = futures::stream::once(async move {
            // Consumed, not returned: one `release` lets exactly one request through.
            inner.release.acquire().await.unwrap().forget();
            Ok::<_, std::io::Error>(rest.concat())
        });
        Body::from_stream(futures::StreamExt::chain(head, tail))
    } else {
        Body::from(frames.concat())
    };
    event_stream(body)
}

/// A call of `name`, as OpenAI answers it: whole, or streamed as the call's head
/// (id, name, empty arguments) and then the arguments in pieces.
fn tool_call_answer(
    body: &Value,
    model: &str,
    name: &str,
    arguments: &str,
    usage: Value,
) -> Response {
    let id = "chatcmpl-emulated456";
    let created = 1_795_475_077;
    let call_id = "call_emulated1";
    if body["stream"] != json!(true) {
        return Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": null, "refusal": null, "annotations": [],
                    "tool_calls": [{"id": call_id, "type": "function",
                        "function": {"name": name, "arguments": arguments}}]},
                "logprobs": null,
                "finish_reason": "tool_calls"
            }],
            "usage": usage,
            "system_fingerprint": "fp_emulated"
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| chunk_json(id, created, model, delta, finish);
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": call_id,
            "type": "function", "function": {"name": name, "arguments": ""}}]}),
        Value::Null,
    )];
    let mid = (0..=arguments.len() / 2)
        .rev()
        .find(|&i| arguments.is_char_boundary(i))
        .unwrap_or(0);
    let (head, tail) = arguments.split_at(mid);
    for piece in [head, tail] {
        events.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            Value::Null,
        ));
    }
    events.push(chunk(json!({}), json!("tool_calls")));
    if body["stream_options"]["include_usage"] == json!(true) {
        events.push(usage_json(id, created, model, usage));
    }
    let mut frames: String = events
        .into_iter()
        .map(|e| format!("data: {e}\n\n"))
        .collect();
    frames.push_str("data: [DONE]\n\n");
    event_stream(Body::from(frames))
}

/// A choice's `logprobs` for `words` when the request asks for them (null
/// otherwise), in OpenAI's shape: token, logprob, UTF-8 bytes, and
/// `top_logprobs` alternatives (the word itself, then "x", "y", … less likely).
fn logprobs(body: &Value, words: &[String]) -> Value {
    if body["logprobs"] != json!(true) {
        return Value::Null;
    }
    let top = body["top_logprobs"].as_u64().unwrap_or(0) as usize;
    let content: Vec<Value> = words
        .iter()
        .map(|w| {
            let alternatives: Vec<Value> = (0..top)
                .map(|k| {
                    let token = if k == 0 {
                        w.clone()
                    } else {
                        format!("alt{k}")
                    };
                    json!({"token": token, "logprob": -0.25 - k as f64, "bytes": token.as_bytes()})
                })
                .collect();
            json!({"token": w, "logprob": -0.25, "bytes": w.as_bytes(), "top_logprobs": alternatives})
        })
        .collect();
    json!({"content": content, "refusal": null})
}

/// One `chat.completion.chunk` with one choice.
fn chunk_json(id: &str, created: u64, model: &str, delta: Value, finish: Value) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "system_fingerprint": "fp_emulated",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
}

/// The usage chunk `stream_options.include_usage` asks for.
fn usage_json(id: &str, created: u64, model: &str, usage: Value) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": created,
        "model": model, "system_fingerprint": "fp_emulated", "choices": [], "usage": usage})
}

fn event_stream(body: Body) -> Response {
    Response::builder()
        .header("content-type", "text/event-stream; charset=utf-8")
        .body(body)
        .unwrap()
}

/// `POST /v1/completions`, OpenAI's legacy text completions: `text_completion`
/// objects, whole or streamed one word per chunk (each choice in turn), then a
/// finish chunk per choice, the usage chunk when asked, and `[DONE]`.
async fn completions(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&inner, "/v1/completions", &headers, &body);
    let prompts: Vec<String> = match &body["prompt"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let n = body["n"].as_u64().unwrap_or(1) as usize;
    let echo = body["echo"] == json!(true);
    let top = body["logprobs"].as_u64();
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let (id, created) = ("cmpl-emulated123", 1_795_475_077u64);
    // Each choice's tokens: the echoed prompt (scored without a log probability,
    // as the first token of a text is), then the words of the continuation.
    let choices: Vec<Vec<(String, Option<f64>)>> = prompts
        .iter()
        .flat_map(|prompt| {
            let tail = match body["suffix"].as_str() {
                Some(suffix) => format!(" fills before {suffix}"),
                None => format!(" continues {prompt}"),
            };
            let mut tokens: Vec<(String, Option<f64>)> = Vec::new();
            if echo {
                tokens.push((prompt.clone(), None));
            }
            let most = body["max_tokens"]
                .as_u64()
                .map_or(usize::MAX, |m| m as usize);
            for word in tail.split(' ').skip(1).take(most) {
                tokens.push((format!(" {word}"), Some(-0.25)));
            }
            std::iter::repeat_n(tokens, n)
        })
        .collect();
    let logprobs = |tokens: &[(String, Option<f64>)], start: usize| -> Value {
        let Some(top) = top else { return Value::Null };
        let mut offset = start;
        let offsets: Vec<usize> = tokens
            .iter()
            .map(|(t, _)| {
                let at = offset;
                offset += t.chars().count();
                at
            })
            .collect();
        let tops: Value = if top == 0 {
            Value::Null
        } else {
            tokens
                .iter()
                .map(|(t, l)| match l {
                    None => Value::Null,
                    Some(l) => {
                        let mut alternatives = serde_json::Map::new();
                        alternatives.insert(t.clone(), json!(l));
                        for k in 1..top {
                            alternatives.insert(format!("alt{k}"), json!(l - k as f64));
                        }
                        Value::Object(alternatives)
                    }
                })
                .collect()
        };
        json!({"tokens": tokens.iter().map(|(t, _)| t).collect::<Vec<_>>(),
               "token_logprobs": tokens.iter().map(|(_, l)| l).collect::<Vec<_>>(),
               "top_logprobs": tops, "text_offset": offsets})
    };
    let prompt_tokens: u64 = prompts.iter().map(|p| p.len() as u64 / 4 + 1).sum();
    let completion_tokens: u64 = choices
        .iter()
        .map(|c| c.iter().filter(|(_, l)| l.is_some()).count() as u64)
        .sum();
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                       "total_tokens": prompt_tokens + completion_tokens});
    let object = |choices: Value| {
        json!({"id": id, "object": "text_completion", "created": created, "model": model,
               "system_fingerprint": "fp_emulated", "choices": choices})
    };
    if body["stream"] != json!(true) {
        let choices: Vec<Value> = choices
            .iter()
            .enumerate()
            .map(|(i, tokens)| {
                let text: String = tokens.iter().map(|(t, _)| t.as_str()).collect();
                json!({"text": text, "index": i, "logprobs": logprobs(tokens, 0),
                       "finish_reason": "stop"})
            })
            .collect();
        let mut answer = object(Value::Array(choices));
        answer["usage"] = usage;
        return Json(answer).into_response();
    }
    let mut events = Vec::new();
    let longest = choices.iter().map(Vec::len).max().unwrap_or(0);
    for step in 0..longest {
        for (i, tokens) in choices.iter().enumerate() {
            if let Some(token) = tokens.get(step) {
                let start: usize = tokens[..step].iter().map(|(t, _)| t.chars().count()).sum();
                events.push(object(json!([{"text": token.0, "index": i,
                    "logprobs": logprobs(std::slice::from_ref(token), start),
                    "finish_reason": null}])));
            }
        }
    }
    for i in 0..choices.len() {
        events.push(object(
            json!([{"text": "", "index": i, "logprobs": null, "finish_reason": "stop"}]),
        ));
    }
    if body["stream_options"]["include_usage"] == json!(true) {
        let mut last = object(json!([]));
        last["usage"] = usage;
        events.push(last);
    }
    let mut frames: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    frames.push_str("data: [DONE]\n\n");
    event_stream(Body::from(frames))
}

async fn embeddings(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    record(&inner, "/v1/embeddings", &headers, &body);
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => vec![],
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let x = (s.len() % 7) as f32;
            json!({"object": "embedding", "index": i, "embedding": [0.5, -0.25, x, 1.0]})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|s| s.len() as u64 / 4 + 1).sum();
    Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
    .into_response()
}
