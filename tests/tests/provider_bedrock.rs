//! Provider kind `bedrock` through the whole gateway: an OpenAI-format request with
//! tools and a base64 image goes in at the edge, reaches an emulated Bedrock runtime
//! as a SigV4-signed Converse / ConverseStream request (the emulator recomputes the
//! signature and checks the body), and the documented answer — JSON, or the binary
//! event stream — comes back in OpenAI's format, with usage (cache reads and writes
//! included) recorded and priced from the configured price.
//!
//! Credentials: `aws_access_key_id_env = "CARGO_PKG_NAME"` and
//! `aws_secret_access_key_env = "CARGO_MANIFEST_DIR"`, variables Cargo sets for every
//! test process, so no test mutates the environment (`set_var` is unsafe in edition
//! 2024, and the workspace forbids unsafe code). Their values are no secrets, which
//! suits an emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_tests::{Shape, both_shapes, roundtrip};

const REGION: &str = "eu-west-1";
const UPSTREAM_MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const MODEL_PATH: &str = "anthropic.claude-3-5-sonnet-20240620-v1%3A0";
const IMAGE_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// The access key id and secret the gateway signs with (see the module docs).
fn credentials() -> (String, String) {
    (
        std::env::var("CARGO_PKG_NAME").unwrap(),
        std::env::var("CARGO_MANIFEST_DIR").unwrap(),
    )
}

/// A Converse answer calling two tools in parallel, as the API documents it.
fn converse_answer() -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": [
            {"text": "The image shows a red pixel. Checking the weather in both cities."},
            {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "tooluse_Yh2oAE1pR4eWTwXx3LQk1A", "name": "get_weather", "input": {"city": "Oslo"}}},
        ]}},
        "stopReason": "tool_use",
        "usage": {
            "inputTokens": 410,
            "outputTokens": 96,
            "totalTokens": 4706,
            "cacheReadInputTokens": 3000,
            "cacheWriteInputTokens": 1200,
        },
        "metrics": {"latencyMs": 1532},
    })
}

fn event(kind: &str, payload: Value) -> Vec<u8> {
    let message = Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(kind.to_string().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ));
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out
}

/// The same answer as ConverseStream sends it (payloads padded with `p`, as AWS does).
fn stream_answer() -> Vec<u8> {
    [
        event(
            "messageStart",
            json!({"p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR", "role": "assistant"}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "A red pixel."}, "p": "abcdefghijkl"}),
        ),
        event(
            "contentBlockStop",
            json!({"contentBlockIndex": 0, "p": "abcdefghijklmnopqrstuvwxyz"}),
        ),
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "p": "abcdefghij", "start": {"toolUse": {
                "name": "get_weather", "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\": \"Paris\"}"}}, "p": "abcdef"}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 1, "p": "abc"})),
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 2, "p": "abcdefghijklmnop", "start": {"toolUse": {
                "name": "get_weather", "toolUseId": "tooluse_Yh2oAE1pR4eWTwXx3LQk1A"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\": \"Oslo\"}"}}, "p": "abcdefgh"}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 2, "p": "abcde"})),
        event(
            "messageStop",
            json!({"p": "abcdefghijklmnopqrstuvwxyzABCDEFGH", "stopReason": "tool_use"}),
        ),
        event(
            "metadata",
            json!({"metrics": {"latencyMs": 1610}, "p": "abcdefghijklmnopqrstuvwx", "usage": {
                "cacheReadInputTokens": 3000, "cacheWriteInputTokens": 1200,
                "inputTokens": 410, "outputTokens": 96, "totalTokens": 4706}}),
        ),
    ]
    .concat()
}

/// An emulated Bedrock runtime, recording each request path and body.
type Bedrock = roundtrip::Emulator<(String, Value)>;

fn aws_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [(
            "x-amzn-errortype",
            format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        )],
        Json(json!({ "message": message })),
    )
        .into_response()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut block = if key.len() > 64 {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    block.resize(64, 0);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn uri_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Why a request's SigV4 signature is not valid, recomputed as AWS does it.
fn signature_problem(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (key_id, secret) = credentials();
    let authorization = header("authorization")?;
    let date_time = header("x-amz-date")?;
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256 Credential=")?;
    let (credential, rest) = rest.split_once(", SignedHeaders=")?;
    let (signed_headers, signature) = rest.split_once(", Signature=")?;
    let date = date_time.get(..8)?;
    let scope = format!("{date}/{REGION}/bedrock/aws4_request");
    if credential != format!("{key_id}/{scope}") {
        return Some(format!("credential scope {credential}"));
    }
    for required in ["host", "x-amz-date", "content-type"] {
        if !signed_headers.split(';').any(|h| h == required) {
            return Some(format!("{required} is not signed"));
        }
    }
    let canonical_headers: Option<String> = signed_headers
        .split(';')
        .map(|h| Some(format!("{h}:{}\n", header(h)?.trim())))
        .collect();
    let canonical_uri: Vec<String> = path.split('/').map(uri_encode).collect();
    let canonical = format!(
        "{method}\n{}\n\n{}\n{signed_headers}\n{}",
        canonical_uri.join("/"),
        canonical_headers?,
        hex::encode(Sha256::digest(body))
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [REGION, "bedrock", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex::encode(hmac(&key, to_sign.as_bytes()));
    (signature != expected).then(|| "signature mismatch".to_string())
}

/// Bedrock runtime: `POST /model/{modelId}/converse` and `/converse-stream`, signed.
async fn runtime(
    State(seen): State<roundtrip::Seen<(String, Value)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("authorization").is_none() {
        return aws_error(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        );
    }
    if let Some(problem) = signature_problem(&method, uri.path(), &headers, &body) {
        return aws_error(
            StatusCode::FORBIDDEN,
            "InvalidSignatureException",
            &format!("The request signature we calculated does not match: {problem}"),
        );
    }
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "body is not JSON",
        );
    };
    let path = uri.path().to_string();
    seen.lock().unwrap().push((path.clone(), json));
    if path == format!("/model/{MODEL_PATH}/converse") {
        Json(converse_answer()).into_response()
    } else if path == format!("/model/{MODEL_PATH}/converse-stream") {
        Response::builder()
            .header("content-type", "application/vnd.amazon.eventstream")
            .body(Body::from(stream_answer()))
            .unwrap()
    } else {
        aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
        )
    }
}

