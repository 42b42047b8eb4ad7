//! The `mock` kind through the gRPC surface, and the standalone server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::*;
use futures::StreamExt;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::provider::v1::provider_client::ProviderClient;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, FinishReason, Role,
};
use switchyard_provider_adapter::ProviderAdapter;
use tokio_util::sync::CancellationToken;
use tonic::Code;

fn config(extra: &str) -> switchyard_config::Config {
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"mock\"\nkind = \"mock\"\ncompletion_tokens = 12\n{extra}"
    );
    switchyard_config::load_str(&toml).unwrap()
}

fn mock_client(extra: &str) -> ProviderClient<switchyard_grpc::GrpcChannel> {
    client_of(ProviderAdapter::from_config(&config(extra)).unwrap())
}

fn answer_text(answer: &ChatResponse) -> String {
    match &answer.choices[0].message.as_ref().unwrap().content[0].part {
        Some(Part::Text(t)) => t.clone(),
        other => panic!("{other:?}"),
    }
}

/// The unary answer to `req`.
async fn ask(
    client: &mut ProviderClient<switchyard_grpc::GrpcChannel>,
    req: ChatRequest,
) -> ChatResponse {
    client
        .chat(chat("mock", "m", req))
        .await
        .unwrap()
        .into_inner()
}

/// Every chunk of the stream answering `req`.
async fn stream_all(
    client: &mut ProviderClient<switchyard_grpc::GrpcChannel>,
    req: ChatRequest,
) -> Vec<ChatChunk> {
    let mut stream = client
        .chat_stream(chat("mock", "m", req))
        .await
        .unwrap()
        .into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.unwrap());
    }
    chunks
}

fn request(prompt: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![text(Role::System, "be brief"), text(Role::User, prompt)],
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn answers_are_deterministic_with_exact_usage() {
    let mut client = mock_client("");
    let a = client
        .chat(chat("mock", "mock-model", request("hello")))
        .await
        .unwrap()
        .into_inner();
    let b = client
        .chat(chat("mock", "mock-model", request("hello")))
        .await
        .unwrap()
        .into_inner();
    let c = client
        .chat(chat("mock", "mock-model", request("something else")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer_text(&a), answer_text(&b));
    assert_ne!(answer_text(&a), answer_text(&c));
    let text = answer_text(&a);
    assert_eq!(text.split(' ').count(), 12);
    assert!(text.split(' ').all(|w| !w.is_empty()));
    assert_eq!(a.model, "mock-model");
    assert_eq!(a.choices[0].finish_reason, FinishReason::Stop as i32);
    let usage = a.usage.unwrap();
    // o200k_base: "be brief" 2 and "hello" 1, each message + 4, the reply + 3.
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (15, 12, 27)
    );
    assert!(!usage.estimated);
}

#[tokio::test]
async fn small_max_tokens_stops_with_length() {
    let mut client = mock_client("");
    let mut req = request("hello");
    req.max_tokens = Some(3);
    let answer = client
        .chat(chat("mock", "m", req))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer_text(&answer).split(' ').count(), 3);
    assert_eq!(answer.choices[0].finish_reason, FinishReason::Length as i32);
    assert_eq!(answer.usage.unwrap().completion_tokens, 3);
}

#[tokio::test]
async fn stream_matches_the_unary_answer_and_ends_with_usage() {
    let mut client = mock_client("tokens_per_second = 10000\nlatency_ms = 1\n");
    let unary = ask(&mut client, request("hello")).await;
    let chunks = stream_all(&mut client, request("hello")).await;
    assert_eq!(chunks.len(), 1 + 12 + 1 + 1, "role, words, finish, usage");
    assert_eq!(
        chunks[0].choices[0].delta.as_ref().unwrap().role,
        Role::Assistant as i32
    );
    let text: String = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.as_ref()?.content.clone())
        .collect();
    assert_eq!(text, answer_text(&unary));
    assert_eq!(
        chunks[13].choices[0].finish_reason,
        FinishReason::Stop as i32
    );
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage, unary.usage);
    assert!(chunks.iter().all(|c| c.id == last.id && c.model == "m"));
}

