//! Provider kind `cohere` through the whole gateway: an OpenAI-format request with
//! tools and an image goes in at the edge, reaches an emulated Cohere API v2
//! translated (checked there), and Cohere's documented answer comes back as
//! OpenAI's format, non-streamed and streamed, with usage (Cohere's billed units)
//! recorded and priced exactly; embeddings go the same way, base64-encoded at the
//! edge.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use switchyard_tests::{Shape, both_shapes, roundtrip};

/// The key the gateway sends: `api_key_env = "CARGO_PKG_NAME"`, which Cargo sets
/// for every test process, so no test mutates the environment.
const EXPECTED_KEY: &str = "switchyard-tests";
const UPSTREAM_MODEL: &str = "command-a-vision-07-2025";
const EMBED_MODEL: &str = "embed-v4.0";
const IMAGE: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const ANSWER_ID: &str = "fba98ad3-e5a1-413c-a8de-84fbf9baabf7";
const PLAN: &str = "I will search for the weather in Madrid and Brasilia.";

/// A chat answer calling two tools in parallel, as Cohere's tool-use guide shows
/// it: a tool plan, the calls, `TOOL_CALL`, billed units and processed tokens.
fn chat_answer() -> Value {
    json!({
        "id": ANSWER_ID,
        "finish_reason": "TOOL_CALL",
        "message": {
            "role": "assistant",
            "tool_plan": PLAN,
            "tool_calls": [
                {"id": "get_weather_p1t92w7gfgq7", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"Madrid\"}"}},
                {"id": "get_weather_ay6nmvjgp9vn", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\":\"Brasilia\"}"}},
            ],
        },
        "usage": {
            "billed_units": {"input_tokens": 37, "output_tokens": 28},
            "tokens": {"input_tokens": 913, "output_tokens": 83},
        },
    })
}

/// The same answer as Cohere streams it (server-sent events named by type).
fn stream_answer() -> String {
    let mut events: Vec<Value> = vec![json!({"id": ANSWER_ID, "type": "message-start", "delta": {
        "message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}})];
    for word in [
        "I will search",
        " for the weather",
        " in Madrid and Brasilia.",
    ] {
        events.push(json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": word}}}));
    }
    for (index, id, city) in [
        (0, "get_weather_p1t92w7gfgq7", "Madrid"),
        (1, "get_weather_ay6nmvjgp9vn", "Brasilia"),
    ] {
        events.push(
            json!({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": {
            "id": id, "type": "function", "function": {"name": "get_weather", "arguments": ""}}}}}),
        );
        for fragment in ["{\"location\":", format!("\"{city}\"}}").as_str()] {
            events.push(
                json!({"type": "tool-call-delta", "index": index, "delta": {"message": {
                "tool_calls": {"function": {"arguments": fragment}}}}}),
            );
        }
        events.push(json!({"type": "tool-call-end", "index": index}));
    }
    events.push(
        json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": {
        "billed_units": {"input_tokens": 37, "output_tokens": 28},
        "tokens": {"input_tokens": 913, "output_tokens": 83}}}}),
    );
    events
        .into_iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect()
}

/// An emulated Cohere API, recording each request body.
type Cohere = roundtrip::Emulator<Value>;

/// Cohere's error object.
fn cohere_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"id": "err-1", "message": message}))).into_response()
}

/// Checks what every Cohere request needs and records the body.
fn accept(
    seen: &roundtrip::Seen<Value>,
    headers: &HeaderMap,
    body: &str,
) -> Result<Value, (StatusCode, &'static str)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("authorization") != Some(&format!("Bearer {EXPECTED_KEY}")) {
        return Err((StatusCode::UNAUTHORIZED, "invalid api token"));
    }
    if header("content-type") != Some("application/json") {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid request: content-type must be application/json",
        ));
    }
    let body: Value = serde_json::from_str(body)
        .map_err(|_| (StatusCode::BAD_REQUEST, "invalid request: not JSON"))?;
    seen.lock().unwrap().push(body.clone());
    Ok(body)
}

