//! The `bedrock` kind against an emulated Bedrock runtime, through the gRPC surface:
//! exact SigV4-signed requests (the signature recomputed here from the SigV4
//! specification), Converse and ConverseStream translations, event-stream faults,
//! error mapping by meaning, Titan and Cohere embeddings.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::sync::Arc;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message as EventMessage};
use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_config::{ProviderAdapterConfig, Secret};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_grpc::GrpcChannel;
use switchyard_proto::provider::v1::provider_client::ProviderClient;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{
    ChatRequest, ContentPart, EmbedRequest, FinishReason, FunctionCall, FunctionDefinition,
    ImageUrl, Message, Reasoning, Role, Tool, ToolCall, ToolChoice, Usage,
};
use switchyard_provider_adapter::{AwsCredentials, Bedrock, ChatProvider, ProviderAdapter};
use tonic::Code;

const REGION: &str = "us-west-2";
const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzzKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLEzzSESSIONzzTOKEN";
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const CLAUDE_PATH: &str = "anthropic.claude-3-haiku-20240307-v1%3A0";
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";
/// A 1x1 transparent PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

type Client = ProviderClient<GrpcChannel>;

fn credentials(token: bool) -> AwsCredentials {
    AwsCredentials {
        access_key_id: AKID.into(),
        secret_access_key: Secret::new(SECRET),
        session_token: token.then(|| Secret::new(TOKEN)),
    }
}

fn provider(upstream: &Upstream, token: bool) -> Bedrock {
    Bedrock::new(
        PROVIDER,
        REGION,
        Some(&format!("http://{}", upstream.addr)),
        credentials(token),
        &ProviderAdapterConfig::default(),
    )
    .unwrap()
}

fn client(upstream: &Upstream, token: bool) -> Client {
    let provider = Arc::new(provider(upstream, token)) as Arc<dyn ChatProvider>;
    client_of(ProviderAdapter::from_providers([(
        PROVIDER.to_string(),
        provider,
    )]))
}

fn text_fixture(name: &str) -> String {
    String::from_utf8(fixture(&format!("bedrock/{name}"))).unwrap()
}

/// One event-stream message with string headers, encoded by the eventstream crate.
fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut message = EventMessage::new(payload.to_vec());
    for (name, value) in headers {
        message = message.add_header(Header::new(
            name.to_string(),
            HeaderValue::String(value.to_string().into()),
        ));
    }
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out
}

fn event(kind: &str, payload: &Value) -> Vec<u8> {
    frame(
        &[
            (":event-type", kind),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

fn exception(kind: &str, message: &str) -> Vec<u8> {
    frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

/// A `.jsonl` fixture of `{"event", "payload"}` lines as event-stream bytes.
fn events_fixture(name: &str) -> Vec<u8> {
    text_fixture(name)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            event(v["event"].as_str().unwrap(), &v["payload"])
        })
        .collect()
}

/// A 200 event stream sent in pieces of 5 bytes: every message split across reads.
fn stream_reply(bytes: Vec<u8>) -> Reply {
    Reply::Stream {
        content_type: EVENT_STREAM,
        bytes,
        piece: 5,
    }
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

/// Recomputes the request's SigV4 signature from the specification (canonical
/// request with each path segment encoded once more, string to sign, derived key)
/// and checks the `authorization` header against it; also that the secret appears
/// nowhere in what was sent.
fn assert_signed(seen: &Recorded, token: Option<&str>) {
    let date_time = seen.header("x-amz-date").unwrap();
    assert_eq!(date_time.len(), 16, "{date_time}");
    assert_eq!(&date_time[8..9], "T");
    assert!(date_time.ends_with('Z'));
    let date = &date_time[..8];
    assert_eq!(seen.header("x-amz-security-token"), token);
    let signed_headers = match token {
        Some(_) => "accept;content-type;host;x-amz-date;x-amz-security-token",
        None => "accept;content-type;host;x-amz-date",
    };
    let canonical_uri: Vec<String> = seen.path.split('/').map(uri_encode).collect();
    let canonical_headers: String = signed_headers
        .split(';')
        .map(|h| format!("{h}:{}\n", seen.header(h).unwrap().trim()))
        .collect();
    let canonical = format!(
        "POST\n{}\n\n{canonical_headers}\n{signed_headers}\n{}",
        canonical_uri.join("/"),
        hex::encode(Sha256::digest(&seen.raw_body))
    );
    let scope = format!("{date}/{REGION}/bedrock/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date_time}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{SECRET}").as_bytes(), date.as_bytes());
    for part in [REGION, "bedrock", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    assert_eq!(
        seen.header("authorization").unwrap(),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
        )
    );
    let sent = format!(
        "{} {:?} {:?} {}",
        seen.path,
        seen.query,
        seen.headers,
        String::from_utf8_lossy(&seen.raw_body)
    );
    assert!(!sent.contains(SECRET), "the secret key was sent");
}

fn weather_tool() -> Tool {
    let schema: prost_types::Struct = prost_types::Struct {
        fields: [
            (
                "type".to_string(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue("object".into())),
                },
            ),
            (
                "properties".to_string(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StructValue(
                        prost_types::Struct::default(),
                    )),
                },
            ),
        ]
        .into_iter()
        .collect(),
    };
    Tool {
        r#type: "function".into(),
        function: Some(FunctionDefinition {
            name: "get_weather".into(),
            description: Some("Current weather in a city".into()),
            parameters: Some(schema),
            strict: None,
        }),
        cache_control: None,
    }
}

