//! Provider kind `anthropic` through the whole gateway: an OpenAI-format request with
//! tools and an image goes in at the edge, reaches an emulated Anthropic Messages
//! API translated (checked there), and the documented Messages answer comes back
//! as OpenAI's format, non-streamed and streamed, with usage (cache reads and writes
//! included) recorded and priced exactly. With extended thinking on, Anthropic's
//! own format at the edge: thinking blocks come back signed, and the next turn
//! must send them back (the emulator refuses it otherwise, as Anthropic does).
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
const UPSTREAM_MODEL: &str = "claude-sonnet-4-20250514";
const IMAGE: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// A Messages answer that calls two tools in parallel, as the API documents it.
fn message_answer() -> Value {
    json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": UPSTREAM_MODEL,
        "content": [
            {"type": "text", "text": "The image shows a red pixel. Checking the weather in both cities."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_01B19r91rw91mr928946mr0", "name": "get_weather", "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": null,
        "usage": {
            "input_tokens": 410,
            "cache_creation_input_tokens": 1200,
            "cache_read_input_tokens": 3000,
            "output_tokens": 96,
            "service_tier": "standard"
        }
    })
}

/// The same answer as Anthropic streams it.
fn stream_answer() -> String {
    let events: Vec<(&str, Value)> = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
                "content": [], "model": UPSTREAM_MODEL, "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 410, "cache_creation_input_tokens": 1200,
                          "cache_read_input_tokens": 3000, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "A red pixel."}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {
                "type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Paris\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {
                "type": "tool_use", "id": "toolu_01B19r91rw91mr928946mr0", "name": "get_weather", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Oslo\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 2}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                   "usage": {"output_tokens": 96}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    events
        .into_iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// An emulated Anthropic API, recording each request body.
type Anthropic = roundtrip::Emulator<Value>;

fn anthropic_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"type": "error", "error": {"type": kind, "message": message}})),
    )
        .into_response()
}

/// `POST /v1/messages`: checks the headers Anthropic requires, records the body and
/// answers with the documented format.
async fn messages(
    State(seen): State<roundtrip::Seen<Value>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-api-key") != Some(EXPECTED_KEY) {
        return anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        );
    }
    if header("anthropic-version") != Some("2023-06-01")
        || header("content-type") != Some("application/json")
    {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version and content-type headers are required",
        );
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "body is not JSON",
        );
    };
    let stream = body["stream"] == json!(true);
    if body["thinking"]["type"] == "enabled" {
        return thinking_answer(&seen, body, stream);
    }
    seen.lock().unwrap().push(body);
    if stream {
        Response::builder()
            .header("content-type", "text/event-stream; charset=utf-8")
            .body(Body::from(stream_answer()))
            .unwrap()
    } else {
        Json(message_answer()).into_response()
    }
}

/// The signature the emulated API signs its thinking with.
const SIGNATURE: &str = "EqoBCkgIARABGAIiQL2emulated";

