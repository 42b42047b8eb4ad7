//! OpenAI's legacy text completions (`POST /v1/completions`) through the whole
//! gateway, both shapes: to an OpenAI-compatible upstream's `/v1/completions` and
//! to the mock, unary and streamed, billed once each; and `text_prompt` over gRPC.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use switchyard_proto::metering::v1::Outcome;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{ChatRequest, TextPrompt};
use switchyard_tests::roundtrip::stream_chunks as chunks;
use switchyard_tests::{Mesh, Shape, Upstream, both_shapes, with_key};

both_shapes!(
    text_completions_reach_the_upstream_and_bill_once,
    text_completions_stream_per_choice,
    text_prompts_over_grpc_and_bad_prompts,
);

struct Env {
    upstream: Upstream,
    mesh: Mesh,
    key: String,
    http: reqwest::Client,
}

async fn env(shape: Shape) -> Env {
    let upstream = Upstream::start().await;
    let mesh = Mesh::start(shape, &upstream.base_url()).await;
    let (key, _) = mesh.create_key("acme", &[]).await;
    Env {
        upstream,
        mesh,
        key,
        http: reqwest::Client::new(),
    }
}

impl Env {
    /// Status, request id and body text of a `POST /v1/completions`.
    async fn complete(&self, body: Value) -> (u16, String, String) {
        let resp = self
            .http
            .post(format!("{}/v1/completions", self.mesh.base_url()))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        (status, id, resp.text().await.unwrap())
    }
}

async fn text_completions_reach_the_upstream_and_bill_once(shape: Shape) {
    let env = env(shape).await;
    let (status, id, text) = env
        .complete(json!({"model": "chat-model", "prompt": "Once upon a time",
                         "max_tokens": 16, "echo": true, "logprobs": 2, "best_of": 1}))
        .await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "text_completion");
    let choice = &body["choices"][0];
    assert_eq!(
        choice["text"],
        "Once upon a time continues Once upon a time"
    );
    assert_eq!(choice["finish_reason"], "stop");
    let logprobs = &choice["logprobs"];
    assert_eq!(logprobs["tokens"][0], "Once upon a time");
    assert_eq!(logprobs["token_logprobs"][0], Value::Null);
    assert_eq!(logprobs["token_logprobs"][1], -0.25);
    assert_eq!(logprobs["text_offset"], json!([0, 16, 26, 31, 36, 38]));
    assert_eq!(
        logprobs["top_logprobs"][1],
        json!({" continues": -0.25, "alt1": -1.25})
    );

    let sent = &env.upstream.requests()[0];
    assert_eq!(sent.path, "/v1/completions");
    assert_eq!(
        sent.body,
        json!({"model": "gpt-test", "prompt": "Once upon a time", "max_tokens": 16,
               "echo": true, "logprobs": 2, "best_of": 1})
    );

    let usage = &body["usage"];
    let record = env.mesh.wait_usage(&id).await;
    assert_eq!(record.requested_model, "chat-model");
    assert_eq!(
        (record.prompt_tokens, record.completion_tokens),
        (
            usage["prompt_tokens"].as_u64().unwrap(),
            usage["completion_tokens"].as_u64().unwrap()
        )
    );
    assert!(!record.usage_estimated);
    assert_eq!(record.outcome, Outcome::Ok as i32);
    // $0.15 / $0.60 per million tokens, rounded half up once.
    let expected =
        (record.prompt_tokens * 150_000 + record.completion_tokens * 600_000 + 500_000) / 1_000_000;
    assert_eq!(record.cost_micros, expected as i64);
    assert_eq!(env.mesh.tenant_usage("acme").await.len(), 1);
    env.mesh.shutdown().await;
}

async fn text_completions_stream_per_choice(shape: Shape) {
    let env = env(shape).await;
    let request = json!({"model": "chat-model", "prompt": ["def add(a, b):", "SELECT"],
                         "suffix": "return c", "n": 2});
    let (status, _, text) = env.complete(request.clone()).await;
    assert_eq!(status, 200, "{text}");
    let whole: Value = serde_json::from_str(&text).unwrap();
    let texts: Vec<&str> = whole["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [" fills before return c"; 4]);

    let mut streamed = request;
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (status, id, text) = env.complete(streamed).await;
    assert_eq!(status, 200, "{text}");
    let chunks = chunks(&text);
    let mut per_choice = vec![String::new(); 4];
    for c in &chunks {
        assert_eq!(c["object"], "text_completion");
        for choice in c["choices"].as_array().unwrap() {
            let i = choice["index"].as_u64().unwrap() as usize;
            per_choice[i].push_str(choice["text"].as_str().unwrap());
        }
    }
    assert_eq!(per_choice, texts);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], whole["usage"]);
    assert_eq!(env.upstream.requests()[1].path, "/v1/completions");
    let record = env.mesh.wait_usage(&id).await;
    assert!(record.stream);
    assert_eq!(
        record.completion_tokens,
        last["usage"]["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(env.mesh.tenant_usage("acme").await.len(), 2);
    env.mesh.shutdown().await;
}

async fn text_prompts_over_grpc_and_bad_prompts(shape: Shape) {
    let env = env(shape).await;
    let mut client = GatewayClient::new(Mesh::channel(env.mesh.grpc));
    let request = ChatRequest {
        model: "mock-model".into(),
        text_prompt: Some(TextPrompt {
            prompts: vec!["Roses are red".into()],
            suffix: None,
            echo: true,
        }),
        ..ChatRequest::default()
    };
    let answer = client
        .chat(with_key(request.clone(), &env.key))
        .await
        .unwrap()
        .into_inner();
    let Some(Part::Text(text)) = &answer.choices[0].message.as_ref().unwrap().content[0].part
    else {
        panic!("{answer:?}")
    };
    assert!(text.starts_with("Roses are red "), "{text}");

    let mut both = request;
    both.messages = switchyard_tests::text_chat("mock-model", "hi").messages;
    let status = client.chat(with_key(both, &env.key)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    for (body, param) in [
        (json!({"model": "mock-model"}), "prompt"),
        (json!({"model": "mock-model", "prompt": [[1, 2]]}), "prompt"),
        (
            json!({"model": "mock-model", "prompt": "x", "logprobs": 50}),
            "logprobs",
        ),
        (
            json!({"model": "mock-model", "prompt": "x", "max_tokens": "many"}),
            "max_tokens",
        ),
    ] {
        let (status, _, text) = env.complete(body).await;
        assert_eq!(status, 400, "{text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{text}");
        assert_eq!(error["error"]["param"], param, "{text}");
    }
    env.mesh.shutdown().await;
}
