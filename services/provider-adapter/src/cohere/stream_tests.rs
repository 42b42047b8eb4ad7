//! Unit tests of the Cohere stream translation, fed bodies split at every byte.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::http;

const TEXT: &[u8] = include_bytes!("../../tests/fixtures/cohere/stream_text.sse");
const TOOLS: &[u8] = include_bytes!("../../tests/fixtures/cohere/stream_tools.sse");

/// Every item of the stream translated from `pieces`: chunks, or the error's text.
async fn run(pieces: Vec<Vec<u8>>, framing: Framing) -> Vec<Result<ChatChunk, String>> {
    let body = futures::stream::iter(
        pieces
            .into_iter()
            .map(|p| Ok::<_, http::TransportError>(Bytes::from(p))),
    );
    translate(
        body,
        framing,
        "co".into(),
        "command-a",
        &ChatRequest::default(),
    )
    .map(|item| item.map_err(|e| e.to_string()))
    .collect()
    .await
}

async fn run_sse(bytes: &[u8]) -> Vec<Result<ChatChunk, String>> {
    run(vec![bytes.to_vec()], Framing::Sse).await
}

fn text(items: &[Result<ChatChunk, String>]) -> String {
    items
        .iter()
        .flatten()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.as_ref()?.content.clone())
        .collect()
}

fn usage(items: &[Result<ChatChunk, String>]) -> Usage {
    let last = items.last().unwrap().as_ref().unwrap();
    assert!(last.choices.is_empty(), "the usage chunk comes last");
    last.usage.unwrap()
}

fn event(kind: &str, json: &str) -> String {
    format!("event: {kind}\ndata: {json}\n\n")
}

const START: &str = r#"{"id":"r1","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#;
const END: &str = r#"{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":3,"output_tokens":2}}}}"#;

fn delta(t: &str) -> String {
    event(
        "content-delta",
        &format!(
            r#"{{"type":"content-delta","index":0,"delta":{{"message":{{"content":{{"text":"{t}"}}}}}}}}"#
        ),
    )
}

#[tokio::test]
async fn text_stream_split_anywhere() {
    let whole = run_sse(TEXT).await;
    assert_eq!(whole.len(), 9, "role, 6 texts, finish, usage");
    assert!(whole.iter().all(Result::is_ok));
    let first = whole[0].as_ref().unwrap();
    assert_eq!(first.id, "a8fc192e-4bb8-4e15-ae1f-a174e8b02ae8");
    assert_eq!(first.model, "command-a");
    assert_eq!(
        first.choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    assert_eq!(text(&whole), "Red, green and blue.");
    let finish = whole[7].as_ref().unwrap();
    assert_eq!(finish.choices[0].finish_reason, FinishReason::Stop as i32);
    let u = usage(&whole);
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.estimated),
        (6, 6, false)
    );
    for cut in (0..TEXT.len()).step_by(13) {
        let (a, b) = TEXT.split_at(cut);
        let items = run(vec![a.to_vec(), b.to_vec()], Framing::Sse).await;
        assert_eq!(text(&items), "Red, green and blue.", "split at {cut}");
        assert_eq!(items.len(), 9, "split at {cut}");
    }
    let bytes = TEXT.iter().map(|b| vec![*b]).collect();
    assert_eq!(
        text(&run(bytes, Framing::Sse).await),
        "Red, green and blue."
    );
    let crlf = String::from_utf8(TEXT.to_vec())
        .unwrap()
        .replace('\n', "\r\n");
    let bytes = crlf.bytes().map(|b| vec![b]).collect();
    assert_eq!(
        text(&run(bytes, Framing::Sse).await),
        "Red, green and blue."
    );
}

#[tokio::test]
async fn parallel_tool_calls_and_the_plan_is_not_content() {
    let items = run_sse(TOOLS).await;
    assert!(items.iter().all(Result::is_ok));
    assert_eq!(text(&items), "", "the tool plan is not content");
    let mut calls: Vec<(String, String, String)> = vec![Default::default(); 2];
    for d in items
        .iter()
        .flatten()
        .flat_map(|c| &c.choices)
        .flat_map(|c| &c.delta.as_ref().unwrap().tool_calls)
    {
        let call = &mut calls[d.index as usize];
        if let Some(id) = &d.id {
            call.0.push_str(id);
            assert_eq!(d.r#type.as_deref(), Some("function"));
        }
        let f = d.function.as_ref().unwrap();
        call.1.push_str(f.name.as_deref().unwrap_or_default());
        call.2.push_str(f.arguments.as_deref().unwrap_or_default());
    }
    assert_eq!(
        calls,
        vec![
            (
                "get_weather_p1t92w7gfgq7".into(),
                "get_weather".into(),
                "{\n    \"location\": \"Madrid\"\n}".into()
            ),
            (
                "get_weather_ay6nmvjgp9vn".into(),
                "get_weather".into(),
                "{\n    \"location\": \"Brasilia\"\n}".into()
            ),
        ]
    );
    let finish = &items[items.len() - 2].as_ref().unwrap().choices[0];
    assert_eq!(finish.finish_reason, FinishReason::ToolCalls as i32);
    let u = usage(&items);
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (37, 28, 65)
    );
}

#[tokio::test]
async fn tool_indexes_are_renumbered_after_content() {
    let body = [
        event("message-start", START),
        delta("Checking."),
        event(
            "tool-call-start",
            r#"{"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"id":"t1","type":"function","function":{"name":"f","arguments":""}}}}}"#,
        ),
        event(
            "tool-call-delta",
            r#"{"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"{}"}}}}}"#,
        ),
        event("message-end", END),
    ]
    .concat();
    let items = run_sse(body.as_bytes()).await;
    let deltas: Vec<u32> = items
        .iter()
        .flatten()
        .flat_map(|c| &c.choices)
        .flat_map(|c| &c.delta.as_ref().unwrap().tool_calls)
        .map(|d| d.index)
        .collect();
    assert_eq!(deltas, vec![0, 0]);
    assert_eq!(text(&items), "Checking.");
}

