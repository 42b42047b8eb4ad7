//! `POST /v1/completions` against a fake Gateway: the request as the Gateway gets
//! it (a `text_prompt`), the `text_completion` answer, and a refusal naming the
//! caller's own field.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::{Edge, chat_response};
use serde_json::{Value, json};
use switchyard_error::ApiError;

#[tokio::test]
async fn prompt_travels_as_text_prompt_and_answers_as_text_completion() {
    let edge = Edge::start().await;
    edge.fake.answer_chat(Ok(chat_response(" world")));
    let response = edge
        .http
        .post(edge.url("/v1/completions"))
        .bearer_auth("sk-test")
        .json(
            &json!({"model": "base", "prompt": "hello", "suffix": "!", "max_tokens": 4,
                      "logit_bias": {"50256": -100}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-provider"], "mock-1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["choices"][0]["text"], " world");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let chat = edge.fake.last().chat.unwrap();
    assert!(chat.messages.is_empty());
    let text = chat.text_prompt.unwrap();
    assert_eq!(text.prompts, ["hello"]);
    assert_eq!(text.suffix.as_deref(), Some("!"));
    assert_eq!(chat.max_tokens, Some(4));
    assert!(
        chat.provider_options
            .unwrap()
            .fields
            .contains_key("logit_bias")
    );
}

#[tokio::test]
async fn a_refused_text_prompt_names_prompt() {
    let edge = Edge::start().await;
    edge.fake.answer_chat(Err(ApiError::invalid(
        "text_prompt",
        "provider `claude` has no text-completions API",
    )
    .to_status()));
    let response = edge
        .http
        .post(edge.url("/v1/completions"))
        .bearer_auth("sk-test")
        .json(&json!({"model": "claude", "prompt": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["param"], "prompt", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
}