fn call(id: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(FunctionCall {
            name: "get_weather".into(),
            arguments: arguments.into(),
        }),
    }
}

#[tokio::test]
async fn chat_sends_a_signed_converse_request_and_translates_the_answer() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &text_fixture("converse_text.json"))]).await;
    let mut client = client(&upstream, false);
    let mut request = simple_request();
    request.temperature = Some(0.2);
    request.max_tokens = Some(100);
    request.seed = Some(42);
    let answer = client
        .chat(chat(PROVIDER, CLAUDE, request))
        .await
        .unwrap()
        .into_inner();

    let seen = upstream.recorded();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, format!("/model/{CLAUDE_PATH}/converse"));
    assert_eq!(seen[0].query, None);
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    assert_signed(&seen[0], None);
    assert_eq!(
        seen[0].body,
        json!({
            "system": [{"text": "be brief"}],
            "messages": [{"role": "user", "content": [{"text": "Name three colors."}]}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.2},
        }),
        "seed has no Converse field: ignored"
    );

    assert!(answer.id.starts_with("chatcmpl-"), "{}", answer.id);
    assert!(answer.created > 0);
    assert_eq!(answer.model, CLAUDE);
    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::Stop as i32);
    let message = choice.message.as_ref().unwrap();
    assert_eq!(message.role, Role::Assistant as i32);
    assert_eq!(
        message.content[0].part,
        Some(Part::Text("Red, green and blue.".into()))
    );
    assert!(message.tool_calls.is_empty());
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 22,
            completion_tokens: 8,
            total_tokens: 30,
            ..Usage::default()
        })
    );
}

#[tokio::test]
async fn session_token_is_signed_and_same_role_turns_merge() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &text_fixture("converse_text.json"))]).await;
    let mut client = client(&upstream, true);
    let request = ChatRequest {
        messages: vec![
            text(Role::System, "be brief"),
            text(Role::User, "My name is Ada."),
            text(Role::Assistant, "Hello Ada."),
            text(Role::User, "What is"),
            text(Role::User, "my name?"),
        ],
        ..ChatRequest::default()
    };
    client.chat(chat(PROVIDER, CLAUDE, request)).await.unwrap();
    let seen = &upstream.recorded()[0];
    assert_signed(seen, Some(TOKEN));
    assert_eq!(
        seen.body,
        json!({
            "system": [{"text": "be brief"}],
            "messages": [
                {"role": "user", "content": [{"text": "My name is Ada."}]},
                {"role": "assistant", "content": [{"text": "Hello Ada."}]},
                {"role": "user", "content": [{"text": "What is"}, {"text": "my name?"}]},
            ],
        })
    );
}

