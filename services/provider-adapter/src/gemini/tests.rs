//! Unit tests of the Gemini translation: request bodies, answers, usage and the
//! event stream (the HTTP side is tested in `tests/gemini.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use futures::StreamExt;
use prost_types::value::Kind;
use serde_json::{Value, json};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ContentPart, FileData, FinishReason, FunctionCall, FunctionDefinition,
    ImageUrl, InputAudio, JsonSchemaFormat, Message, ResponseFormat, Role, Tool, ToolCall,
    ToolChoice, Usage,
};

use super::error::Google;
use super::request::{SKIP_SIGNATURE, chat_body, generation};
use super::response::{WireResponse, chat_response, finish_reason};
use super::stream::{SseStream, Translator, replay};
use crate::ProviderError;
use crate::http;

const STREAM_TEXT: &[u8] = include_bytes!("../../tests/fixtures/gemini/stream_text.sse");
const STREAM_TOOLS: &[u8] = include_bytes!("../../tests/fixtures/gemini/stream_tools.sse");
const CHAT: &str = include_str!("../../tests/fixtures/gemini/chat.json");
const CHAT_TOOLS: &str = include_str!("../../tests/fixtures/gemini/chat_tools.json");
const BLOCKED: &str = include_str!("../../tests/fixtures/gemini/blocked.json");

fn pb(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(pb).collect(),
        }),
        Value::Object(_) => Kind::StructValue(obj(v.clone())),
    };
    prost_types::Value { kind: Some(kind) }
}

fn obj(v: Value) -> prost_types::Struct {
    prost_types::Struct {
        fields: v
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), pb(v)))
            .collect(),
    }
}

fn text(t: &str) -> ContentPart {
    ContentPart {
        part: Some(Part::Text(t.into())),
    }
}

fn msg(role: Role, parts: Vec<ContentPart>) -> Message {
    Message {
        role: role as i32,
        content: parts,
        ..Message::default()
    }
}

fn call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        r#type: "function".into(),
        function: Some(FunctionCall {
            name: name.into(),
            arguments: arguments.into(),
        }),
    }
}

fn tool_result(id: &str, content: &str) -> Message {
    Message {
        tool_call_id: Some(id.into()),
        ..msg(Role::Tool, vec![text(content)])
    }
}

fn image(url: &str) -> ContentPart {
    ContentPart {
        part: Some(Part::ImageUrl(ImageUrl {
            url: url.into(),
            detail: String::new(),
        })),
    }
}

