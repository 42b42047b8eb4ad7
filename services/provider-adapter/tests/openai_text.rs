//! Text completions (`text_prompt`) through the `openai-compatible` kind, the mock,
//! and a kind without a completions API (over its chat API), through the gRPC
//! surface.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::*;
use serde_json::json;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_grpc::GrpcChannel;
use switchyard_proto::provider::v1::provider_client::ProviderClient;
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

/// An adapter with one Anthropic provider `up` at `upstream`.
fn anthropic(upstream: &Upstream) -> ProviderClient<GrpcChannel> {
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"up\"\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key_env = \"CARGO_PKG_NAME\"\n",
        upstream.base_url()
    );
    let config = switchyard_config::load_str(&toml).unwrap();
    client_of(ProviderAdapter::from_config(&config).unwrap())
}

/// The user message of a recorded Anthropic request.
fn prompt_sent(seen: &Recorded) -> String {
    assert_eq!(seen.path, "/v1/messages");
    let messages = seen.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{}", seen.body);
    assert_eq!(messages[0]["role"], "user");
    let content = &messages[0]["content"];
    content
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| content[0]["text"].as_str().unwrap().to_string())
}

/// A kind without a completions API serves a text prompt over its chat API: the
/// prompt as the only user message, the echoed prompt in front of the answer
/// (unary and streamed), the provider's usage as it reported it.
#[tokio::test]
async fn a_chat_only_kind_serves_text_prompts_over_its_chat_api() {
    let upstream = Upstream::start(vec![
        Reply::json(
            200,
            std::str::from_utf8(&fixture("anthropic/messages_text.json")).unwrap(),
        ),
        Reply::sse(&fixture("anthropic/stream_text.sse")),
    ])
    .await;
    let mut client = anthropic(&upstream);
    let answer = client
        .chat(chat(PROVIDER, "claude", text_request(&["Hello"], true)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(prompt_sent(&upstream.recorded()[0]), "Hello");
    assert_eq!(upstream.recorded()[0].body["max_tokens"], 7);
    let texts: Vec<(u32, &str)> = answer
        .choices
        .iter()
        .map(|c| (c.index, text_of(c)))
        .collect();
    assert_eq!(texts, [(0, "HelloRed, green and blue.")]);
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (2095, 503));

    let (chunks, error) = drain(
        &mut client,
        chat(PROVIDER, "claude", text_request(&["One"], true)),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(prompt_sent(&upstream.recorded()[1]), "One");
    assert_eq!(streamed_text(&chunks), "OneHello!");
    let usage = chunks.last().unwrap().usage.as_ref().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (25, 15));
}

/// What only a completions API can do is refused before any call, naming the
/// parameter.
#[tokio::test]
async fn a_chat_only_kind_refuses_what_needs_a_completions_api() {
    let upstream = Upstream::start(vec![]).await;
    let mut client = anthropic(&upstream);
    let mut suffix = text_request(&["def f():"], false);
    suffix.text_prompt.as_mut().unwrap().suffix = Some("return 1".into());
    let mut scoring = text_request(&["Hello"], true);
    scoring.logprobs = Some(true);
    let mut zero = text_request(&["Hello"], true);
    zero.max_tokens = Some(0);
    for (req, param) in [
        (suffix, "suffix"),
        (scoring, "logprobs"),
        (zero, "max_tokens"),
    ] {
        let status = client
            .chat(chat(PROVIDER, "claude", req.clone()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let error = ApiError::from_status(&status);
        assert_eq!(error.code, ErrorCode::InvalidRequest);
        assert_eq!(error.param.as_deref(), Some(param));
        assert!(
            error.message.contains("text-completions API"),
            "{}",
            error.message
        );
        let status = client
            .chat_stream(chat(PROVIDER, "claude", req))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    assert!(upstream.recorded().is_empty());
}