/// `POST /v2/chat`: the documented answer, as JSON or as an event stream.
async fn chat(
    State(seen): State<roundtrip::Seen<Value>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body = match accept(&seen, &headers, &body) {
        Ok(body) => body,
        Err((status, message)) => return cohere_error(status, message),
    };
    if body["stream"] == json!(true) {
        Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(stream_answer()))
            .unwrap()
    } else {
        Json(chat_answer()).into_response()
    }
}

/// `POST /v2/embed`: float vectors by type and the billed input.
async fn embed(
    State(seen): State<roundtrip::Seen<Value>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body = match accept(&seen, &headers, &body) {
        Ok(body) => body,
        Err((status, message)) => return cohere_error(status, message),
    };
    Json(json!({
        "id": "da6e531f-54a4-4cf2-9c6a-1f6e8f3b2a10",
        "embeddings": {"float": [[0.5, -0.25], [1.0, 2.0]]},
        "texts": body["texts"],
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}},
        "response_type": "embeddings_by_type",
    }))
    .into_response()
}

fn extra_toml(cohere: &Cohere) -> String {
    format!(
        r#"
[[providers]]
name = "co"
kind = "cohere"
base_url = "{}"
api_key_env = "CARGO_PKG_NAME"

[[models]]
name = "cohere-chat"
deployments = [{{ provider = "co", model = "{UPSTREAM_MODEL}", price = {{ input_per_million = "2.50", output_per_million = "10.00" }} }}]

[[models]]
name = "cohere-embed"
deployments = [{{ provider = "co", model = "{EMBED_MODEL}", price = {{ input_per_million = "0.12" }} }}]
"#,
        cohere.url("/v2")
    )
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    }})
}

/// An OpenAI-format request with a system prompt, an image and tools.
fn openai_request() -> Value {
    json!({
        "model": "cohere-chat",
        "messages": [
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "Which cities are on this postcard? Get the weather in both."},
                {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}},
            ]},
        ],
        "tools": [weather_tool()],
        "tool_choice": "required",
        "max_tokens": 512,
        "temperature": 0.3,
        "top_p": 1,
    })
}

/// What the emulated Cohere API must receive for [`openai_request`].
fn expected_cohere_body(stream: bool) -> Value {
    json!({
        "model": UPSTREAM_MODEL,
        "messages": [
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "Which cities are on this postcard? Get the weather in both."},
                {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}},
            ]},
        ],
        "stream": stream,
        "max_tokens": 512,
        "temperature": 0.3,
        // OpenAI's top_p 1 is outside Cohere's documented 0.01..=0.99.
        "p": 0.99,
        "tools": [weather_tool()],
        "tool_choice": "REQUIRED",
    })
}

/// OpenAI's usage object for the answer: Cohere's billed units.
fn expected_usage() -> Value {
    json!({
        "prompt_tokens": 37,
        "completion_tokens": 28,
        "total_tokens": 65,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

/// $2.50 / $10 per million input and output tokens, rounded half up once.
const EXPECTED_COST_MICROS: i64 = (37 * 2_500_000 + 28 * 10_000_000 + 500_000_i64) / 1_000_000;

type Env = roundtrip::ProviderMesh<Value>;

async fn env(shape: Shape) -> Env {
    let cohere = Cohere::start(
        axum::Router::new()
            .route("/v2/chat", post(chat))
            .route("/v2/embed", post(embed)),
    )
    .await;
    Env::start(shape, cohere, extra_toml, &["cohere-*"]).await
}

both_shapes!(chat_round_trip, stream_round_trip, embeddings_round_trip);

async fn chat_round_trip(shape: Shape) {
    let env = env(shape).await;
    let (status, request_id, text) = env.post("/v1/chat/completions", &openai_request()).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(env.provider.seen(), vec![expected_cohere_body(false)]);

    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["id"], ANSWER_ID);
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        roundtrip::without_ids(body),
        json!({
            "object": "chat.completion",
            "model": UPSTREAM_MODEL,
            "choices": [{
                "index": 0,
                // The tool plan is Cohere's working, not the answer: no content.
                "message": {
                    "role": "assistant",
                    "refusal": null,
                    "content": null,
                    "tool_calls": [
                        {"id": "get_weather_p1t92w7gfgq7", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"location\":\"Madrid\"}"}},
                        {"id": "get_weather_ay6nmvjgp9vn", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"location\":\"Brasilia\"}"}},
                    ],
                },
                "finish_reason": "tool_calls",
                "logprobs": null,
            }],
            "usage": expected_usage(),
        })
    );
    assert!(!text.contains(PLAN));

    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "co", false, EXPECTED_COST_MICROS);
    assert_eq!(record.upstream_model, UPSTREAM_MODEL);
    assert_eq!(record.requested_model, "cohere-chat");
    assert_eq!((record.prompt_tokens, record.completion_tokens), (37, 28));
    env.mesh.shutdown().await;
}

