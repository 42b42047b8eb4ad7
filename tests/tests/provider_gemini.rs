//! Provider kind `gemini` through the whole gateway: an OpenAI-format request with
//! tools and an image goes in at the edge, reaches an emulated Google AI Gemini API
//! translated (checked there), and the documented `generateContent` /
//! `streamGenerateContent?alt=sse` answer comes back as OpenAI's format,
//! non-streamed and streamed, with usage (cached and thinking tokens included)
//! recorded and priced exactly. The tool results of the follow-up turn reach Gemini
//! as `functionResponse` parts naming their functions.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use switchyard_tests::{Shape, both_shapes, roundtrip};

/// The key the gateway sends: `api_key_env = "CARGO_PKG_NAME"`, which Cargo sets
/// for every test process, so no test mutates the environment.
const EXPECTED_KEY: &str = "switchyard-tests";
const UPSTREAM_MODEL: &str = "gemini-2.5-flash";
const IMAGE_DATA: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const RESPONSE_ID: &str = "x1nXaKbLBsW-7dcP0a_SyQk";

/// `usageMetadata` as Google reports it for a thinking model with a cache hit.
fn usage_metadata() -> Value {
    json!({
        "promptTokenCount": 1300,
        "candidatesTokenCount": 41,
        "totalTokenCount": 1391,
        "cachedContentTokenCount": 1024,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1042}, {"modality": "IMAGE", "tokenCount": 258}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
        "thoughtsTokenCount": 50,
    })
}

/// The thought signature Gemini gives with the first call.
const SIGNATURE: &str = "CrsCAVSoXO7wX3bNz2mC0e8uKk4Yf0rX";

fn function_call(city: &str) -> Value {
    json!({"functionCall": {"name": "get_weather", "args": {"city": city}}})
}

/// A `generateContent` answer that describes the image and calls two tools in
/// parallel, as the API documents it.
fn generate_answer() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "The image shows a red pixel. Checking the weather in both cities."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIGNATURE},
                function_call("Oslo"),
            ]},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": usage_metadata(),
        "modelVersion": UPSTREAM_MODEL,
        "responseId": RESPONSE_ID,
    })
}

/// The same answer as Gemini streams it: text first, the calls whole in one event,
/// usage counts on the last event only complete.
fn stream_answer() -> String {
    let event = |parts: Value, finish: Option<&str>, usage: Value| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(reason) = finish {
            candidate["finishReason"] = json!(reason);
        }
        let data = json!({
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": UPSTREAM_MODEL,
            "responseId": RESPONSE_ID,
        });
        format!("data: {data}\r\n\r\n")
    };
    let early =
        json!({"promptTokenCount": 1300, "totalTokenCount": 1300, "cachedContentTokenCount": 1024});
    [
        event(json!([{"text": "A red pixel."}]), None, early.clone()),
        event(json!([{"text": " Checking both cities."}]), None, early),
        event(
            json!([
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIGNATURE},
                function_call("Oslo"),
            ]),
            Some("STOP"),
            usage_metadata(),
        ),
    ]
    .concat()
}

/// The final answer once the tool results are in.
fn final_answer() -> Value {
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [{"text": "Paris is 18 °C, Oslo 9 °C."}]},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": {"promptTokenCount": 1400, "candidatesTokenCount": 12, "totalTokenCount": 1412},
        "modelVersion": UPSTREAM_MODEL,
        "responseId": "z2nXaMbLBsW-7dcP0a_SyQk",
    })
}

/// An emulated Gemini API, recording each call and body.
type Gemini = roundtrip::Emulator<(String, Value)>;

/// Google's error body.
fn google_error(status: StatusCode, google_status: &str, message: &str) -> Response {
    let body =
        json!({"error": {"code": status.as_u16(), "message": message, "status": google_status}});
    (status, Json(body)).into_response()
}

