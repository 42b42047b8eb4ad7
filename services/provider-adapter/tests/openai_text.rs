//! Text completions (`text_prompt`) through the `openai-compatible` kind, the mock,
//! and a kind without a completions API, through the gRPC surface.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::*;
use serde_json::json;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{ChatRequest, FinishReason, TextPrompt, Usage};
use switchyard_provider_adapter::ProviderAdapter;
use tonic::Code;

fn text_request(prompts: &[&str], echo: bool) -> ChatRequest {
    ChatRequest {
        model: "base".into(),
        max_tokens: Some(7),
        text_prompt: Some(TextPrompt {
            prompts: prompts.iter().map(|p| (*p).to_string()).collect(),
            suffix: None,
            echo,
        }),
        ..ChatRequest::default()
    }
}

fn text_of(answer: &switchyard_proto::types::v1::Choice) -> &str {
    match &answer.message.as_ref().unwrap().content[0].part {
        Some(Part::Text(t)) => t,
        other => panic!("{other:?}"),
    }
}

/// OpenAI's documented `text_completion` answer and stream, from `POST
/// /completions` with the prompt as sent.
#[tokio::test]
async fn openai_compatible_posts_to_completions_and_reads_text() {
    let upstream = Upstream::start(vec![
        Reply::json(
            200,
            std::str::from_utf8(&fixture("openai_completion.json")).unwrap(),
        ),
        Reply::sse(&fixture("openai_completion_stream.sse")),
    ])
    .await;
    let mut client = upstream.client();
    let answer = client
        .chat(chat(
            PROVIDER,
            "gpt-3.5-turbo-instruct",
            text_request(&["Say this is a test"], false),
        ))
        .await
        .unwrap()
        .into_inner();
    let seen = &upstream.recorded()[0];
    assert_eq!(seen.path, "/v1/completions");
    assert_eq!(
        seen.body,
        json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7})
    );
    assert_eq!(answer.id, "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7");
    assert_eq!(text_of(&answer.choices[0]), "\n\nThis is indeed a test");
    assert_eq!(answer.choices[0].finish_reason, FinishReason::Length as i32);
    assert_eq!(
        answer.usage,
        Some(Usage {
            prompt_tokens: 5,
            completion_tokens: 7,
            total_tokens: 12,
            ..Usage::default()
        })
    );

    let (chunks, error) = drain(
        &mut client,
        chat(
            PROVIDER,
            "gpt-3.5-turbo-instruct",
            text_request(&["Say this is a test"], false),
        ),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(upstream.recorded()[1].path, "/v1/completions");
    assert_eq!(upstream.recorded()[1].body["stream"], json!(true));
    assert_eq!(streamed_text(&chunks), "This is a test");
    let last = chunks.last().unwrap();
    assert_eq!(last.usage.as_ref().unwrap().completion_tokens, 4);
    assert!(!last.usage.as_ref().unwrap().estimated);
}

/// The mock completes each prompt `n` times, numbered prompt by prompt, with the
/// prompt in front when echoed, unary and streamed alike.
#[tokio::test]
async fn mock_answers_every_prompt_n_times() {
    let config = switchyard_config::load_str(
        "version = 1\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\ncompletion_tokens = 3\n",
    )
    .unwrap();
    let mut client = client_of(ProviderAdapter::from_config(&config).unwrap());
    let mut req = text_request(&["Once upon a time", "def f():"], true);
    req.n = Some(2);
    req.max_tokens = None;
    let answer = client
        .chat(chat("mock", "m", req.clone()))
        .await
        .unwrap()
        .into_inner();
    let indexes: Vec<u32> = answer.choices.iter().map(|c| c.index).collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
    for (i, choice) in answer.choices.iter().enumerate() {
        let prompt = if i < 2 {
            "Once upon a time "
        } else {
            "def f(): "
        };
        assert!(text_of(choice).starts_with(prompt), "{:?}", text_of(choice));
        assert_eq!(
            text_of(choice).split(' ').count(),
            prompt.split(' ').count() - 1 + 3
        );
    }
    assert_eq!(answer.usage.as_ref().unwrap().completion_tokens, 12);

    let (chunks, error) = drain(&mut client, chat("mock", "m", req)).await;
    assert!(error.is_none(), "{error:?}");
    for (i, choice) in answer.choices.iter().enumerate() {
        let streamed: String = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter(|c| c.index == i as u32)
            .filter_map(|c| c.delta.as_ref()?.content.clone())
            .collect();
        assert_eq!(streamed, text_of(choice), "choice {i}");
    }
}

/// A kind without a completions API refuses a text prompt before any call,
/// naming the field; chat requests to it are unaffected.
#[tokio::test]
async fn a_kind_without_completions_refuses_before_calling() {
    let upstream = Upstream::start(vec![]).await;
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"up\"\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"CARGO_PKG_NAME\"\n",
        upstream.base_url()
    );
    let config = switchyard_config::load_str(&toml).unwrap();
    let mut client = client_of(ProviderAdapter::from_config(&config).unwrap());
    let status = client
        .chat(chat(PROVIDER, "claude", text_request(&["Hello"], false)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let error = ApiError::from_status(&status);
    assert_eq!(error.code, ErrorCode::InvalidRequest);
    assert_eq!(error.param.as_deref(), Some("text_prompt"));
    assert!(
        error.message.contains("no text-completions API"),
        "{}",
        error.message
    );
    let status = client
        .chat_stream(chat(PROVIDER, "claude", text_request(&["Hello"], false)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(upstream.recorded().is_empty());
}