/// A conversation using every translated feature.
fn full_request() -> ChatRequest {
    ChatRequest {
        model: "alias".into(),
        messages: vec![
            msg(Role::System, vec![text("be brief")]),
            msg(
                Role::User,
                vec![
                    text("Weather in both cities? And what is in these?"),
                    image("data:image/png;base64,iVBORw0KGgo="),
                    image("https://example.com/photos/cat.JPG?size=large"),
                    ContentPart {
                        part: Some(Part::InputAudio(InputAudio {
                            data: "UklGRg==".into(),
                            format: "wav".into(),
                        })),
                    },
                ],
            ),
            Message {
                tool_calls: vec![
                    call("call_a", "get_weather", r#"{"city":"Paris"}"#),
                    call("call_b", "get_weather", r#"{"city":"Tokyo"}"#),
                ],
                ..msg(Role::Assistant, vec![text("Checking.")])
            },
            tool_result("call_a", r#"{"temp_c":21}"#),
            tool_result("call_b", "sunny"),
            msg(Role::Developer, vec![text("answer in French")]),
            msg(Role::User, vec![text("Thanks!")]),
        ],
        temperature: Some(0.5),
        top_p: Some(0.9),
        max_tokens: Some(256),
        n: Some(2),
        stop: vec!["END".into()],
        seed: Some(7),
        presence_penalty: Some(0.1),
        frequency_penalty: Some(0.2),
        tools: vec![Tool {
            r#type: "function".into(),
            function: Some(FunctionDefinition {
                name: "get_weather".into(),
                description: Some("Current weather".into()),
                parameters: Some(obj(json!({
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": false,
                }))),
                strict: Some(true),
            }),
            cache_control: None,
        }],
        tool_choice: Some(ToolChoice {
            choice: Some(ToolChoiceKind::FunctionName("get_weather".into())),
        }),
        response_format: Some(ResponseFormat {
            format: Some(Format::JsonSchema(JsonSchemaFormat {
                name: "answer".into(),
                description: None,
                schema: Some(obj(json!({
                    "type": "object",
                    "properties": {"summary": {"type": "string"}},
                }))),
                strict: Some(true),
            })),
        }),
        reasoning_effort: Some("low".into()),
        provider_options: Some(obj(json!({
            "generationConfig": {"topK": 40},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "contents": "ignored",
        }))),
        ..ChatRequest::default()
    }
}

#[test]
fn request_translates_every_feature() {
    let body = chat_body("gemini-2.5-flash", &full_request()).unwrap();
    assert_eq!(
        body,
        json!({
            "systemInstruction": {"parts": [{"text": "be brief"}, {"text": "answer in French"}]},
            "contents": [
                {"role": "user", "parts": [
                    {"text": "Weather in both cities? And what is in these?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photos/cat.JPG?size=large"}},
                    {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                ]},
                {"role": "model", "parts": [
                    {"text": "Checking."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}}},
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
                    {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
                ]},
                {"role": "user", "parts": [{"text": "Thanks!"}]},
            ],
            "tools": [{"functionDeclarations": [{
                "name": "get_weather",
                "description": "Current weather",
                "parametersJsonSchema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": false,
                },
            }]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "generationConfig": {
                "temperature": 0.5,
                "topP": 0.9,
                "maxOutputTokens": 256,
                "candidateCount": 2,
                "stopSequences": ["END"],
                "seed": 7,
                "presencePenalty": 0.1,
                "frequencyPenalty": 0.2,
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "properties": {"summary": {"type": "string"}}},
                "thinkingConfig": {"thinkingBudget": 1024},
                "topK": 40,
            },
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        })
    );
}

#[test]
fn gemini_3_gets_levels_and_signature_placeholders() {
    assert_eq!(generation("gemini-2.5-flash"), Some(2));
    assert_eq!(generation("gemini-3-pro-preview"), Some(3));
    assert_eq!(
        generation("publishers/google/models/gemini-3.1-flash"),
        Some(3)
    );
    assert_eq!(generation("tunedModels/mine"), None);
    assert_eq!(generation("gemini-embedding-001"), None);
    let body = chat_body("gemini-3-pro-preview", &full_request()).unwrap();
    let parts = &body["contents"][1]["parts"];
    assert_eq!(parts[1]["thoughtSignature"], SKIP_SIGNATURE);
    assert!(
        parts[2].get("thoughtSignature").is_none(),
        "only the first call of a step"
    );
    assert_eq!(
        body["generationConfig"]["thinkingConfig"],
        json!({"thinkingLevel": "low"})
    );
}

#[test]
fn tool_choice_modes_and_json_object() {
    let mut req = full_request();
    for (mode, want) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
        req.tool_choice = Some(ToolChoice {
            choice: Some(ToolChoiceKind::Mode(mode.into())),
        });
        let body = chat_body("gemini-2.0-flash", &req).unwrap();
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": want}})
        );
    }
    req.response_format = Some(ResponseFormat {
        format: Some(Format::JsonObject(true)),
    });
    let body = chat_body("gemini-2.0-flash", &req).unwrap();
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(body["generationConfig"].get("responseJsonSchema").is_none());
}

fn invalid_param(result: Result<Value, ProviderError>) -> String {
    match result {
        Err(ProviderError::InvalidRequest { param, .. }) => param,
        other => panic!("expected an invalid request, got {other:?}"),
    }
}