#[tokio::test]
async fn parallel_tool_calls_both_ways() {
    let upstream = Upstream::start(vec![
        Reply::json(200, &text_fixture("converse_tool_use.json")),
        Reply::json(200, &text_fixture("converse_text.json")),
    ])
    .await;
    let mut client = client(&upstream, false);
    let mut request = ChatRequest {
        messages: vec![text(Role::User, "Weather in Paris and Oslo?")],
        tools: vec![weather_tool()],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::Mode("required".into())),
        }),
        parallel_tool_calls: Some(true),
        ..ChatRequest::default()
    };
    let answer = client
        .chat(chat(PROVIDER, CLAUDE, request.clone()))
        .await
        .unwrap()
        .into_inner();
    let tool_config = json!({
        "tools": [{"toolSpec": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "inputSchema": {"json": {"type": "object", "properties": {}}},
        }}],
        "toolChoice": {"any": {}},
    });
    assert_eq!(upstream.recorded()[0].body["toolConfig"], tool_config);

    let choice = &answer.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let message = choice.message.as_ref().unwrap();
    assert_eq!(
        message.content[0].part,
        Some(Part::Text("I'll check the weather in both cities.".into()))
    );
    assert_eq!(
        message.tool_calls,
        vec![
            call("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", r#"{"city":"Paris"}"#),
            call(
                "tooluse_Yh2oAE1pR4eWTwXx3LQk1A",
                r#"{"city":"Oslo","unit":"celsius"}"#
            ),
        ]
    );
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 412 + 1024 + 476,
            completion_tokens: 96,
            total_tokens: 412 + 1024 + 476 + 96,
            cached_prompt_tokens: 1024,
            reasoning_tokens: 0,
            estimated: false,
            cache_write_prompt_tokens: 476,
        })
    );

    // The results go back as one user turn of toolResult blocks.
    request.messages.push(Message {
        role: Role::Assistant as i32,
        tool_calls: message.tool_calls.clone(),
        ..Message::default()
    });
    for (id, result) in [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "18C, sunny"),
        ("tooluse_Yh2oAE1pR4eWTwXx3LQk1A", "9C, rain"),
    ] {
        let mut m = text(Role::Tool, result);
        m.tool_call_id = Some(id.into());
        request.messages.push(m);
    }
    request.tool_choice = None;
    client.chat(chat(PROVIDER, CLAUDE, request)).await.unwrap();
    let body = &upstream.recorded()[1].body;
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"text": "Weather in Paris and Oslo?"}]},
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "tooluse_Yh2oAE1pR4eWTwXx3LQk1A", "name": "get_weather", "input": {"city": "Oslo", "unit": "celsius"}}},
            ]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "content": [{"text": "18C, sunny"}]}},
                {"toolResult": {"toolUseId": "tooluse_Yh2oAE1pR4eWTwXx3LQk1A", "content": [{"text": "9C, rain"}]}},
            ]},
        ])
    );
    assert_eq!(body["toolConfig"]["tools"], tool_config["tools"]);
    assert_eq!(body["toolConfig"].get("toolChoice"), None);
}

/// Claude's extended thinking on Bedrock: `reasoningContent` blocks (signed text,
/// or redacted) come back as reasoning and go back first in the assistant turn,
/// as Claude requires when thinking is on and tools are used.
#[tokio::test]
async fn reasoning_blocks_come_back_and_go_back_first() {
    let upstream = Upstream::start(vec![
        Reply::json(200, &text_fixture("converse_reasoning_tool_use.json")),
        Reply::json(200, &text_fixture("converse_text.json")),
    ])
    .await;
    let mut client = client(&upstream, false);
    let mut request = ChatRequest {
        messages: vec![text(Role::User, "Weather in Paris?")],
        tools: vec![weather_tool()],
        ..ChatRequest::default()
    };
    let answer = client
        .chat(chat(PROVIDER, CLAUDE, request.clone()))
        .await
        .unwrap()
        .into_inner();
    let message = answer.choices[0].message.clone().unwrap();
    assert_eq!(
        message.reasoning,
        vec![
            Reasoning {
                text: "The user wants the weather in Paris; the tool gives it.".into(),
                signature: "ErUBCkYIBxgCIkB1bedrock-signature".into(),
                redacted: false,
            },
            Reasoning {
                text: String::new(),
                signature: "RW5jcnlwdGVkUmVhc29uaW5n".into(),
                redacted: true,
            },
        ]
    );
    assert_eq!(message.tool_calls.len(), 1);

    request.messages.push(message);
    let mut result = text(Role::Tool, "18C");
    result.tool_call_id = Some("tooluse_Rz8mXhQ0TmWq3sYb2Pv9nA".into());
    request.messages.push(result);
    client.chat(chat(PROVIDER, CLAUDE, request)).await.unwrap();
    assert_eq!(
        upstream.recorded()[1].body["messages"][1]["content"],
        json!([
            {"reasoningContent": {"reasoningText": {
                "text": "The user wants the weather in Paris; the tool gives it.",
                "signature": "ErUBCkYIBxgCIkB1bedrock-signature"}}},
            {"reasoningContent": {"redactedContent": "RW5jcnlwdGVkUmVhc29uaW5n"}},
            {"toolUse": {"toolUseId": "tooluse_Rz8mXhQ0TmWq3sYb2Pv9nA", "name": "get_weather", "input": {"city": "Paris"}}},
        ])
    );
}