/// Extended thinking, as Anthropic enforces it: every assistant turn with tool use
/// must start with its thinking block, signed as it was given. The answer thinks,
/// then calls `get_weather` or, after its result, answers.
fn thinking_answer(seen: &roundtrip::Seen<Value>, body: Value, stream: bool) -> Response {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    for (i, m) in messages.iter().enumerate() {
        let Some(blocks) = m["content"].as_array() else {
            continue;
        };
        let uses_tools = blocks.iter().any(|b| b["type"] == "tool_use");
        if m["role"] != "assistant" || !uses_tools {
            continue;
        }
        let first = &blocks[0];
        if first["type"] != "thinking" && first["type"] != "redacted_thinking" {
            return anthropic_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!(
                    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, \
                     but found `{}`. When `thinking` is enabled, a final `assistant` message \
                     must start with a thinking block.",
                    first["type"].as_str().unwrap_or_default()
                ),
            );
        }
        if first["type"] == "thinking" && first["signature"] != SIGNATURE {
            return anthropic_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("messages.{i}.content.0: Invalid `signature` in `thinking` block"),
            );
        }
    }
    let answered = messages.last().is_some_and(|m| {
        m["content"]
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b["type"] == "tool_result"))
    });
    seen.lock().unwrap().push(body);
    let (thought, last) = if answered {
        (
            "The tool answered; report it.",
            json!({"type": "text", "text": "It is 18C in Paris."}),
        )
    } else {
        (
            "I need the weather tool.",
            json!({"type": "tool_use", "id": "toolu_think1", "name": "get_weather", "input": {"city": "Paris"}}),
        )
    };
    let stop = if answered { "end_turn" } else { "tool_use" };
    let usage = json!({"input_tokens": 50, "output_tokens": 30});
    if !stream {
        return Json(json!({
            "id": "msg_think", "type": "message", "role": "assistant", "model": UPSTREAM_MODEL,
            "content": [{"type": "thinking", "thinking": thought, "signature": SIGNATURE}, last],
            "stop_reason": stop, "stop_sequence": null, "usage": usage
        }))
        .into_response();
    }
    let mut last_start = last.clone();
    let last_delta = if answered {
        last_start["text"] = json!("");
        json!({"type": "text_delta", "text": last["text"]})
    } else {
        last_start["input"] = json!({});
        json!({"type": "input_json_delta", "partial_json": last["input"].to_string()})
    };
    let events: Vec<(&str, Value)> = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_think",
            "type": "message", "role": "assistant", "content": [], "model": UPSTREAM_MODEL,
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 50, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": thought}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": last_start}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": last_delta}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 30}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let body: String = events
        .into_iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect();
    Response::builder()
        .header("content-type", "text/event-stream; charset=utf-8")
        .body(Body::from(body))
        .unwrap()
}

/// What `POST /v1/messages/count_tokens` takes; anything else Anthropic refuses
/// ("Extra inputs are not permitted").
const COUNT_KEYS: [&str; 7] = [
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "mcp_servers",
];

/// The count the emulated API answers.
const COUNTED: u64 = 2095;

/// `POST /v1/messages/count_tokens`: the same headers as `messages`, only the
/// documented input members, and the documented answer.
async fn count_tokens(
    State(seen): State<roundtrip::Seen<Value>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(EXPECTED_KEY) {
        return anthropic_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key",
        );
    }
    if let Some(extra) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !COUNT_KEYS.contains(&k.as_str())))
    {
        return anthropic_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &format!("{extra}: Extra inputs are not permitted"),
        );
    }
    seen.lock().unwrap().push(body);
    Json(json!({"input_tokens": COUNTED})).into_response()
}

fn extra_toml(anthropic: &Anthropic) -> String {
    format!(
        r#"
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "{}"
api_key_env = "CARGO_PKG_NAME"

[[models]]
name = "claude-chat"
deployments = [{{ provider = "claude", model = "{UPSTREAM_MODEL}", price = {{ input_per_million = "3", output_per_million = "15", cached_input_per_million = "0.30", cache_write_per_million = "3.75" }} }}]
"#,
        anthropic.url("/v1")
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
        "model": "claude-chat",
        "messages": [
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this image? Then get the weather in Paris and Oslo."},
                {"type": "image_url", "image_url": {"url": IMAGE}},
            ]},
        ],
        "tools": [weather_tool()],
        "tool_choice": "auto",
        "max_tokens": 512,
        "temperature": 0.3,
    })
}

/// What the emulated Anthropic API must receive for [`openai_request`].
fn expected_anthropic_body(stream: bool) -> Value {
    let mut body = json!({
        "model": UPSTREAM_MODEL,
        "system": "You are a weather assistant.",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image? Then get the weather in Paris and Oslo."},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                "data": IMAGE.trim_start_matches("data:image/png;base64,")}},
        ]}],
        "max_tokens": 512,
        "temperature": 0.3,
        "tools": [{
            "name": "get_weather",
            "description": "Current weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }],
        "tool_choice": {"type": "auto"},
    });
    if stream {
        body["stream"] = json!(true);
    }
    body
}