async fn stream_round_trip(shape: Shape) {
    let env = env(shape).await;
    let mut request = openai_request();
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let (status, request_id, text) = env.post("/v1/chat/completions", &request).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(env.provider.seen(), vec![expected_cohere_body(true)]);

    let chunks: Vec<Value> = roundtrip::stream_chunks(&text);
    for chunk in &chunks {
        assert_eq!(chunk["id"], ANSWER_ID);
    }
    // Every chunk but the last carries `usage: null`, as OpenAI streams it.
    let chunk = |choices: Value| json!({"object": "chat.completion.chunk", "model": UPSTREAM_MODEL, "choices": choices, "usage": null});
    let delta = |d: Value| {
        chunk(json!([{"index": 0, "delta": d, "finish_reason": null, "logprobs": null}]))
    };
    let start = |index: u32, id: &str| {
        delta(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}]}),
        )
    };
    let args = |index: u32, fragment: &str| {
        delta(json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
    };
    let mut usage_chunk = chunk(json!([]));
    usage_chunk["usage"] = expected_usage();
    assert_eq!(
        chunks
            .into_iter()
            .map(roundtrip::without_ids)
            .collect::<Vec<_>>(),
        vec![
            delta(json!({"role": "assistant"})),
            start(0, "get_weather_p1t92w7gfgq7"),
            args(0, "{\"location\":"),
            args(0, "\"Madrid\"}"),
            start(1, "get_weather_ay6nmvjgp9vn"),
            args(1, "{\"location\":"),
            args(1, "\"Brasilia\"}"),
            chunk(
                json!([{"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": null}])
            ),
            usage_chunk,
        ]
    );

    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "co", true, EXPECTED_COST_MICROS);
    assert_eq!((record.prompt_tokens, record.completion_tokens), (37, 28));
    env.mesh.shutdown().await;
}

async fn embeddings_round_trip(shape: Shape) {
    use base64::Engine as _;
    let env = env(shape).await;
    let request =
        json!({"model": "cohere-embed", "input": ["one", "three"], "encoding_format": "base64"});
    let (status, request_id, text) = env.post("/v1/embeddings", &request).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        env.provider.seen(),
        vec![json!({
            "model": EMBED_MODEL,
            "texts": ["one", "three"],
            "input_type": "search_document",
            "embedding_types": ["float"],
        })]
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let b64 = |values: &[f32]| {
        let bytes: Vec<u8> = values.iter().flat_map(|f| f.to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], EMBED_MODEL);
    assert_eq!(
        body["data"],
        json!([
            {"object": "embedding", "index": 0, "embedding": b64(&[0.5, -0.25])},
            {"object": "embedding", "index": 1, "embedding": b64(&[1.0, 2.0])},
        ])
    );
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 2, "total_tokens": 2})
    );
    let record = env.mesh.wait_usage(&request_id).await;
    assert_eq!(record.operation, "embeddings");
    assert_eq!(record.provider, "co");
    assert_eq!(record.prompt_tokens, 2);
    assert!(!record.usage_estimated);
    env.mesh.shutdown().await;
}