/// `POST /v1beta/models/{model}:{method}`: checks what Google requires (the key
/// header, JSON, `alt=sse` on streams), records the body and answers with the
/// documented format.
async fn generate(
    State(seen): State<roundtrip::Seen<(String, Value)>>,
    Path(call): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-goog-api-key") != Some(EXPECTED_KEY) {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
        );
    }
    let Some((model, method)) = call.split_once(':') else {
        return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method");
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" if query.as_deref() == Some("alt=sse") => true,
        _ => return google_error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such method"),
    };
    if model != UPSTREAM_MODEL || header("content-type") != Some("application/json") {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "unknown model or not JSON",
        );
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return google_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
        );
    };
    let answers_tools = body["contents"]
        .as_array()
        .and_then(|c| c.last())
        .is_some_and(|last| last["parts"][0].get("functionResponse").is_some());
    seen.lock().unwrap().push((method.to_string(), body));
    if stream {
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(stream_answer()))
            .unwrap()
    } else if answers_tools {
        Json(final_answer()).into_response()
    } else {
        Json(generate_answer()).into_response()
    }
}

fn extra_toml(gemini: &Gemini) -> String {
    format!(
        r#"
[[providers]]
name = "google"
kind = "gemini"
base_url = "{}"
api_key_env = "CARGO_PKG_NAME"

[[models]]
name = "gemini-chat"
deployments = [{{ provider = "google", model = "{UPSTREAM_MODEL}", price = {{ input_per_million = "0.30", output_per_million = "2.50", cached_input_per_million = "0.075" }} }}]
"#,
        gemini.url("/v1beta")
    )
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }})
}

/// An OpenAI-format request with a system prompt, an image and tools.
fn openai_request() -> Value {
    json!({
        "model": "gemini-chat",
        "messages": [
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this image? Then get the weather in Paris and Oslo."},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{IMAGE_DATA}")}},
            ]},
        ],
        "tools": [weather_tool()],
        "tool_choice": "auto",
        "max_tokens": 512,
        "temperature": 0.3,
    })
}

/// What the emulated Gemini API must receive for [`openai_request`] (streamed or
/// not: the body is the same, the URL differs).
fn expected_gemini_body() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "You are a weather assistant."}]},
        "contents": [{"role": "user", "parts": [
            {"text": "What is in this image? Then get the weather in Paris and Oslo."},
            {"inlineData": {"mimeType": "image/png", "data": IMAGE_DATA}},
        ]}],
        "tools": [{"functionDeclarations": [{
            "name": "get_weather",
            "description": "Current weather in a city",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"maxOutputTokens": 512, "temperature": 0.3},
    })
}

/// The OpenAI usage object: thinking tokens are output, billed and reported as
/// reasoning; the cache hit is part of the prompt.
fn expected_usage() -> Value {
    json!({
        "prompt_tokens": 1300,
        "completion_tokens": 91,
        "total_tokens": 1391,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 50},
    })
}

/// $0.30 / $0.075 / $2.50 per million for uncached input, cached input and output
/// (thinking included), rounded half up once.
const EXPECTED_COST_MICROS: i64 =
    (276 * 300_000 + 1024 * 75_000 + 91 * 2_500_000 + 500_000_i64) / 1_000_000;

type Env = roundtrip::ProviderMesh<(String, Value)>;

async fn env(shape: Shape) -> Env {
    let gemini =
        Gemini::start(axum::Router::new().route("/v1beta/models/{call}", post(generate))).await;
    Env::start(shape, gemini, extra_toml, &["gemini-chat"]).await
}

/// Replaces every tool-call `id` (generated per answer: Gemini sends none) with
/// `"<id>"` after checking its form; returns the ids in order.
fn take_call_ids(v: &mut Value, ids: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if o.contains_key("function")
                && let Some(Value::String(id)) = o.get_mut("id")
            {
                assert!(id.starts_with("call_") && id.len() <= 40, "{id}");
                ids.push(std::mem::replace(id, "<id>".into()));
            }
            o.values_mut().for_each(|v| take_call_ids(v, ids));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| take_call_ids(v, ids)),
        _ => {}
    }
}

both_shapes!(chat_round_trip, stream_round_trip);