/// The OpenAI usage object for the answer: prompt = 410 + 3000 cache reads + 1200
/// cache writes.
fn expected_usage() -> Value {
    json!({
        "prompt_tokens": 4610,
        "completion_tokens": 96,
        "total_tokens": 4706,
        "prompt_tokens_details": {"cached_tokens": 3000},
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

/// $3 / $0.30 / $3.75 / $15 per million for uncached input, cache reads, cache
/// writes and output, rounded half up once.
const EXPECTED_COST_MICROS: i64 =
    (410 * 3_000_000 + 3000 * 300_000 + 1200 * 3_750_000 + 96 * 15_000_000 + 500_000_i64)
        / 1_000_000;

type Env = roundtrip::ProviderMesh<Value>;

async fn env(shape: Shape) -> Env {
    let anthropic = Anthropic::start(
        axum::Router::new()
            .route("/v1/messages", post(messages))
            .route("/v1/messages/count_tokens", post(count_tokens)),
    )
    .await;
    Env::start(shape, anthropic, extra_toml, &["claude-chat"]).await
}

both_shapes!(
    chat_round_trip,
    text_completion_round_trip,
    stream_round_trip,
    count_tokens_round_trip,
    thinking_round_trip,
    responses_thinking_round_trip,
    responses_thinking_continued_by_id,
    prompt_cache_breakpoints_reach_anthropic
);

/// `cache_control` breakpoints as Claude Code places them (the system prompt's
/// last block, the last tool, the conversation's last block, a tool result)
/// reach Anthropic where they were, from the Anthropic route and from an
/// OpenAI-format part alike: without them Anthropic caches nothing, and every
/// turn of an agent loop pays full price for the same prefix.
async fn prompt_cache_breakpoints_reach_anthropic(shape: Shape) {
    let env = env(shape).await;
    let ephemeral = json!({"type": "ephemeral"});
    let hour = json!({"type": "ephemeral", "ttl": "1h"});
    let request = json!({
        "model": "claude-chat", "max_tokens": 256,
        "system": [
            {"type": "text", "text": "You are a coding agent."},
            {"type": "text", "text": "The repository is large.", "cache_control": hour}
        ],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}, "cache_control": ephemeral}],
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_c1", "name": "get_weather", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_c1", "content": "18C", "cache_control": ephemeral},
                {"type": "text", "text": "and tomorrow?", "cache_control": ephemeral}
            ]}
        ]
    });
    let (status, _, text) = env.post("/v1/messages", &request).await;
    assert_eq!(status, 200, "{text}");
    let sent = env.provider.seen().pop().unwrap();
    assert_eq!(
        sent["system"],
        json!([
            {"type": "text", "text": "You are a coding agent."},
            {"type": "text", "text": "The repository is large.", "cache_control": hour}
        ])
    );
    assert_eq!(sent["tools"][0]["cache_control"], ephemeral);
    let last = &sent["messages"][2]["content"];
    assert_eq!(last[0]["type"], "tool_result");
    assert_eq!(last[0]["cache_control"], ephemeral);
    assert_eq!(
        last[1],
        json!({"type": "text", "text": "and tomorrow?", "cache_control": ephemeral})
    );

    let openai = json!({"model": "claude-chat", "messages": [
        {"role": "system", "content": [{"type": "text", "text": "Be brief.", "cache_control": ephemeral}]},
        {"role": "user", "content": "hi"}
    ]});
    let (status, _, text) = env.chat(&openai).await;
    assert_eq!(status, 200, "{text}");
    let sent = env.provider.seen().pop().unwrap();
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "Be brief.", "cache_control": ephemeral}])
    );
    env.mesh.shutdown().await;
}

