//! Kinds `openai` and `azure-openai` through the whole gateway: an OpenAI-format
//! request with tools and an image goes in at the edge, reaches an emulated
//! provider exactly as each kind sends it (Azure's deployment URL, `api-version`
//! and `api-key`; OpenAI's bearer key and `max_completion_tokens`), and the answer
//! — two parallel tool calls — comes back unchanged, non-streamed and streamed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde_json::{Value, json};
use switchyard_tests::{Mesh, Shape, Upstream, both_shapes};

/// The key the gateway sends: `api_key_env = "CARGO_PKG_NAME"`, set by Cargo for
/// every test process, so no test mutates the environment.
const KEY: &str = "switchyard-tests";
const IMAGE: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Value,
}

fn tool_calls() -> Value {
    json!([
        {"id": "call_paris", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_oslo", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}
    ])
}

/// OpenAI's documented chat completion answer calling two tools.
fn answer(model: &str) -> Value {
    json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": null, "refusal": null,
                        "tool_calls": tool_calls(), "annotations": []},
            "logprobs": null,
            "finish_reason": "tool_calls"
        }],
        "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160,
                  "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default",
        "system_fingerprint": "fp_f9f4fb6dbf"
    })
}

/// The same answer as OpenAI streams it: each call's id and name first, then its
/// arguments in fragments, then the finish and a usage chunk.
fn stream(model: &str) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-B9MHD", "object": "chat.completion.chunk", "created": 1741570283,
               "model": model, "system_fingerprint": "fp_f9f4fb6dbf",
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": null}),
        Value::Null,
    )];
    for (i, (id, city)) in [("call_paris", "Paris"), ("call_oslo", "Oslo")]
        .iter()
        .enumerate()
    {
        events.push(chunk(
            json!({"tool_calls": [{"index": i, "id": id, "type": "function",
                   "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ));
        for part in ["{\"city\":", &format!("\"{city}\"}}")] {
            events.push(chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": part}}]}),
                Value::Null,
            ));
        }
    }
    events.push(chunk(json!({}), json!("tool_calls")));
    events.push(
        json!({"id": "chatcmpl-B9MHD", "object": "chat.completion.chunk",
        "created": 1741570283, "model": model, "choices": [],
        "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160,
                  "prompt_tokens_details": {"cached_tokens": 64}}}),
    );
    let mut text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    text.push_str("data: [DONE]\n\n");
    text
}

/// An emulated OpenAI / Azure OpenAI endpoint recording what it was sent.
async fn emulator() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let state = state.clone();
        async move {
            let body: Value = serde_json::from_slice(&body).unwrap();
            let model = body["model"]
                .as_str()
                .unwrap_or("gpt-4o-2024-08-06")
                .to_string();
            let streamed = body["stream"] == json!(true);
            state.lock().unwrap().push(Seen {
                path: uri.path().to_string(),
                query: uri.query().map(str::to_string),
                headers,
                body,
            });
            if streamed {
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from(stream(&model)))
                    .unwrap()
            } else {
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from(answer(&model).to_string()))
                    .unwrap()
            }
        }
    });
    let addr = switchyard_tests::roundtrip::serve(app).await;
    (format!("http://{addr}"), seen)
}

fn request(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "max_tokens": 300,
        "messages": [
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this image, and the weather in Paris and Oslo?"},
                {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}}
            ]}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]}}}],
        "parallel_tool_calls": true
    })
}

/// What every kind must send upstream for `request`, whatever its URL and key.
fn assert_translated(seen: &Seen) {
    let body = &seen.body;
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are a weather assistant."})
    );
    assert_eq!(body["messages"][1]["content"][1]["image_url"]["url"], IMAGE);
    assert_eq!(
        body["messages"][1]["content"][1]["image_url"]["detail"],
        "low"
    );
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"],
        json!(["city"])
    );
    assert_eq!(body["max_completion_tokens"], 300);
    assert!(body.get("max_tokens").is_none());
}