async fn chat_round_trip(shape: Shape) {
    let env = env(shape).await;
    let (status, request_id, text) = env.chat(&openai_request()).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        env.provider.seen(),
        vec![("generateContent".to_string(), expected_gemini_body())]
    );

    let mut body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["id"], RESPONSE_ID);
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    let mut ids = Vec::new();
    take_call_ids(&mut body, &mut ids);
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    let calls = body["choices"][0]["message"]["tool_calls"].clone();
    // The first call carries Gemini's thought signature where Google's own
    // OpenAI-compatible API puts it; the rest is every provider's answer.
    let extra = body["choices"][0]["message"]["tool_calls"][0]
        .as_object_mut()
        .unwrap()
        .remove("extra_content");
    assert_eq!(
        extra,
        Some(json!({"google": {"thought_signature": SIGNATURE}}))
    );
    assert!(calls[1].get("extra_content").is_none());
    assert_eq!(
        roundtrip::without_ids(body),
        roundtrip::weather_answer(UPSTREAM_MODEL, ["<id>", "<id>"], expected_usage())
    );

    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "google", false, EXPECTED_COST_MICROS);
    assert_eq!(record.upstream_model, UPSTREAM_MODEL);
    assert_eq!(record.requested_model, "gemini-chat");
    assert_eq!(
        (
            record.prompt_tokens,
            record.completion_tokens,
            record.cached_prompt_tokens,
        ),
        (1300, 91, 1024)
    );

    // The caller runs both tools and answers by tool-call id; Gemini gets the
    // results as function responses naming their functions, in one turn.
    let mut follow_up = openai_request();
    let mut calls = calls;
    for (call, id) in calls.as_array_mut().unwrap().iter_mut().zip(&ids) {
        call["id"] = json!(id);
    }
    let messages = follow_up["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": calls}));
    messages.push(json!({"role": "tool", "tool_call_id": ids[1], "content": "{\"temp_c\": 9}"}));
    messages.push(json!({"role": "tool", "tool_call_id": ids[0], "content": "18 °C"}));
    let (status, _, text) = env.chat(&follow_up).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Paris is 18 °C, Oslo 9 °C."
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let (_, sent) = &env.provider.seen()[1];
    let mut expected_contents = expected_gemini_body()["contents"].clone();
    let contents = expected_contents.as_array_mut().unwrap();
    // Sent back with the call, the signature reaches Gemini on it.
    let mut paris = function_call("Paris");
    paris["thoughtSignature"] = json!(SIGNATURE);
    contents.push(json!({"role": "model", "parts": [paris, function_call("Oslo")]}));
    contents.push(json!({"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 9}}},
        {"functionResponse": {"name": "get_weather", "response": {"result": "18 °C"}}},
    ]}));
    assert_eq!(sent["contents"], Value::Array(contents.clone()));
    env.mesh.shutdown().await;
}

async fn stream_round_trip(shape: Shape) {
    let env = env(shape).await;
    let mut request = openai_request();
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let (status, request_id, text) = env.chat(&request).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        env.provider.seen(),
        vec![("streamGenerateContent".to_string(), expected_gemini_body())]
    );

    let mut chunks: Vec<Value> = roundtrip::stream_chunks(&text);
    for chunk in &chunks {
        assert_eq!(chunk["id"], RESPONSE_ID);
    }
    let mut ids = Vec::new();
    chunks.iter_mut().for_each(|c| take_call_ids(c, &mut ids));
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    // Every chunk but the last carries `usage: null`, as OpenAI streams it.
    let chunk = |choices: Value| json!({"object": "chat.completion.chunk", "model": UPSTREAM_MODEL, "choices": choices, "usage": null});
    let delta = |d: Value, finish: Value| {
        chunk(json!([{"index": 0, "delta": d, "finish_reason": finish, "logprobs": null}]))
    };
    let tool = |index: u32, city: &str| {
        json!({"index": index, "id": "<id>", "type": "function",
               "function": {"name": "get_weather", "arguments": format!("{{\"city\":\"{city}\"}}")}})
    };
    // Streamed too, the signature rides on the first call.
    let mut signed_paris = tool(0, "Paris");
    signed_paris["extra_content"] = json!({"google": {"thought_signature": SIGNATURE}});
    let mut usage_chunk = chunk(json!([]));
    usage_chunk["usage"] = expected_usage();
    assert_eq!(
        chunks
            .into_iter()
            .map(roundtrip::without_ids)
            .collect::<Vec<_>>(),
        vec![
            delta(
                json!({"role": "assistant", "content": "A red pixel."}),
                Value::Null
            ),
            delta(json!({"content": " Checking both cities."}), Value::Null),
            delta(
                json!({"tool_calls": [signed_paris, tool(1, "Oslo")]}),
                json!("tool_calls")
            ),
            usage_chunk,
        ]
    );

    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "google", true, EXPECTED_COST_MICROS);
    assert_eq!(
        (
            record.prompt_tokens,
            record.completion_tokens,
            record.cached_prompt_tokens,
        ),
        (1300, 91, 1024)
    );
    env.mesh.shutdown().await;
}