/// The same loop through the OpenAI Responses API, thinking asked for the
/// Responses way (`reasoning.effort`, a 1,024-token budget on top of the answer's
/// 2,048): the thinking block is a reasoning item whose `encrypted_content`
/// (asked for) carries the signature, and sent back before the function call it
/// restores the signed block.
async fn responses_thinking_round_trip(shape: Shape) {
    let env = env(shape).await;
    let tools = json!([{"type": "function", "name": "get_weather", "strict": false,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let request = |input: Value| {
        json!({"model": "claude-chat", "max_output_tokens": 2048, "input": input, "tools": tools,
            "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"}})
    };
    let question = json!({"role": "user", "content": "Weather in Paris?"});
    let (status, _, text) = env.post("/v1/responses", &request(json!([question]))).await;
    assert_eq!(status, 200, "{text}");
    let first: Value = serde_json::from_str(&text).unwrap();
    let output = first["output"].as_array().unwrap();
    assert_eq!(output[0]["type"], "reasoning", "{text}");
    assert_eq!(output[0]["content"][0]["text"], "I need the weather tool.");
    assert_eq!(output[0]["encrypted_content"], SIGNATURE);
    assert_eq!(output[1]["type"], "function_call");

    let mut input = vec![question];
    input.extend(output.iter().cloned());
    input.push(
        json!({"type": "function_call_output", "call_id": output[1]["call_id"], "output": "18C"}),
    );
    let (status, _, text) = env
        .post("/v1/responses", &request(Value::Array(input)))
        .await;
    assert_eq!(status, 200, "{text}");
    let second: Value = serde_json::from_str(&text).unwrap();
    let message = second["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "message")
        .unwrap();
    assert_eq!(message["content"][0]["text"], "It is 18C in Paris.");
    let sent = env.provider.seen().pop().unwrap();
    assert_eq!(sent["messages"][1]["content"][0]["signature"], SIGNATURE);
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(sent["max_tokens"], 2048 + 1024);
    env.mesh.shutdown().await;
}

/// The same loop continued by `previous_response_id`, the caller sending only
/// the tool's result and never asking for `encrypted_content`: the stored
/// response keeps the signature, so Anthropic gets the signed block back.
async fn responses_thinking_continued_by_id(shape: Shape) {
    let env = env(shape).await;
    let tools = json!([{"type": "function", "name": "get_weather", "strict": false,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let first = json!({"model": "claude-chat", "max_output_tokens": 2048, "tools": tools,
        "reasoning": {"effort": "low"}, "input": "Weather in Paris?"});
    let (status, _, text) = env.post("/v1/responses", &first).await;
    assert_eq!(status, 200, "{text}");
    let first: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(first["output"][0]["type"], "reasoning", "{text}");
    assert!(
        first["output"][0].get("encrypted_content").is_none(),
        "{text}"
    );
    let call = &first["output"][1];
    let next = json!({"model": "claude-chat", "max_output_tokens": 2048, "tools": tools,
        "reasoning": {"effort": "low"}, "previous_response_id": first["id"],
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "18C"}]});
    let (status, _, text) = env.post("/v1/responses", &next).await;
    assert_eq!(status, 200, "{text}");
    let second: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(second["previous_response_id"], first["id"]);
    let sent = env.provider.seen().pop().unwrap();
    assert_eq!(sent["messages"][0]["content"], "Weather in Paris?");
    assert_eq!(sent["messages"][1]["content"][0]["signature"], SIGNATURE);
    assert_eq!(sent["messages"][1]["content"][1]["type"], "tool_use");
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
    env.mesh.shutdown().await;
}

/// Claude with extended thinking through the Anthropic route, as Claude Code
/// drives it: the streamed first turn's thinking block (text and signature)
/// reaches the caller, who sends it back with the tool result; Anthropic gets it
/// first in the assistant turn, signed, and answers. Left out, Anthropic's 400
/// comes back in Anthropic's shape.
async fn thinking_round_trip(shape: Shape) {
    let env = env(shape).await;
    let tool = json!({"name": "get_weather", "description": "Current weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}});
    let question = json!({"role": "user", "content": "Weather in Paris?"});
    let first = json!({"model": "claude-chat", "max_tokens": 2048, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [tool], "messages": [question]});
    let (status, _, text) = env.post("/v1/messages", &first).await;
    assert_eq!(status, 200, "{text}");
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| {
            e.split_once("\ndata: ")
                .map(|(_, d)| serde_json::from_str(d).unwrap())
        })
        .collect();
    let mut thinking = String::new();
    let mut signature = String::new();
    for e in &events {
        match e["delta"]["type"].as_str() {
            Some("thinking_delta") => thinking.push_str(e["delta"]["thinking"].as_str().unwrap()),
            Some("signature_delta") => {
                signature.push_str(e["delta"]["signature"].as_str().unwrap())
            }
            _ => {}
        }
    }
    assert_eq!(thinking, "I need the weather tool.");
    assert_eq!(signature, SIGNATURE);
    assert_eq!(events[2]["content_block"]["type"], "thinking", "{text}");
    let tool_start = events
        .iter()
        .find(|e| e["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    let call_id = tool_start["content_block"]["id"].as_str().unwrap();

    let turn = |with_thinking: bool| {
        let mut assistant = vec![
            json!({"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}}),
        ];
        if with_thinking {
            assistant.insert(
                0,
                json!({"type": "thinking", "thinking": thinking, "signature": signature}),
            );
        }
        json!({"model": "claude-chat", "max_tokens": 2048,
            "thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": [tool],
            "messages": [question, {"role": "assistant", "content": assistant},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "18C"}]}]})
    };
    let (status, request_id, text) = env.post("/v1/messages", &turn(true)).await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["content"][0]["type"], "thinking");
    assert_eq!(answer["content"][0]["signature"], SIGNATURE);
    assert_eq!(
        answer["content"][1],
        json!({"type": "text", "text": "It is 18C in Paris."})
    );
    let sent = env.provider.seen().pop().unwrap();
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "I need the weather tool.", "signature": SIGNATURE})
    );
    env.mesh.wait_usage(&request_id).await;

    let (status, _, text) = env.post("/v1/messages", &turn(false)).await;
    assert_eq!(status, 400, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    env.mesh.shutdown().await;
}

/// An Anthropic-format count at the edge reaches Anthropic's counting endpoint
/// with the input only, answers its count, and bills and records nothing.
async fn count_tokens_round_trip(shape: Shape) {
    let env = env(shape).await;
    let request = json!({
        "model": "claude-chat",
        "system": "You are a weather assistant.",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image? Then get the weather in Paris and Oslo."},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                "data": IMAGE.trim_start_matches("data:image/png;base64,")}},
        ]}],
        "tools": [{
            "name": "get_weather",
            "description": "Current weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }],
        // Given by some clients anyway; counting does not take it.
        "max_tokens": 512,
    });
    let (status, count_id, text) = env.post("/v1/messages/count_tokens", &request).await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body, json!({"input_tokens": COUNTED}));
    let mut expected = expected_anthropic_body(false);
    for generation in ["max_tokens", "temperature", "tool_choice"] {
        expected.as_object_mut().unwrap().remove(generation);
    }
    assert_eq!(env.provider.seen(), vec![expected]);

    // A count records no usage: the ledger has the chat sent after it, not the count.
    let (status, chat_id, text) = env.chat(&openai_request()).await;
    assert_eq!(status, 200, "{text}");
    env.mesh.wait_usage(&chat_id).await;
    assert!(env.mesh.usage(&count_id).await.is_none());
    env.mesh.shutdown().await;
}

async fn chat_round_trip(shape: Shape) {
    let env = env(shape).await;
    let (status, request_id, text) = env.chat(&openai_request()).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(env.provider.seen(), vec![expected_anthropic_body(false)]);

    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["id"], "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        roundtrip::without_ids(body),
        roundtrip::weather_answer(
            UPSTREAM_MODEL,
            [
                "toolu_01A09q90qw90lq917835lq9",
                "toolu_01B19r91rw91mr928946mr0"
            ],
            expected_usage()
        )
    );

    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "claude", false, EXPECTED_COST_MICROS);
    assert_eq!(record.upstream_model, UPSTREAM_MODEL);
    assert_eq!(record.requested_model, "claude-chat");
    assert_eq!(
        (
            record.prompt_tokens,
            record.completion_tokens,
            record.cached_prompt_tokens,
            record.cache_write_prompt_tokens,
        ),
        (4610, 96, 3000, 1200)
    );
    env.mesh.shutdown().await;
}

