//! Unit tests of the Anthropic stream translation: recorded event streams fed in
//! pieces, and every way a stream can go wrong.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::http;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{ContentPart, Message, Usage};

const TEXT: &[u8] = include_bytes!("../../tests/fixtures/anthropic/stream_text.sse");
const TOOLS: &[u8] = include_bytes!("../../tests/fixtures/anthropic/stream_tools.sse");

fn request() -> ChatRequest {
    ChatRequest {
        model: "alias".into(),
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![ContentPart {
                part: Some(Part::Text("Hello".into())),
            }],
            ..Message::default()
        }],
        ..ChatRequest::default()
    }
}

type Item = Result<ChatChunk, ProviderError>;

async fn run(pieces: Vec<Vec<u8>>) -> Vec<Item> {
    let body = futures::stream::iter(
        pieces
            .into_iter()
            .map(|p| Ok::<_, http::TransportError>(Bytes::from(p))),
    );
    translate(body, "p".into(), "m", &request()).collect().await
}

async fn run_whole(bytes: &[u8]) -> Vec<Item> {
    run(vec![bytes.to_vec()]).await
}

fn text_of(items: &[Item]) -> String {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.as_ref()?.content.clone())
        .collect()
}

/// Chunks compared without `created` (the clock).
fn comparable(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Ok(c) => format!(
                "{:?}",
                ChatChunk {
                    created: 0,
                    ..c.clone()
                }
            ),
            Err(e) => format!("error {e:?}"),
        })
        .collect()
}