#[test]
fn untranslatable_requests_name_the_field() {
    let mut req = full_request();
    req.messages[4].tool_call_id = Some("call_unknown".into());
    assert_eq!(
        invalid_param(chat_body("gemini-2.5-flash", &req)),
        "messages[4].tool_call_id"
    );
    let mut req = full_request();
    req.messages[2].tool_calls[1]
        .function
        .as_mut()
        .unwrap()
        .arguments = "[1]".into();
    assert_eq!(
        invalid_param(chat_body("gemini-2.5-flash", &req)),
        "messages[2].tool_calls[1].function.arguments"
    );
    let mut req = full_request();
    req.messages[1].content[1] = image("data:image/png,notbase64");
    assert_eq!(
        invalid_param(chat_body("gemini-2.5-flash", &req)),
        "messages[1].content[1].image_url.url"
    );
    req.messages[1].content[1] = image("file:///etc/passwd");
    assert_eq!(
        invalid_param(chat_body("gemini-2.5-flash", &req)),
        "messages[1].content[1].image_url.url"
    );
    let mut req = full_request();
    req.seed = Some(1 << 40);
    assert_eq!(invalid_param(chat_body("gemini-2.5-flash", &req)), "seed");
    let mut req = full_request();
    req.reasoning_effort = Some("extreme".into());
    assert_eq!(
        invalid_param(chat_body("gemini-2.5-flash", &req)),
        "reasoning_effort"
    );
    let req = ChatRequest {
        messages: vec![msg(Role::System, vec![text("only a system prompt")])],
        ..ChatRequest::default()
    };
    assert_eq!(
        invalid_param(chat_body("gemini-2.5-flash", &req)),
        "messages"
    );
    let req = ChatRequest {
        messages: vec![msg(Role::User, vec![])],
        ..ChatRequest::default()
    };
    assert_eq!(
        invalid_param(chat_body("gemini-2.5-flash", &req)),
        "messages[0].content"
    );
}

fn google() -> Google {
    Google::new("g".into(), Vec::new())
}

fn simple() -> ChatRequest {
    ChatRequest {
        messages: vec![msg(Role::User, vec![text("Name three colors.")])],
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn answers_usage_and_finish_reasons() {
    let answer: WireResponse = serde_json::from_str(CHAT).unwrap();
    let response = chat_response(answer, &google(), "gemini-2.5-flash", &simple())
        .await
        .unwrap();
    assert_eq!(response.id, "mFbXaO7xEpOG7dcPyP2XmQk");
    assert_eq!(response.model, "gemini-2.5-flash");
    let choice = &response.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::Stop as i32);
    let message = choice.message.as_ref().unwrap();
    assert_eq!(message.role, Role::Assistant as i32);
    assert_eq!(message.content, vec![text("Red, green and blue.")]);
    assert_eq!(
        response.usage,
        Some(Usage {
            prompt_tokens: 1200,
            completion_tokens: 7 + 128,
            total_tokens: 1335,
            cached_prompt_tokens: 1024,
            reasoning_tokens: 128,
            estimated: false,
            cache_write_prompt_tokens: 0,
        })
    );

    let answer: WireResponse = serde_json::from_str(CHAT_TOOLS).unwrap();
    let response = chat_response(answer, &google(), "gemini-2.5-flash", &simple())
        .await
        .unwrap();
    let choice = &response.choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let calls = &choice.message.as_ref().unwrap().tool_calls;
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0].id, calls[1].id);
    assert!(
        calls
            .iter()
            .all(|c| c.id.starts_with("call_") && c.id.len() <= 40)
    );
    let f = calls[1].function.as_ref().unwrap();
    assert_eq!(f.name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&f.arguments).unwrap(),
        json!({"city": "Tokyo", "unit": "celsius"})
    );

    for (reason, calls, want) in [
        ("STOP", false, Some(FinishReason::Stop)),
        ("MAX_TOKENS", true, Some(FinishReason::Length)),
        ("SAFETY", false, Some(FinishReason::ContentFilter)),
        ("RECITATION", false, Some(FinishReason::ContentFilter)),
        ("BLOCKLIST", false, Some(FinishReason::ContentFilter)),
        (
            "PROHIBITED_CONTENT",
            false,
            Some(FinishReason::ContentFilter),
        ),
        ("SPII", false, Some(FinishReason::ContentFilter)),
        ("OTHER", false, Some(FinishReason::Stop)),
        ("STOP", true, Some(FinishReason::ToolCalls)),
        ("FINISH_REASON_UNSPECIFIED", false, None),
    ] {
        assert_eq!(finish_reason(Some(reason), calls), want, "{reason}");
    }
    assert_eq!(finish_reason(None, true), None);
}