/// A legacy text completion (`POST /v1/completions`) of a Claude model goes over
/// the Messages API (the prompt as the user message) and comes back as a
/// `text_completion` object, billed once at the model's prices; `suffix`, which
/// only a completions API can serve, is refused before any call.
async fn text_completion_round_trip(shape: Shape) {
    let env = env(shape).await;
    let (status, request_id, text) = env
        .post(
            "/v1/completions",
            &json!({"model": "claude-chat", "prompt": "Say hi", "max_tokens": 50, "echo": true}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let seen = env.provider.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["max_tokens"], 50);
    let messages = seen[0]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{}", seen[0]);
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"], "Say hi", "{}", seen[0]);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "text_completion");
    assert_eq!(
        body["choices"][0]["text"],
        "Say hiThe image shows a red pixel. Checking the weather in both cities."
    );
    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "claude", false, EXPECTED_COST_MICROS);
    assert_eq!(record.requested_model, "claude-chat");

    let (status, _, text) = env
        .post(
            "/v1/completions",
            &json!({"model": "claude-chat", "prompt": "def f():", "suffix": "return 1"}),
        )
        .await;
    assert_eq!(status, 400, "{text}");
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(error["error"]["param"], "suffix", "{error}");
    assert_eq!(env.provider.seen().len(), 1);
    env.mesh.shutdown().await;
}