#[tokio::test]
async fn message_end_ends_the_stream_and_done_is_ignored() {
    let body = [
        ": keep-alive\n\n".to_string(),
        event("message-start", START),
        "data: [DONE]\n\n".to_string(),
        delta("Hi"),
        event("message-end", END),
        "data: [DONE]\n\n".to_string(),
        "data: {not even json\n\n".to_string(),
    ]
    .concat();
    let items = run_sse(body.as_bytes()).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(text(&items), "Hi");
    assert_eq!(usage(&items).total_tokens, 5);
    // The final event may lack its blank line.
    let body = [
        event("message-start", START),
        delta("Hi"),
        format!("data: {END}"),
    ]
    .concat();
    let items = run_sse(body.as_bytes()).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(usage(&items).total_tokens, 5);
}

#[tokio::test]
async fn incomplete_streams_end_with_an_error() {
    // No message-end: the answer may be incomplete.
    let body = [event("message-start", START), delta("Hi")].concat();
    let items = run_sse(body.as_bytes()).await;
    assert_eq!(text(&items), "Hi");
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert!(err.contains("ended before completion"), "{err}");
    assert!(items.iter().flatten().all(|c| c.usage.is_none()));
    // Cut in the middle of the final event.
    let body = [
        event("message-start", START),
        "data: {\"type\":\"message-e".into(),
    ]
    .concat();
    let err = run_sse(body.as_bytes()).await.pop().unwrap().unwrap_err();
    assert!(err.contains("ended before completion"), "{err}");
    // Nothing at all.
    let err = run(vec![], Framing::Sse).await.pop().unwrap().unwrap_err();
    assert!(err.contains("ended before completion"), "{err}");
}

#[tokio::test]
async fn malformed_events_and_failed_generations_are_errors() {
    let body = [
        event("message-start", START),
        "data: {oops\n\n".into(),
        delta("late"),
    ]
    .concat();
    let items = run_sse(body.as_bytes()).await;
    assert_eq!(items.len(), 2, "the error ends the stream");
    assert!(items[1].as_ref().unwrap_err().contains("malformed event"));

    let failed = r#"{"type":"message-end","delta":{"error":"internal failure","finish_reason":"ERROR","usage":{"billed_units":{"input_tokens":3,"output_tokens":1}}}}"#;
    let body = [
        event("message-start", START),
        delta("Hi"),
        event("message-end", failed),
    ]
    .concat();
    let items = run_sse(body.as_bytes()).await;
    assert_eq!(text(&items), "Hi");
    assert!(
        items
            .last()
            .unwrap()
            .as_ref()
            .unwrap_err()
            .contains("answered with an error")
    );

    let timeout = r#"{"type":"message-end","delta":{"finish_reason":"TIMEOUT"}}"#;
    let body = [event("message-start", START), event("message-end", timeout)].concat();
    let err = run_sse(body.as_bytes()).await.pop().unwrap().unwrap_err();
    assert!(err.contains("timed out"), "{err}");

    let body = [
        event("message-start", START),
        "event: error\ndata: {\"message\":\"too many tokens: size limit exceeded by 12 tokens.\"}\n\n".into(),
    ]
    .concat();
    let err = run_sse(body.as_bytes()).await.pop().unwrap().unwrap_err();
    assert!(err.contains("answered with an error"), "{err}");
}

#[tokio::test]
async fn thinking_citations_and_unknown_events_produce_nothing() {
    let body = [
        event("message-start", START),
        event(
            "content-start",
            r#"{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"thinking","thinking":""}}}}"#,
        ),
        event(
            "content-delta",
            r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"hmm"}}}}"#,
        ),
        event(
            "content-start",
            r#"{"type":"content-start","index":1,"delta":{"message":{"content":{"type":"text","text":""}}}}"#,
        ),
        event(
            "content-delta",
            r#"{"type":"content-delta","index":1,"delta":{"message":{"content":{"text":"Yes."}}}}"#,
        ),
        event(
            "citation-start",
            r#"{"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":0,"end":3,"text":"Yes","sources":[]}}}}"#,
        ),
        event("citation-end", r#"{"type":"citation-end","index":0}"#),
        event("debug", r#"{"type":"debug","prompt":"..."}"#),
        event("future-event", r#"{"type":"future-event"}"#),
        event("message-end", END),
    ]
    .concat();
    let items = run_sse(body.as_bytes()).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(text(&items), "Yes.");
    assert_eq!(items.len(), 4, "role, text, finish, usage");
}

#[tokio::test]
async fn newline_delimited_json_and_missing_usage_is_estimated() {
    let lines = [
        START,
        r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hello"}}}}"#,
        r#"{"type":"message-end","delta":{"finish_reason":"MAX_TOKENS"}}"#,
    ]
    .join("\r\n");
    let pieces = lines.bytes().map(|b| vec![b]).collect();
    let items = run(pieces, Framing::Lines).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(text(&items), "Hello");
    let finish = &items[2].as_ref().unwrap().choices[0];
    assert_eq!(finish.finish_reason, FinishReason::Length as i32);
    let u = usage(&items);
    assert!(u.estimated);
    assert_eq!(u.completion_tokens, 1, "\"Hello\" is one token");
    let cut = run(vec![START.as_bytes().to_vec()], Framing::Lines).await;
    assert!(cut.last().unwrap().is_err());
}