fn image_request(url: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![
                ContentPart {
                    part: Some(Part::Text("What is in this image?".into())),
                },
                ContentPart {
                    part: Some(Part::ImageUrl(ImageUrl {
                        url: url.into(),
                        detail: "high".into(),
                    })),
                },
            ],
            ..Message::default()
        }],
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn base64_images_are_sent_inline_and_urls_are_refused() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &text_fixture("converse_text.json"))]).await;
    let mut client = client(&upstream, false);
    client
        .chat(chat(
            PROVIDER,
            CLAUDE,
            image_request(&format!("data:image/png;base64,{PNG}")),
        ))
        .await
        .unwrap();
    assert_eq!(
        upstream.recorded()[0].body["messages"][0]["content"],
        json!([
            {"text": "What is in this image?"},
            {"image": {"format": "png", "source": {"bytes": PNG}}},
        ])
    );

    let status = client
        .chat(chat(
            PROVIDER,
            CLAUDE,
            image_request("https://example.com/cat.png"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let err = ApiError::from_status(&status);
    assert_eq!(err.code, ErrorCode::InvalidRequest);
    assert_eq!(
        err.param.as_deref(),
        Some("messages[0].content[1].image_url.url")
    );
    assert!(err.message.contains("data: URL"), "{}", err.message);
    assert_eq!(
        upstream.recorded().len(),
        1,
        "nothing fetched, nothing sent"
    );
}

#[tokio::test]
async fn unsupported_options_are_refused_before_sending() {
    let upstream = Upstream::start(vec![]).await;
    let mut client = client(&upstream, false);
    let mut n = simple_request();
    n.n = Some(3);
    let status = client.chat(chat(PROVIDER, CLAUDE, n)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(ApiError::from_status(&status).param.as_deref(), Some("n"));
    let mut json_mode = simple_request();
    json_mode.response_format = Some(switchyard_proto::types::v1::ResponseFormat {
        format: Some(switchyard_proto::types::v1::response_format::Format::JsonObject(true)),
    });
    let Err(status) = client.chat_stream(chat(PROVIDER, CLAUDE, json_mode)).await else {
        panic!("json_object must be refused")
    };
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(upstream.recorded().is_empty());
}

#[tokio::test]
async fn stream_text_split_across_reads() {
    let upstream = Upstream::start(vec![stream_reply(events_fixture("stream_text.jsonl"))]).await;
    let mut client = client(&upstream, true);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, CLAUDE, simple_request())).await;
    assert!(error.is_none(), "{error:?}");

    let seen = &upstream.recorded()[0];
    assert_eq!(seen.path, format!("/model/{CLAUDE_PATH}/converse-stream"));
    assert_eq!(seen.header("accept"), Some(EVENT_STREAM));
    assert_signed(seen, Some(TOKEN));
    assert_eq!(
        seen.body["messages"][0]["content"][0]["text"],
        "Name three colors."
    );

    assert_eq!(chunks.len(), 5, "{chunks:#?}");
    assert!(
        chunks
            .iter()
            .all(|c| c.id == chunks[0].id && c.model == CLAUDE)
    );
    let delta = chunks[0].choices[0].delta.as_ref().unwrap();
    assert_eq!(delta.role, Role::Assistant as i32);
    assert_eq!(streamed_text(&chunks), "Red, green and blue.");
    assert_eq!(
        chunks[3].choices[0].finish_reason,
        FinishReason::Stop as i32
    );
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(
        last.usage,
        Some(Usage {
            prompt_tokens: 22,
            completion_tokens: 8,
            total_tokens: 30,
            ..Usage::default()
        })
    );
}

#[tokio::test]
async fn stream_tool_use_deltas_and_cache_usage() {
    let upstream =
        Upstream::start(vec![stream_reply(events_fixture("stream_tool_use.jsonl"))]).await;
    let mut client = client(&upstream, false);
    let request = ChatRequest {
        messages: vec![text(Role::User, "Weather in Paris and Oslo?")],
        tools: vec![weather_tool()],
        ..ChatRequest::default()
    };
    let (chunks, error) = drain(&mut client, chat(PROVIDER, CLAUDE, request)).await;
    assert!(error.is_none(), "{error:?}");
    // role, text, (start, 2 fragments) for Paris, (start, 1 fragment) for Oslo,
    // finish, usage: the empty first fragment carries nothing and is skipped.
    assert_eq!(chunks.len(), 9, "{chunks:#?}");
    assert_eq!(streamed_text(&chunks), "Checking both.");
    let calls: Vec<_> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .flat_map(|c| c.delta.as_ref().unwrap().tool_calls.clone())
        .collect();
    let view: Vec<_> = calls
        .iter()
        .map(|t| {
            let f = t.function.as_ref().unwrap();
            (
                t.index,
                t.id.clone(),
                t.r#type.clone(),
                f.name.clone(),
                f.arguments.clone(),
            )
        })
        .collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        view,
        vec![
            (
                0,
                some("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"),
                some("function"),
                some("get_weather"),
                some("")
            ),
            (0, None, None, None, some("{\"city\": \"Pa")),
            (0, None, None, None, some("ris\"}")),
            (
                1,
                some("tooluse_Yh2oAE1pR4eWTwXx3LQk1A"),
                some("function"),
                some("get_weather"),
                some("")
            ),
            (1, None, None, None, some("{\"city\": \"Oslo\"}")),
        ]
    );
    assert_eq!(
        chunks[7].choices[0].finish_reason,
        FinishReason::ToolCalls as i32
    );
    assert_eq!(
        chunks[8].usage,
        Some(Usage {
            prompt_tokens: 1912,
            completion_tokens: 96,
            total_tokens: 2008,
            cached_prompt_tokens: 1024,
            reasoning_tokens: 0,
            estimated: false,
            cache_write_prompt_tokens: 476,
        })
    );
}

