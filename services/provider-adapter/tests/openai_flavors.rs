//! Kinds `openai` and `azure-openai`, and the openai-compatible presets whose
//! servers depart from OpenAI's format: the exact request each one sends, built
//! from config as the service builds it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::*;
use futures::StreamExt;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::types::v1::EmbedRequest;
use switchyard_provider_adapter::ProviderAdapter;

/// An adapter whose provider `up` is `[[providers]]` `extra` (TOML lines after
/// `kind`), reading its key from CARGO_PKG_NAME: a variable Cargo sets for test
/// processes, so the environment is not mutated.
fn adapter(kind: &str, extra: &str) -> ProviderAdapter {
    let toml = format!(
        "version = 1\n[[providers]]\nname = \"{PROVIDER}\"\nkind = \"{kind}\"\napi_key_env = \"CARGO_PKG_NAME\"\n{extra}\n"
    );
    let config = switchyard_config::load_str(&toml).unwrap();
    ProviderAdapter::from_config(&config).unwrap()
}

const KEY_VALUE: &str = "switchyard-provider-adapter";

fn limited_request() -> switchyard_proto::types::v1::ChatRequest {
    let mut req = simple_request();
    req.max_tokens = Some(50);
    req.seed = Some(7);
    req
}

#[tokio::test]
async fn azure_uses_deployment_urls_api_version_and_api_key() {
    let upstream = Upstream::start(vec![
        Reply::json(200, std::str::from_utf8(&fixture("openai_chat.json")).unwrap()),
        Reply::json(
            200,
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":3,"total_tokens":3}}"#,
        ),
    ])
    .await;
    let base = format!("http://{}", upstream.addr);
    let mut client = client_of(adapter("azure-openai", &format!("base_url = \"{base}\"")));
    client
        .chat(chat(PROVIDER, "gpt-4o prod", limited_request()))
        .await
        .unwrap();
    client
        .embed(embed(
            PROVIDER,
            "embed-small",
            EmbedRequest {
                model: "e".into(),
                input: vec!["hello there".into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let recorded = upstream.recorded();
    let chat_call = &recorded[0];
    assert_eq!(
        chat_call.path,
        "/openai/deployments/gpt-4o%20prod/chat/completions"
    );
    assert_eq!(chat_call.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(chat_call.header("api-key"), Some(KEY_VALUE));
    assert_eq!(chat_call.authorization, None);
    assert_eq!(chat_call.body["max_completion_tokens"], 50);
    assert!(chat_call.body.get("max_tokens").is_none());
    let embed_call = &recorded[1];
    assert_eq!(
        embed_call.path,
        "/openai/deployments/embed-small/embeddings"
    );
    assert_eq!(embed_call.query.as_deref(), Some("api-version=2024-10-21"));
}

#[tokio::test]
async fn azure_content_filter_is_a_stable_invalid_argument() {
    // Azure's documented refusal of a prompt by its content filter.
    let body = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}"#;
    let upstream = Upstream::start(vec![Reply::json(400, body)]).await;
    let base = format!("http://{}", upstream.addr);
    let mut client = client_of(adapter(
        "azure-openai",
        &format!("base_url = \"{base}\"\napi_version = \"2025-01-01-preview\""),
    ));
    let status = client
        .chat(chat(PROVIDER, "gpt-4o", simple_request()))
        .await
        .unwrap_err();
    let err = ApiError::from_status(&status);
    assert_eq!(err.code, ErrorCode::ContentFiltered);
    assert!(!err.retryable);
    assert_eq!(
        upstream.recorded()[0].query.as_deref(),
        Some("api-version=2025-01-01-preview")
    );
}

#[tokio::test]
async fn openai_kind_sends_max_completion_tokens_with_a_bearer_key() {
    let upstream = Upstream::start(vec![Reply::json(
        200,
        std::str::from_utf8(&fixture("openai_chat.json")).unwrap(),
    )])
    .await;
    let mut client = client_of(adapter(
        "openai",
        &format!("base_url = \"{}\"", upstream.base_url()),
    ));
    client
        .chat(chat(PROVIDER, "o4-mini", limited_request()))
        .await
        .unwrap();
    let call = &upstream.recorded()[0];
    assert_eq!(call.path, "/v1/chat/completions");
    assert_eq!(
        call.authorization.as_deref(),
        Some("Bearer switchyard-provider-adapter")
    );
    assert_eq!(call.body["max_completion_tokens"], 50);
    assert_eq!(call.body["seed"], 7);
}

#[tokio::test]
async fn mistral_preset_renames_the_seed_and_asks_no_stream_options() {
    // Mistral's stream: usage arrives on the last chunk without stream_options.
    let sse = concat!(
        "data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732000000,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"cmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732000000,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":14,\"completion_tokens\":2}}\n\n",
        "data: [DONE]\n\n",
    );
    let upstream = Upstream::start(vec![Reply::sse(sse.as_bytes())]).await;
    let mut client = client_of(adapter(
        "openai-compatible",
        &format!(
            "preset = \"mistral\"\nbase_url = \"{}\"",
            upstream.base_url()
        ),
    ));
    let mut stream = client
        .chat_stream(chat(PROVIDER, "mistral-small-latest", limited_request()))
        .await
        .unwrap()
        .into_inner();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item.unwrap());
    }
    let usage = last.unwrap().usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 2));
    assert!(!usage.estimated);
    let call = &upstream.recorded()[0];
    assert_eq!(call.body["random_seed"], 7);
    assert!(call.body.get("seed").is_none());
    assert!(call.body.get("stream_options").is_none());
    assert_eq!(call.body["max_tokens"], 50);
}

#[tokio::test]
async fn deepseek_cache_hits_count_as_cached_prompt_tokens() {
    let body = r#"{"id":"a1","object":"chat.completion","created":1732000000,"model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":2,"total_tokens":32,"prompt_tokens_details":{"cached_tokens":0},"prompt_cache_hit_tokens":24,"prompt_cache_miss_tokens":6},"system_fingerprint":"fp_1"}"#;
    let upstream = Upstream::start(vec![Reply::json(200, body)]).await;
    let mut client = client_of(adapter(
        "openai-compatible",
        &format!(
            "preset = \"deepseek\"\nbase_url = \"{}\"",
            upstream.base_url()
        ),
    ));
    let answer = client
        .chat(chat(PROVIDER, "deepseek-chat", simple_request()))
        .await
        .unwrap()
        .into_inner();
    let usage = answer.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.cached_prompt_tokens), (30, 24));
}

#[test]
fn presets_need_no_base_url_and_unknown_presets_name_the_key() {
    let config = |extra: &str| {
        switchyard_config::load_str(&format!(
            "version = 1\n[[providers]]\nname = \"g\"\nkind = \"openai-compatible\"\n{extra}\n"
        ))
    };
    let c = config("preset = \"groq\"").unwrap();
    assert_eq!(
        c.providers[0].effective_base_url().as_deref(),
        Some("https://api.groq.com/openai/v1")
    );
    let err = config("preset = \"nope\"").unwrap_err().to_string();
    assert!(err.contains("providers[0].preset"), "{err}");
    let err = switchyard_config::load_str(
        "version = 1\n[[providers]]\nname = \"a\"\nkind = \"azure-openai\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("providers[0].base_url"), "{err}");
}