#[tokio::test]
async fn blocked_prompts_and_missing_usage() {
    let answer: WireResponse = serde_json::from_str(BLOCKED).unwrap();
    let err = chat_response(answer, &google(), "m", &simple())
        .await
        .unwrap_err();
    let api = switchyard_error::ApiError::from(&err);
    assert_eq!(api.code, switchyard_error::ErrorCode::ContentFiltered);
    assert_eq!(api.upstream_code.as_deref(), Some("content_filter"));

    let answer: WireResponse = serde_json::from_value(json!({
        "candidates": [{"content": {"parts": [{"text": "thinking...", "thought": true}, {"text": "Red, green, blue."}]}, "finishReason": "STOP"}],
        "usageMetadata": {"trafficType": "ON_DEMAND"},
    }))
    .unwrap();
    let response = chat_response(answer, &google(), "gemini-x", &simple())
        .await
        .unwrap();
    assert_eq!(response.model, "gemini-x");
    assert!(response.id.starts_with("chatcmpl-"));
    assert_eq!(
        response.choices[0].message.as_ref().unwrap().content,
        vec![text("Red, green, blue.")],
        "thought summaries are not the answer"
    );
    let reasoning = &response.choices[0].message.as_ref().unwrap().reasoning;
    assert_eq!(reasoning.len(), 1);
    assert_eq!(
        (reasoning[0].text.as_str(), reasoning[0].signature.as_str()),
        ("thinking...", ""),
        "they are its reasoning, unsigned"
    );
    let usage = response.usage.unwrap();
    // "Name three colors." is 4 tokens + 4 per message + 3 priming; the answer 6,
    // and the summary ("thinking...") 2 more: thoughts are billed as output.
    assert!(usage.estimated);
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (11, 8));
}

fn body_of(
    pieces: Vec<Vec<u8>>,
) -> futures::stream::BoxStream<'static, Result<Bytes, http::TransportError>> {
    futures::stream::iter(pieces.into_iter().map(|p| Ok(Bytes::from(p)))).boxed()
}

async fn run(pieces: Vec<Vec<u8>>) -> (Vec<ChatChunk>, Option<ProviderError>) {
    let translator = Translator::new(google(), "gemini-2.5-flash", &simple());
    let mut stream = SseStream::new(body_of(pieces), translator).into_chunks();
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => chunks.push(chunk),
            Err(e) => {
                assert!(stream.next().await.is_none(), "an error ends the stream");
                return (chunks, Some(e));
            }
        }
    }
    (chunks, None)
}

fn streamed_text(chunks: &[ChatChunk]) -> String {
    chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.as_ref()?.content.clone())
        .collect()
}