#[tokio::test]
async fn stream_without_metadata_estimates_usage() {
    let mut bytes = event("messageStart", &json!({"role": "assistant"}));
    bytes.extend(event(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "Red, green, blue."}}),
    ));
    bytes.extend(event("messageStop", &json!({"stopReason": "max_tokens"})));
    let upstream = Upstream::start(vec![stream_reply(bytes)]).await;
    let mut client = client(&upstream, false);
    let (chunks, error) = drain(&mut client, chat(PROVIDER, CLAUDE, simple_request())).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        chunks[2].choices[0].finish_reason,
        FinishReason::Length as i32
    );
    let usage = chunks.last().unwrap().usage.unwrap();
    assert!(usage.estimated);
    assert!(
        usage.prompt_tokens > 0 && usage.completion_tokens > 0,
        "{usage:?}"
    );
}

#[tokio::test]
async fn exception_events_end_the_stream_with_their_mapped_error() {
    let head = || {
        let mut bytes = event("messageStart", &json!({"role": "assistant"}));
        bytes.extend(event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": "Red"}}),
        ));
        bytes
    };
    let cases = [
        (
            "throttlingException",
            "Too many tokens, please wait before trying again.",
            Code::ResourceExhausted,
            ErrorCode::RateLimited,
            true,
        ),
        (
            "modelStreamErrorException",
            "The model stream errored.",
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            true,
        ),
        (
            "internalServerException",
            "The server encountered an error.",
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            true,
        ),
        (
            "serviceUnavailableException",
            "Bedrock is unable to process your request.",
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            true,
        ),
        (
            "validationException",
            "Input is too long for requested model.",
            Code::InvalidArgument,
            ErrorCode::ContextLengthExceeded,
            false,
        ),
    ];
    for (kind, message, code, error_code, retryable) in cases {
        let mut bytes = head();
        bytes.extend(exception(kind, message));
        let upstream = Upstream::start(vec![stream_reply(bytes)]).await;
        let mut client = client(&upstream, false);
        let (chunks, error) = drain(&mut client, chat(PROVIDER, CLAUDE, simple_request())).await;
        assert_eq!(streamed_text(&chunks), "Red", "{kind}");
        assert!(chunks.iter().all(|c| c.usage.is_none()), "{kind}");
        let status = error.unwrap_or_else(|| panic!("{kind}: no error"));
        assert_eq!(status.code(), code, "{kind}");
        let err = ApiError::from_status(&status);
        assert_eq!(err.code, error_code, "{kind}");
        assert_eq!(err.retryable, retryable, "{kind}");
        assert_eq!(err.retry_after, None, "{kind}: AWS sends no retry-after");
    }
}