async fn round_trip(shape: Shape) {
    let upstream = Upstream::start().await;
    let (base, seen) = emulator().await;
    let extra = format!(
        r#"
[[providers]]
name = "openai-direct"
kind = "openai"
base_url = "{base}/v1"
api_key_env = "CARGO_PKG_NAME"

[[providers]]
name = "azure-east"
kind = "azure-openai"
base_url = "{base}"
api_key_env = "CARGO_PKG_NAME"

[[models]]
name = "gpt-direct"
deployments = [{{ provider = "openai-direct", model = "gpt-4o-2024-08-06" }}]

[[models]]
name = "gpt-azure"
deployments = [{{ provider = "azure-east", model = "gpt4o-deploy", price = {{ input_per_million = "2.50", output_per_million = "10" }} }}]
"#
    );
    let mesh = Mesh::start_with(shape, &upstream.base_url(), &extra).await;
    let (key, _) = mesh.create_key("acme", &[]).await;
    let http = reqwest::Client::new();
    for model in ["gpt-direct", "gpt-azure"] {
        let reply: Value = http
            .post(format!("{}/v1/chat/completions", mesh.base_url()))
            .bearer_auth(&key)
            .json(&request(model, false))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["object"], "chat.completion", "{reply}");
        assert_eq!(reply["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(reply["choices"][0]["message"]["tool_calls"], tool_calls());
        assert_eq!(reply["usage"]["prompt_tokens"], 120);
        assert_eq!(reply["usage"]["prompt_tokens_details"]["cached_tokens"], 64);

        let text = http
            .post(format!("{}/v1/chat/completions", mesh.base_url()))
            .bearer_auth(&key)
            .json(&request(model, true))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let chunks: Vec<Value> = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        // Reassemble the streamed calls as a client does: by index.
        let mut calls: Vec<(String, String, String)> = Vec::new();
        for delta in chunks
            .iter()
            .flat_map(|c| c["choices"].as_array().cloned().unwrap_or_default())
        {
            for call in delta["delta"]["tool_calls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let i = call["index"].as_u64().unwrap() as usize;
                if calls.len() <= i {
                    calls.resize(i + 1, Default::default());
                }
                if let Some(id) = call["id"].as_str() {
                    calls[i].0 = id.into();
                }
                if let Some(name) = call["function"]["name"].as_str() {
                    calls[i].1 = name.into();
                }
                if let Some(args) = call["function"]["arguments"].as_str() {
                    calls[i].2.push_str(args);
                }
            }
        }
        assert_eq!(
            calls,
            vec![
                (
                    "call_paris".into(),
                    "get_weather".into(),
                    "{\"city\":\"Paris\"}".into()
                ),
                (
                    "call_oslo".into(),
                    "get_weather".into(),
                    "{\"city\":\"Oslo\"}".into()
                ),
            ]
        );
        assert!(text.trim_end().ends_with("data: [DONE]"));
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    // kind openai: OpenAI's path and bearer key.
    for s in &seen[..2] {
        assert_eq!(s.path, "/v1/chat/completions");
        assert_eq!(s.headers["authorization"], format!("Bearer {KEY}").as_str());
        assert_eq!(s.body["model"], "gpt-4o-2024-08-06");
        assert_translated(s);
    }
    // kind azure-openai: the deployment in the path, api-version, api-key.
    for s in &seen[2..] {
        assert_eq!(s.path, "/openai/deployments/gpt4o-deploy/chat/completions");
        assert_eq!(s.query.as_deref(), Some("api-version=2024-10-21"));
        assert_eq!(s.headers["api-key"], KEY);
        assert!(!s.headers.contains_key("authorization"));
        assert_translated(s);
    }
    assert_eq!(
        seen[1].body["stream_options"],
        json!({"include_usage": true})
    );
    mesh.shutdown().await;
}

both_shapes!(round_trip);