#[tokio::test]
async fn stream_text_split_anywhere_gives_the_same_chunks() {
    let (whole, error) = run(vec![STREAM_TEXT.to_vec()]).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(whole.len(), 4, "three text chunks and the usage chunk");
    assert_eq!(streamed_text(&whole), "Red, green and blue.");
    assert_eq!(
        whole[0].choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    assert_eq!(whole[1].choices[0].delta.as_ref().unwrap().role, 0);
    assert_eq!(whole[2].choices[0].finish_reason, FinishReason::Stop as i32);
    assert!(whole.iter().all(|c| c.id == "ylnXaLuUL4mF7dcPw8fIsAk"));
    let last = whole.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(
        last.usage,
        Some(Usage {
            prompt_tokens: 1200,
            completion_tokens: 135,
            total_tokens: 1335,
            cached_prompt_tokens: 1024,
            reasoning_tokens: 128,
            ..Usage::default()
        })
    );
    let strip = |chunks: Vec<ChatChunk>| -> Vec<ChatChunk> {
        chunks
            .into_iter()
            .map(|c| ChatChunk { created: 0, ..c })
            .collect()
    };
    let whole = strip(whole);
    for cut in (0..=STREAM_TEXT.len()).step_by(7) {
        let (a, b) = STREAM_TEXT.split_at(cut);
        let (chunks, error) = run(vec![a.to_vec(), b.to_vec()]).await;
        assert!(error.is_none(), "split at {cut}: {error:?}");
        assert_eq!(strip(chunks), whole, "split at {cut}");
    }
    let bytes: Vec<Vec<u8>> = STREAM_TEXT.chunks(1).map(<[u8]>::to_vec).collect();
    assert_eq!(strip(run(bytes).await.0), whole);
    // LF line endings and keep-alive comments read the same.
    let lf = String::from_utf8(STREAM_TEXT.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .replace("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \", green", ": keep-alive\n\ndata: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \", green");
    assert_eq!(strip(run(vec![lf.into_bytes()]).await.0), whole);
}

#[tokio::test]
async fn stream_function_calls_arrive_whole() {
    let (chunks, error) = run(vec![STREAM_TOOLS.to_vec()]).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 3);
    assert_eq!(streamed_text(&chunks), "Checking both cities.");
    let choice = &chunks[1].choices[0];
    assert_eq!(choice.finish_reason, FinishReason::ToolCalls as i32);
    let calls = &choice.delta.as_ref().unwrap().tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].index, calls[1].index), (0, 1));
    assert_ne!(calls[0].id, calls[1].id);
    let f = calls[0].function.as_ref().unwrap();
    assert_eq!(f.name.as_deref(), Some("get_weather"));
    assert_eq!(
        serde_json::from_str::<Value>(f.arguments.as_deref().unwrap()).unwrap(),
        json!({"city": "Paris", "unit": "celsius"})
    );
    let usage = chunks[2].usage.as_ref().unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.reasoning_tokens
        ),
        (85, 91, 50)
    );
}

#[tokio::test]
async fn cut_malformed_and_unfinished_streams_end_with_an_error() {
    let text = STREAM_TEXT.to_vec();
    // Cut inside the last event.
    let (chunks, error) = run(vec![text[..text.len() - 40].to_vec()]).await;
    assert_eq!(chunks.len(), 2);
    assert!(
        matches!(error, Some(ProviderError::StreamEnded { .. })),
        "{error:?}"
    );
    // Cut after a whole event, before any finishReason.
    let first_event = text.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (chunks, error) = run(vec![text[..first_event].to_vec()]).await;
    assert_eq!(chunks.len(), 1);
    assert!(
        matches!(error, Some(ProviderError::StreamEnded { .. })),
        "{error:?}"
    );
    // Nothing at all.
    let (chunks, error) = run(vec![]).await;
    assert!(chunks.is_empty());
    assert!(
        matches!(error, Some(ProviderError::StreamEnded { .. })),
        "{error:?}"
    );
    // A malformed event mid-stream.
    let mut bad = text[..first_event].to_vec();
    bad.extend_from_slice(b"data: {not json\r\n\r\n");
    bad.extend_from_slice(&text[first_event..]);
    let (chunks, error) = run(vec![bad]).await;
    assert_eq!(chunks.len(), 1);
    assert!(
        matches!(error, Some(ProviderError::Malformed { what: "event", .. })),
        "{error:?}"
    );
    // The last event without its blank line is still read.
    let trimmed = text[..text.len() - 4].to_vec();
    let (chunks, error) = run(vec![trimmed]).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 4);
}