fn extra_toml(bedrock: &Bedrock) -> String {
    format!(
        r#"
[[providers]]
name = "bedrock"
kind = "bedrock"
region = "{REGION}"
base_url = "http://{}"
aws_access_key_id_env = "CARGO_PKG_NAME"
aws_secret_access_key_env = "CARGO_MANIFEST_DIR"

[[models]]
name = "claude-bedrock"
deployments = [{{ provider = "bedrock", model = "{UPSTREAM_MODEL}", price = {{ input_per_million = "3", output_per_million = "15", cached_input_per_million = "0.30", cache_write_per_million = "3.75" }} }}]
"#,
        bedrock.addr
    )
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }})
}

/// An OpenAI-format request with a system prompt, a base64 image and tools.
fn openai_request() -> Value {
    json!({
        "model": "claude-bedrock",
        "messages": [
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this image? Then get the weather in Paris and Oslo."},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{IMAGE_B64}")}},
            ]},
        ],
        "tools": [weather_tool()],
        "tool_choice": "auto",
        "max_tokens": 512,
        "temperature": 0.25,
    })
}

/// What the emulated runtime must receive for [`openai_request`] (both calls take
/// the same body).
fn expected_converse_body() -> Value {
    json!({
        "system": [{"text": "You are a weather assistant."}],
        "messages": [{"role": "user", "content": [
            {"text": "What is in this image? Then get the weather in Paris and Oslo."},
            {"image": {"format": "png", "source": {"bytes": IMAGE_B64}}},
        ]}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.25},
        "toolConfig": {
            "tools": [{"toolSpec": {
                "name": "get_weather",
                "description": "Current weather in a city",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            }}],
            "toolChoice": {"auto": {}},
        },
    })
}

/// The OpenAI usage object: prompt = 410 uncached + 3000 cache reads + 1200 cache
/// writes.
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

type Env = roundtrip::ProviderMesh<(String, Value)>;

async fn env(shape: Shape) -> Env {
    let bedrock = Bedrock::start(axum::Router::new().fallback(runtime)).await;
    Env::start(shape, bedrock, extra_toml, &["claude-bedrock"]).await
}

both_shapes!(chat_round_trip, stream_round_trip);

async fn chat_round_trip(shape: Shape) {
    let env = env(shape).await;
    let (status, request_id, text) = env.chat(&openai_request()).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        env.provider.seen(),
        vec![(
            format!("/model/{MODEL_PATH}/converse"),
            expected_converse_body()
        )]
    );

    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(
        body["id"].as_str().unwrap().starts_with("chatcmpl-"),
        "{body}"
    );
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(
        roundtrip::without_ids(body),
        roundtrip::weather_answer(
            UPSTREAM_MODEL,
            [
                "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                "tooluse_Yh2oAE1pR4eWTwXx3LQk1A"
            ],
            expected_usage()
        )
    );

    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "bedrock", false, EXPECTED_COST_MICROS);
    assert_eq!(record.upstream_model, UPSTREAM_MODEL);
    assert_eq!(record.requested_model, "claude-bedrock");
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

async fn stream_round_trip(shape: Shape) {
    let env = env(shape).await;
    let mut request = openai_request();
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let (status, request_id, text) = env.chat(&request).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        env.provider.seen(),
        vec![(
            format!("/model/{MODEL_PATH}/converse-stream"),
            expected_converse_body()
        )]
    );

    let chunks: Vec<Value> = roundtrip::stream_chunks(&text);
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"), "{id}");
    assert!(chunks.iter().all(|c| c["id"] == id));
    // Every chunk but the last carries `usage: null`, as OpenAI streams it.
    let chunk = |choices: Value| json!({"object": "chat.completion.chunk", "model": UPSTREAM_MODEL, "choices": choices, "usage": null});
    let delta = |d: Value| {
        chunk(json!([{"index": 0, "delta": d, "finish_reason": null, "logprobs": null}]))
    };
    let tool = |index: u32, id: &str, args: &str| {
        let mut call = json!({"index": index, "function": {"arguments": args}});
        if !id.is_empty() {
            call["id"] = json!(id);
            call["type"] = json!("function");
            call["function"]["name"] = json!("get_weather");
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
            tool(0, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", ""),
            tool(0, "", "{\"city\": \"Paris\"}"),
            tool(1, "tooluse_Yh2oAE1pR4eWTwXx3LQk1A", ""),
            tool(1, "", "{\"city\": \"Oslo\"}"),
            chunk(
                json!([{"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": null}])
            ),
            usage_chunk,
        ]
    );

    let record = env.mesh.wait_usage(&request_id).await;
    roundtrip::assert_billed(&record, "bedrock", true, EXPECTED_COST_MICROS);
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