#[tokio::test]
async fn an_exception_before_any_event_fails_the_call_itself() {
    let upstream = Upstream::start(vec![stream_reply(exception(
        "throttlingException",
        "Too many requests, please wait before trying again.",
    ))])
    .await;
    let mut client = client(&upstream, false);
    let Err(status) = client
        .chat_stream(chat(PROVIDER, CLAUDE, simple_request()))
        .await
    else {
        panic!("the router must be able to fall back")
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn broken_streams_end_cleanly() {
    let start = event("messageStart", &json!({"role": "assistant"}));
    let delta = event(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "Red"}}),
    );
    let stop = event("messageStop", &json!({"stopReason": "end_turn"}));
    let join = |parts: &[&[u8]]| parts.concat();

    let mut bad_crc = delta.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x55;
    let not_json = frame(
        &[
            (":event-type", "contentBlockDelta"),
            (":message-type", "event"),
        ],
        b"{not json",
    );
    let no_type = frame(&[(":event-type", "messageStart")], b"{}");
    let delta_without_start = event(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}}),
    );
    let mut oversized = start.clone();
    oversized.extend([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    let cases: Vec<(&str, Vec<u8>, Code, &str)> = vec![
        (
            "bad CRC",
            join(&[&start, &bad_crc]),
            Code::Unavailable,
            "malformed event",
        ),
        (
            "payload not JSON",
            join(&[&start, &not_json]),
            Code::Unavailable,
            "malformed event",
        ),
        (
            "no message type",
            join(&[&start, &no_type]),
            Code::Unavailable,
            "malformed event",
        ),
        (
            "tool delta without start",
            join(&[&start, &delta_without_start]),
            Code::Unavailable,
            "malformed event",
        ),
        (
            "frame over the bound",
            oversized,
            Code::Unavailable,
            "exceeds",
        ),
        (
            "EOF without messageStop",
            join(&[&start, &delta]),
            Code::Unavailable,
            "ended before completion",
        ),
        (
            "EOF mid-message",
            join(&[&start, &delta, &stop[..stop.len() - 3]]),
            Code::Unavailable,
            "ended before completion",
        ),
    ];
    for (name, bytes, code, words) in cases {
        let upstream = Upstream::start(vec![stream_reply(bytes)]).await;
        let mut client = client(&upstream, false);
        let (chunks, error) = drain(&mut client, chat(PROVIDER, CLAUDE, simple_request())).await;
        assert!(!chunks.is_empty(), "{name}: the role chunk came first");
        assert!(chunks.iter().all(|c| c.usage.is_none()), "{name}");
        let status = error.unwrap_or_else(|| panic!("{name}: a broken stream looked complete"));
        assert_eq!(status.code(), code, "{name}");
        assert!(
            status.message().contains(words),
            "{name}: {}",
            status.message()
        );
    }
}

#[tokio::test]
async fn a_body_that_is_no_event_stream_fails_the_call() {
    let upstream = Upstream::start(vec![Reply::Stream {
        content_type: "application/json",
        bytes: br#"{"message":"not an event stream"}"#.to_vec(),
        piece: 64,
    }])
    .await;
    let mut client = client(&upstream, false);
    let Err(status) = client
        .chat_stream(chat(PROVIDER, CLAUDE, simple_request()))
        .await
    else {
        panic!("garbage must not start a stream")
    };
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn a_connection_cut_mid_stream_is_an_error() {
    let mut bytes = event("messageStart", &json!({"role": "assistant"}));
    bytes.extend(event(
        "contentBlockDelta",
        &json!({"contentBlockIndex": 0, "delta": {"text": "Red"}}),
    ));
    let upstream = Upstream::start(vec![Reply::SseReset { bytes }]).await;
    let mut client = client(&upstream, false);
    let mut stream = client
        .chat_stream(chat(PROVIDER, CLAUDE, simple_request()))
        .await
        .unwrap()
        .into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        first.choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    let second = stream.next().await.unwrap().unwrap();
    assert_eq!(streamed_text(&[second]), "Red");
    upstream.break_connection();
    let status = stream.next().await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(stream.next().await.is_none());
}

/// HTTP status, `x-amzn-errortype`, message, and what callers must see.
type ErrorCase<'a> = (u16, Option<&'a str>, String, Code, ErrorCode, bool);

#[tokio::test]
async fn http_errors_map_by_meaning() {
    let leak = format!(
        "The request signature we calculated does not match the signature you provided. \
         Credential={AKID}/20250101/{REGION}/bedrock/aws4_request"
    );
    let cases: Vec<ErrorCase> = vec![
        (
            429,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "Too many requests, please wait before trying again.".into(),
            Code::ResourceExhausted,
            ErrorCode::RateLimited,
            true,
        ),
        (
            400,
            Some("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "Input is too long for requested model.".into(),
            Code::InvalidArgument,
            ErrorCode::ContextLengthExceeded,
            false,
        ),
        (
            400,
            Some("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "The provided model identifier is invalid.".into(),
            Code::InvalidArgument,
            ErrorCode::UpstreamRejected,
            false,
        ),
        (
            403,
            Some("AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "You don't have access to the model with the specified model ID.".into(),
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            false,
        ),
        (
            403,
            Some(
                "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            ),
            "The security token included in the request is invalid.".into(),
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            false,
        ),
        (
            403,
            Some(
                "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            ),
            leak.clone(),
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            false,
        ),
        (
            403,
            Some(
                "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            ),
            "The security token included in the request is expired".into(),
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            false,
        ),
        (
            503,
            Some(
                "ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            ),
            "Bedrock is unable to process your request.".into(),
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            true,
        ),
        (
            500,
            Some("InternalServerException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "The system encountered an unexpected error during processing. Try your request again."
                .into(),
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            true,
        ),
        (
            429,
            Some("ModelNotReadyException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "Model is not ready for inference. Wait and try your request again.".into(),
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            true,
        ),
        (
            408,
            Some("ModelTimeoutException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "Model has timed out in processing the request.".into(),
            Code::DeadlineExceeded,
            ErrorCode::UpstreamTimeout,
            true,
        ),
        (
            404,
            Some("ResourceNotFoundException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            "Could not resolve the foundation model from the provided model identifier.".into(),
            Code::Unavailable,
            ErrorCode::UpstreamUnavailable,
            false,
        ),
        // No header: the body's `__type` names the error.
        (
            429,
            None,
            "Rate exceeded".into(),
            Code::ResourceExhausted,
            ErrorCode::RateLimited,
            true,
        ),
    ];
    for (status_code, header, message, code, error_code, retryable) in cases {
        let body = match header {
            Some(_) => json!({ "message": message }),
            None => {
                json!({"__type": "com.amazon.coral.availability#ThrottlingException", "message": message})
            }
        };
        let mut reply = Reply::json(status_code, &body.to_string());
        if let Some(h) = header {
            reply = reply.with_header("x-amzn-errortype", h);
        }
        let upstream = Upstream::start(vec![reply]).await;
        let mut client = client(&upstream, false);
        let status = client
            .chat(chat(PROVIDER, CLAUDE, simple_request()))
            .await
            .unwrap_err();
        let name = header.unwrap_or("__type");
        assert_eq!(status.code(), code, "{name}");
        let err = ApiError::from_status(&status);
        assert_eq!(err.code, error_code, "{name}");
        assert_eq!(err.retryable, retryable, "{name}");
        assert_eq!(err.retry_after, None, "{name}");
        assert!(
            !status.message().contains(AKID),
            "{name}: {}",
            status.message()
        );
        if status_code == 403 {
            assert_eq!(
                err.message, "provider `up` rejected the configured credential",
                "{name}"
            );
        }
        if error_code == ErrorCode::ContextLengthExceeded {
            assert_eq!(
                err.upstream_code.as_deref(),
                Some("context_length_exceeded")
            );
            assert_eq!(err.message, message);
        }
    }
}

#[tokio::test]
async fn titan_embeddings_one_call_per_input() {
    let upstream = Upstream::start(vec![Reply::json(200, &text_fixture("titan_embed.json"))]).await;
    let mut client = client(&upstream, false);
    let answer = client
        .embed(embed(
            PROVIDER,
            "amazon.titan-embed-text-v2:0",
            EmbedRequest {
                input: vec!["hello world".into()],
                dimensions: Some(256),
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let seen = &upstream.recorded()[0];
    assert_eq!(seen.path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert_signed(seen, None);
    assert_eq!(
        seen.body,
        json!({"inputText": "hello world", "dimensions": 256})
    );
    assert_eq!(answer.model, "amazon.titan-embed-text-v2:0");
    assert_eq!(answer.data.len(), 1);
    assert_eq!(answer.data[0].values, vec![0.0123, -0.0456, 0.0789, 0.1011]);
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 5,
            total_tokens: 5,
            ..Usage::default()
        })
    );
}

/// Titan calls run concurrently: this server answers each from its own input, so
/// the test sees whether the vectors come back in input order.
#[tokio::test]
async fn titan_embeddings_keep_input_order() {
    let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        let request: Value = serde_json::from_slice(&body).unwrap();
        let text = request["inputText"].as_str().unwrap();
        axum::Json(json!({
            "embedding": [text.len() as f64],
            "inputTextTokenCount": text.len(),
        }))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let provider = Bedrock::new(
        PROVIDER,
        REGION,
        Some(&format!("http://{addr}")),
        credentials(false),
        &ProviderAdapterConfig::default(),
    )
    .unwrap();
    let inputs: Vec<String> = (1..=9).map(|n| "x".repeat(n)).collect();
    let answer = provider
        .embed(
            "amazon.titan-embed-text-v2:0",
            &EmbedRequest {
                input: inputs.clone(),
                ..EmbedRequest::default()
            },
        )
        .await
        .unwrap();
    let lengths: Vec<f32> = answer.data.iter().map(|e| e.values[0]).collect();
    assert_eq!(lengths, (1..=9).map(|n| n as f32).collect::<Vec<_>>());
    assert!(
        answer
            .data
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == i as u32)
    );
    assert_eq!(answer.usage.unwrap().prompt_tokens, 45);
}

#[tokio::test]
async fn cohere_embeddings_in_one_batch() {
    let upstream = Upstream::start(vec![
        Reply::json(200, &text_fixture("cohere_embed.json"))
            .with_header("x-amzn-bedrock-input-token-count", "6"),
        Reply::json(200, &text_fixture("cohere_embed.json")),
    ])
    .await;
    let mut client = client(&upstream, false);
    let request = EmbedRequest {
        input: vec!["first document".into(), "second document".into()],
        ..EmbedRequest::default()
    };
    let answer = client
        .embed(embed(PROVIDER, "cohere.embed-english-v3", request.clone()))
        .await
        .unwrap()
        .into_inner();
    let seen = &upstream.recorded()[0];
    assert_eq!(seen.path, "/model/cohere.embed-english-v3/invoke");
    assert_signed(seen, None);
    assert_eq!(
        seen.body,
        json!({"texts": ["first document", "second document"], "input_type": "search_document"})
    );
    let vectors: Vec<_> = answer.data.iter().map(|e| e.values.clone()).collect();
    assert_eq!(
        vectors,
        vec![vec![0.0234, -0.0156, 0.0478], vec![-0.0312, 0.0621, 0.0093]]
    );
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 6,
            total_tokens: 6,
            ..Usage::default()
        })
    );
    // Without Bedrock's token-count header the usage is estimated.
    let answer = client
        .embed(embed(PROVIDER, "cohere.embed-english-v3", request))
        .await
        .unwrap()
        .into_inner();
    let usage = answer.usage.unwrap();
    assert!(usage.estimated && usage.prompt_tokens > 0, "{usage:?}");
}

#[tokio::test]
async fn embeddings_of_other_models_are_refused() {
    let upstream = Upstream::start(vec![]).await;
    let mut client = client(&upstream, false);
    let status = client
        .embed(embed(
            PROVIDER,
            CLAUDE,
            EmbedRequest {
                input: vec!["x".into()],
                ..EmbedRequest::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(upstream.recorded().is_empty());
}

#[tokio::test]
async fn from_config_reads_credentials_and_names_key_paths() {
    let upstream =
        Upstream::start(vec![Reply::json(200, &text_fixture("converse_text.json"))]).await;
    // Cargo sets CARGO_PKG_NAME and CARGO_MANIFEST_DIR for test processes: variables
    // to read credentials from without mutating the environment.
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"up\"\nkind = \"bedrock\"\nregion = \"eu-central-1\"\n\
         base_url = \"http://{}\"\naws_access_key_id_env = \"CARGO_PKG_NAME\"\n\
         aws_secret_access_key_env = \"CARGO_MANIFEST_DIR\"\naws_session_token_env = \"CARGO_PKG_NAME\"\n",
        upstream.addr
    );
    let config = switchyard_config::load_str(&toml).unwrap();
    let mut client = client_of(ProviderAdapter::from_config(&config).unwrap());
    client
        .chat(chat(PROVIDER, CLAUDE, simple_request()))
        .await
        .unwrap();
    let seen = &upstream.recorded()[0];
    let auth = seen.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=switchyard-provider-adapter/"),
        "{auth}"
    );
    assert!(
        auth.contains("/eu-central-1/bedrock/aws4_request, SignedHeaders="),
        "{auth}"
    );
    assert_eq!(
        seen.header("x-amz-security-token"),
        Some("switchyard-provider-adapter")
    );

    for (from, to, key) in [
        (
            "\"CARGO_PKG_NAME\"\naws_secret",
            "\"SWITCHYARD_TEST_UNSET_AWS_KEY_ID\"\naws_secret",
            "providers[0].aws_access_key_id_env",
        ),
        (
            "\"CARGO_MANIFEST_DIR\"",
            "\"SWITCHYARD_TEST_UNSET_AWS_SECRET\"",
            "providers[0].aws_secret_access_key_env",
        ),
        (
            "aws_session_token_env = \"CARGO_PKG_NAME\"",
            "aws_session_token_env = \"SWITCHYARD_TEST_UNSET_AWS_TOKEN\"",
            "providers[0].aws_session_token_env",
        ),
        ("eu-central-1", "EU Central", "providers[0].region"),
    ] {
        let changed = toml.replace(from, to);
        assert_ne!(changed, toml, "{key}");
        let config = switchyard_config::load_str(&changed).unwrap();
        let err = ProviderAdapter::from_config(&config).unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
}

#[test]
fn provider_debug_prints_no_credential() {
    let credentials = credentials(true);
    let text = format!("{credentials:?}");
    assert!(!text.contains(AKID) && !text.contains(SECRET) && !text.contains(TOKEN));
}

#[tokio::test]
async fn token_counts_ask_count_tokens_with_the_converse_input() {
    let upstream = Upstream::start(vec![
        Reply::json(200, r#"{"inputTokens": 27}"#),
        Reply::json(200, r#"{"tokens": 27}"#),
    ])
    .await;
    let mut client = client(&upstream, false);
    let mut request = simple_request();
    request.max_tokens = Some(100);
    request.temperature = Some(0.2);
    let count = client
        .count_tokens(chat(PROVIDER, CLAUDE, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((count.input_tokens, count.estimated), (27, false));
    let seen = upstream.recorded();
    assert_eq!(seen[0].path, format!("/model/{CLAUDE_PATH}/count-tokens"));
    assert_signed(&seen[0], None);
    assert_eq!(
        seen[0].body,
        json!({"input": {"converse": {
            "system": [{"text": "be brief"}],
            "messages": [{"role": "user", "content": [{"text": "Name three colors."}]}],
        }}}),
        "generation settings are not part of the count"
    );
    let status = client
        .count_tokens(chat(PROVIDER, CLAUDE, request))
        .await
        .unwrap_err();
    assert_eq!(
        ApiError::from_status(&status).code,
        ErrorCode::UpstreamUnavailable
    );
}