#[tokio::test]
async fn stream_error_events_and_blocks() {
    let event = |v: Value| format!("data: {v}\r\n\r\n").into_bytes();
    let (_, error) = run(vec![event(json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}))]).await;
    let api = switchyard_error::ApiError::from(&error.unwrap());
    assert_eq!(api.code, switchyard_error::ErrorCode::UpstreamUnavailable);
    assert!(api.retryable);
    let (_, error) = run(vec![event(serde_json::from_str(BLOCKED).unwrap())]).await;
    let api = switchyard_error::ApiError::from(&error.unwrap());
    assert_eq!(api.code, switchyard_error::ErrorCode::ContentFiltered);
}

#[tokio::test]
async fn json_array_streams_replay_under_the_contract() {
    let events: Vec<Value> = String::from_utf8(STREAM_TEXT.to_vec())
        .unwrap()
        .split("\r\n\r\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let body = serde_json::to_vec(&events).unwrap();
    let chunks = replay(Translator::new(google(), "m", &simple()), &body)
        .await
        .unwrap();
    assert_eq!(chunks.len(), 4);
    assert_eq!(streamed_text(&chunks), "Red, green and blue.");
    let unfinished = serde_json::to_vec(&events[..2]).unwrap();
    let err = replay(Translator::new(google(), "m", &simple()), &unfinished)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::StreamEnded { .. }));
}

/// Files are `inlineData`, or `fileData` by URI, with their media type.
#[test]
fn files_are_inline_data_or_file_uris() {
    let file = |data: &str, url: &str, media_type: &str| ContentPart {
        part: Some(Part::File(FileData {
            data: data.into(),
            url: url.into(),
            media_type: media_type.into(),
            filename: String::new(),
        })),
    };
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![
                file("JVBERi0=", "", ""),
                file("", "gs://bucket/r.pdf", "application/pdf"),
            ],
            ..Message::default()
        }],
        ..ChatRequest::default()
    };
    let body = chat_body("gemini-2.5-flash", &req).unwrap();
    assert_eq!(
        body["contents"][0]["parts"],
        json!([
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
            {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/r.pdf"}},
        ])
    );
}

/// A thought signature comes back as Gemini-marked reasoning and goes back on
/// the part it came on: the first function call (instead of the placeholder),
/// or the last part of a turn without calls.
#[tokio::test]
async fn thought_signatures_round_trip_to_their_part() {
    let answer: WireResponse = serde_json::from_value(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
            {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
        ]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 4, "totalTokenCount": 9},
    }))
    .unwrap();
    let response = chat_response(answer, &google(), "gemini-3-pro-preview", &simple())
        .await
        .unwrap();
    let message = response.choices[0].message.clone().unwrap();
    assert_eq!(message.reasoning.len(), 1);
    assert_eq!(message.reasoning[0].signature, "gemini:c2lnLTE=");
    assert!(!crate::signature::is_claude(&message.reasoning[0]));

    let mut req = simple();
    req.messages.push(message);
    let body = chat_body("gemini-3-pro-preview", &req).unwrap();
    let parts = body["contents"].as_array().unwrap().last().unwrap()["parts"].clone();
    assert_eq!(parts[0]["thoughtSignature"], "c2lnLTE=");
    assert!(parts[1].get("thoughtSignature").is_none());

    let mut text_turn = simple();
    text_turn.messages.push(Message {
        role: Role::Assistant as i32,
        content: vec![text("Red, green, blue.")],
        reasoning: vec![super::response::signed("c2lnLTI=")],
        ..Message::default()
    });
    let body = chat_body("gemini-3-pro-preview", &text_turn).unwrap();
    let parts = body["contents"].as_array().unwrap().last().unwrap()["parts"].clone();
    assert_eq!(
        parts,
        json!([{"text": "Red, green, blue.", "thoughtSignature": "c2lnLTI="}])
    );
}