#[tokio::test]
async fn documented_text_stream_split_at_every_byte() {
    let whole = run_whole(TEXT).await;
    assert_eq!(whole.len(), 5, "role, two texts, finish, usage");
    let first = whole[0].as_ref().unwrap();
    assert_eq!(first.id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
    assert_eq!(first.model, "claude-opus-4-1-20250805");
    assert_eq!(
        first.choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    assert_eq!(text_of(&whole), "Hello!");
    let finish = whole[3].as_ref().unwrap();
    assert_eq!(finish.choices[0].finish_reason, FinishReason::Stop as i32);
    let last = whole[4].as_ref().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(
        last.usage,
        Some(Usage {
            prompt_tokens: 25,
            completion_tokens: 15,
            total_tokens: 40,
            ..Usage::default()
        })
    );
    let want = comparable(&whole);
    for cut in 0..=TEXT.len() {
        let (a, b) = TEXT.split_at(cut);
        let got = run(vec![a.to_vec(), b.to_vec()]).await;
        assert_eq!(comparable(&got), want, "split at {cut}");
    }
    let bytes: Vec<Vec<u8>> = TEXT.chunks(1).map(<[u8]>::to_vec).collect();
    assert_eq!(comparable(&run(bytes).await), want);
}

#[tokio::test]
async fn crlf_line_endings_read_the_same() {
    let crlf = String::from_utf8(TEXT.to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    let got = run(crlf.as_bytes().chunks(3).map(<[u8]>::to_vec).collect()).await;
    assert_eq!(comparable(&got), comparable(&run_whole(TEXT).await));
}

#[tokio::test]
async fn parallel_tool_calls_are_renumbered_from_zero() {
    let items = run_whole(TOOLS).await;
    assert!(items.iter().all(Result::is_ok));
    let mut calls: Vec<(String, String, String)> = vec![Default::default(); 2];
    for delta in items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .flat_map(|c| &c.choices)
        .flat_map(|c| &c.delta.as_ref().unwrap().tool_calls)
    {
        let call = &mut calls[delta.index as usize];
        if let Some(id) = &delta.id {
            call.0.push_str(id);
            assert_eq!(delta.r#type.as_deref(), Some("function"));
        }
        let f = delta.function.as_ref().unwrap();
        call.1.push_str(f.name.as_deref().unwrap_or_default());
        call.2.push_str(f.arguments.as_deref().unwrap_or_default());
    }
    assert_eq!(
        calls,
        vec![
            (
                "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                "get_weather".into(),
                r#"{"city": "Paris"}"#.into()
            ),
            (
                "toolu_01Vq6nTmWbVHDHbJ3FQzwLds".into(),
                "get_weather".into(),
                r#"{"city": "Oslo"}"#.into()
            ),
        ]
    );
    assert_eq!(text_of(&items), "Checking both cities.");
    let n = items.len();
    let finish = items[n - 2].as_ref().unwrap();
    assert_eq!(
        finish.choices[0].finish_reason,
        FinishReason::ToolCalls as i32
    );
    assert_eq!(
        items[n - 1].as_ref().unwrap().usage,
        Some(Usage {
            prompt_tokens: 472 + 1024 + 2048,
            completion_tokens: 89,
            total_tokens: 472 + 1024 + 2048 + 89,
            cached_prompt_tokens: 2048,
            reasoning_tokens: 0,
            estimated: false,
            cache_write_prompt_tokens: 1024,
        })
    );
}

const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n";
const BLOCK: &str = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
const END: &str = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":3}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

#[tokio::test]
async fn error_event_mid_stream_ends_it() {
    let body = format!(
        "{START}{BLOCK}event: error\ndata: {{\"type\": \"error\", \"error\": {{\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}}}\n\n{END}"
    );
    let items = run_whole(body.as_bytes()).await;
    assert_eq!(items.len(), 3, "role, text, error; nothing after");
    match &items[2] {
        Err(ProviderError::Upstream { status, error, .. }) => {
            assert_eq!(*status, None);
            assert_eq!(error.kind.as_deref(), Some("overloaded_error"));
            assert_eq!(error.message.as_deref(), Some("Overloaded"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn eof_before_message_stop_is_an_error() {
    let body = format!("{START}{BLOCK}");
    let items = run_whole(body.as_bytes()).await;
    assert_eq!(items.len(), 3);
    assert!(matches!(items[2], Err(ProviderError::StreamEnded { .. })));
    assert!(
        items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .all(|c| c.usage.is_none())
    );
    // A body cut inside an event, and an empty body.
    let items = run_whole(&TEXT[..TEXT.len() - 10]).await;
    assert!(matches!(
        items.last(),
        Some(Err(ProviderError::StreamEnded { .. }))
    ));
    let items = run(Vec::new()).await;
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0], Err(ProviderError::StreamEnded { .. })));
    // OpenAI's end marker is not Anthropic's.
    let items = run_whole(format!("{START}data: [DONE]\n\n").as_bytes()).await;
    assert!(matches!(
        items.last(),
        Some(Err(ProviderError::StreamEnded { .. }))
    ));
}

#[tokio::test]
async fn malformed_event_ends_the_stream() {
    let body = format!(
        "{START}event: content_block_delta\ndata: {{\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {{\"ty\n\n{END}"
    );
    let items = run_whole(body.as_bytes()).await;
    assert_eq!(items.len(), 2);
    assert!(matches!(
        items[1],
        Err(ProviderError::Malformed { what: "event", .. })
    ));
}

#[tokio::test]
async fn thinking_blocks_are_reasoning_and_unknown_events_are_skipped() {
    let extra = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"abc\"}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"EnCrYpTeD\"}}\n\nevent: brand_new_event\ndata: {\"type\":\"brand_new_event\",\"x\":1}\n\n: comment\n\n";
    let body = format!("{START}{BLOCK}{extra}{END}");
    let items = run_whole(body.as_bytes()).await;
    assert!(items.iter().all(Result::is_ok));
    assert_eq!(text_of(&items), "Hi");
    assert_eq!(
        items.len(),
        8,
        "role, text, thinking start, its text, its signature, redacted, finish, usage"
    );
    let reasoning: Vec<ReasoningDelta> = items
        .iter()
        .flat_map(|i| i.as_ref().unwrap().choices.iter())
        .flat_map(|c| c.delta.as_ref().unwrap().reasoning.clone())
        .collect();
    let fragment = |index, text: Option<&str>, signature: Option<&str>, redacted| ReasoningDelta {
        index,
        text: text.map(Into::into),
        signature: signature.map(Into::into),
        redacted,
    };
    assert_eq!(
        reasoning,
        [
            fragment(0, Some(""), None, false),
            fragment(0, Some("hmm"), None, false),
            fragment(0, None, Some("abc"), false),
            fragment(1, Some(""), Some("EnCrYpTeD"), true),
        ]
    );
    let finish = items[6].as_ref().unwrap();
    assert_eq!(finish.choices[0].finish_reason, FinishReason::Length as i32);
    let usage = items[7].as_ref().unwrap().usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (9, 3));
}

#[tokio::test]
async fn missing_usage_is_estimated() {
    let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_2\",\"content\":[],\"model\":\"claude-x\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Red, green, blue.\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let items = run_whole(body.as_bytes()).await;
    let usage = items.last().unwrap().as_ref().unwrap().usage.unwrap();
    assert!(usage.estimated);
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
}