async fn stream_round_trip(shape: Shape) {
    let env = env(shape).await;
    let mut request = openai_request();
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let (status, request_id, text) = env.chat(&request).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(env.provider.seen(), vec![expected_anthropic_body(true)]);

    let chunks: Vec<Value> = roundtrip::stream_chunks(&text);
    for chunk in &chunks {
        assert_eq!(chunk["id"], "msg_01XFDUDYJgAACzvnptvVoYEL");
    }
    // Every chunk but the last carries `usage: null`, as OpenAI streams it.
    let chunk = |choices: Value| json!({"object": "chat.completion.chunk", "model": UPSTREAM_MODEL, "choices": choices, "usage": null});
    let delta = |d: Value| {
        chunk(json!([{"index": 0, "delta": d, "finish_reason": null, "logprobs": null}]))
    };
    let tool = |index: u32, id: &str, name: &str, args: &str| {
        let mut call = json!({"index": index, "function": {"arguments": args}});
        if !id.is_empty() {
            call["id"] = json!(id);
            call["type"] = json!("function");
            call["function"]["name"] = json!(name);
        }
        delta(json!({"tool_calls": [call]}))
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
            delta(json!({"content": "A red pixel."})),
            tool(0, "toolu_01A09q90qw90lq917835lq9", "get_weather", ""),
            tool(0, "", "", "{\"city\": \"Paris\"}"),
            tool(1, "toolu_01B19r91rw91mr928946mr0", "get_weather", ""),
            tool(1, "", "", "{\"city\": \"Oslo\"}"),
            chunk(
                json!([{"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": null}])
            ),
            usage_chunk,
        ]
    );

    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "claude", true, EXPECTED_COST_MICROS);
    assert_eq!(
        (
            record.prompt_tokens,
            record.completion_tokens,
            record.cached_prompt_tokens,
            record.cache_write_prompt_tokens,
        ),
        (4610, 96, 3000, 1200)
    );
    env.mesh.shutdown().await;
}