#[tokio::test]
async fn n_choices_take_turns_and_count_every_token() {
    let mut client = mock_client("");
    let one = ask(&mut client, request("hello")).await;
    let mut req = request("hello");
    req.n = Some(3);
    req.max_tokens = Some(4);
    let unary = ask(&mut client, req.clone()).await;
    let texts: Vec<String> = unary
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c.index as usize, i);
            assert_eq!(c.finish_reason, FinishReason::Length as i32);
            match &c.message.as_ref().unwrap().content[0].part {
                Some(Part::Text(t)) => t.clone(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(texts.len(), 3);
    assert!(answer_text(&one).starts_with(&texts[0]));
    assert!(texts.iter().all(|t| t.split(' ').count() == 4));
    assert_ne!(texts[1], texts[0]);
    assert_eq!(unary.usage.as_ref().unwrap().completion_tokens, 12);

    let chunks = stream_all(&mut client, req).await;
    // Role, four words and the finish, for each of three choices; then usage.
    assert_eq!(chunks.len(), 3 * (1 + 4 + 1) + 1);
    let order: Vec<u32> = chunks[..18].iter().map(|c| c.choices[0].index).collect();
    assert_eq!(order, [0, 1, 2].repeat(6));
    let mut streamed = vec![String::new(); 3];
    for choice in chunks.iter().flat_map(|c| &c.choices) {
        if let Some(content) = choice.delta.as_ref().and_then(|d| d.content.as_ref()) {
            streamed[choice.index as usize].push_str(content);
        }
    }
    assert_eq!(streamed, texts);
    assert_eq!(
        chunks[17].choices[0].finish_reason,
        FinishReason::Length as i32
    );
    assert_eq!(chunks[18].usage, unary.usage);
}

#[tokio::test]
async fn token_count_is_the_prompt_its_answers_report() {
    let mut client = mock_client("");
    let answer = ask(&mut client, request("hello")).await;
    let count = client
        .count_tokens(chat("mock", "m", request("hello")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(count.input_tokens, answer.usage.unwrap().prompt_tokens);
    assert!(!count.estimated);
}

/// Asked for log probabilities, every word has one (the same unary and streamed),
/// with `top_logprobs` alternatives led by the word itself; unasked, none.
#[tokio::test]
async fn logprobs_cover_every_word_and_match_streamed() {
    let mut client = mock_client("");
    let plain = ask(&mut client, request("how sure are you")).await;
    assert!(plain.choices[0].logprobs.is_none());
    let mut req = request("how sure are you");
    req.logprobs = Some(true);
    req.top_logprobs = Some(3);
    let answer = ask(&mut client, req.clone()).await;
    let tokens = &answer.choices[0].logprobs.as_ref().unwrap().content;
    let joined: String = tokens.iter().map(|t| t.token.as_str()).collect();
    assert_eq!(joined, answer_text(&answer));
    assert_eq!(tokens.len(), 12);
    for t in tokens {
        assert!(t.logprob <= 0.0 && t.logprob > -2.0, "{t:?}");
        assert_eq!(t.bytes, t.token.as_bytes());
        assert_eq!(t.top_logprobs.len(), 3);
        assert_eq!(t.top_logprobs[0].token, t.token);
        assert!(t.top_logprobs[2].logprob < t.top_logprobs[1].logprob);
    }
    let streamed: Vec<_> = stream_all(&mut client, req)
        .await
        .into_iter()
        .filter_map(|c| c.choices.into_iter().next()?.logprobs)
        .flat_map(|l| l.content)
        .collect();
    assert_eq!(&streamed, tokens);

    let mut too_many = request("x");
    too_many.logprobs = Some(true);
    too_many.top_logprobs = Some(21);
    let status = client.chat(chat("mock", "m", too_many)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn more_than_128_choices_is_invalid_argument() {
    let mut client = mock_client("");
    let mut req = request("hello");
    req.n = Some(129);
    let status = client
        .chat(chat("mock", "m", req.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(ApiError::from_status(&status).param.as_deref(), Some("n"));
    let status = client
        .chat_stream(chat("mock", "m", req))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn failure_rate_one_always_fails_retryably() {
    let mut client = mock_client("failure_rate = 1.0\n");
    let status = client
        .chat(chat("mock", "m", request("hi")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let err = ApiError::from_status(&status);
    assert_eq!(err.code, ErrorCode::UpstreamUnavailable);
    assert!(err.retryable);
    assert!(
        client
            .chat_stream(chat("mock", "m", request("hi")))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn embeddings_are_deterministic_unit_vectors() {
    let mut client = mock_client("");
    let req = EmbedRequest {
        input: vec!["hello".into(), "world".into(), "hello".into()],
        ..EmbedRequest::default()
    };
    let answer = client
        .embed(embed("mock", "emb", req))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.model, "emb");
    assert_eq!(answer.data.len(), 3);
    for (i, e) in answer.data.iter().enumerate() {
        assert_eq!(e.index as usize, i);
        assert_eq!(e.values.len(), 16);
        let norm: f32 = e.values.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    assert_eq!(answer.data[0].values, answer.data[2].values);
    assert_ne!(answer.data[0].values, answer.data[1].values);
    let usage = answer.usage.unwrap();
    // The mock's rule: a token per four characters of each input, rounded up.
    assert_eq!((usage.prompt_tokens, usage.estimated), (6, false));

    let req = EmbedRequest {
        input: vec!["x".into()],
        dimensions: Some(5),
        ..EmbedRequest::default()
    };
    let answer = client
        .embed(embed("mock", "emb", req))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.data[0].values.len(), 5);
}

#[tokio::test]
async fn serve_runs_until_shutdown() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let cfg = config("");
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { switchyard_provider_adapter::serve(listener, &cfg, shutdown).await }
    });
    let channel = switchyard_grpc::connect_lazy("test", &format!("http://{addr}")).unwrap();
    let mut client = ProviderClient::new(channel);
    let answer = client
        .chat(chat("mock", "m", request("hello")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer_text(&answer).split(' ').count(), 12);
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
