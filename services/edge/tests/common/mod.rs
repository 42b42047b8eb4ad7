//! A scripted fake Gateway, a scripted fake UsageQuery, a scripted fake auth admin
//! API, and an edge served on 127.0.0.1:0 in front of them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod auth;
pub mod responses;
pub mod usage;

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::Stream;
use switchyard_config::EdgeConfig;
use switchyard_proto::gateway::v1::gateway_server::{Gateway, GatewayServer};
use switchyard_proto::gateway::v1::{
    GetKeyInfoRequest, KeyInfo, ListModelsRequest, ListModelsResponse, Model,
};
use switchyard_proto::types::v1 as pb;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: &'static str,
    pub metadata: MetadataMap,
    pub chat: Option<pb::ChatRequest>,
    pub embed: Option<pb::EmbedRequest>,
}

/// What ChatStream answers.
pub enum StreamScript {
    /// The call itself fails.
    Fail(Status),
    /// These items, then the end of the stream.
    Items(Vec<Result<pb::ChatChunk, Status>>),
    /// Items as the test sends them; the test sees the receiver dropped on cancel.
    Channel(mpsc::Receiver<Result<pb::ChatChunk, Status>>),
}

#[derive(Default)]
struct Script {
    calls: Vec<Call>,
    chat: Option<Result<pb::ChatResponse, Status>>,
    stream: Option<StreamScript>,
    embed: Option<Result<pb::EmbedResponse, Status>>,
    models: Option<Result<ListModelsResponse, Status>>,
    count: Option<Result<pb::TokenCount, Status>>,
}

/// The fake Gateway: records every call, answers as scripted.
#[derive(Clone, Default)]
pub struct FakeGateway {
    script: Arc<Mutex<Script>>,
}

impl FakeGateway {
    pub fn answer_chat(&self, answer: Result<pb::ChatResponse, Status>) {
        self.script.lock().unwrap().chat = Some(answer);
    }
    pub fn answer_stream(&self, answer: StreamScript) {
        self.script.lock().unwrap().stream = Some(answer);
    }
    pub fn answer_embed(&self, answer: Result<pb::EmbedResponse, Status>) {
        self.script.lock().unwrap().embed = Some(answer);
    }
    pub fn answer_models(&self, answer: Result<ListModelsResponse, Status>) {
        self.script.lock().unwrap().models = Some(answer);
    }
    pub fn answer_count(&self, answer: Result<pb::TokenCount, Status>) {
        self.script.lock().unwrap().count = Some(answer);
    }
    pub fn calls(&self) -> Vec<Call> {
        self.script.lock().unwrap().calls.clone()
    }
    pub fn last(&self) -> Call {
        self.calls().pop().expect("no call reached the gateway")
    }
    fn record(&self, call: Call) {
        self.script.lock().unwrap().calls.push(call);
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<pb::ChatChunk, Status>> + Send>>;

#[tonic::async_trait]
impl Gateway for FakeGateway {
    async fn chat(
        &self,
        request: Request<pb::ChatRequest>,
    ) -> Result<Response<pb::ChatResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.record(Call {
            method: "Chat",
            metadata,
            chat: Some(message),
            embed: None,
        });
        let answer = self.script.lock().unwrap().chat.clone();
        answer
            .unwrap_or_else(|| Ok(chat_response("hello")))
            .map(Response::new)
    }

    type ChatStreamStream = ChunkStream;

    async fn chat_stream(
        &self,
        request: Request<pb::ChatRequest>,
    ) -> Result<Response<ChunkStream>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.record(Call {
            method: "ChatStream",
            metadata,
            chat: Some(message),
            embed: None,
        });
        let script = self.script.lock().unwrap().stream.take();
        let stream: ChunkStream = match script {
            Some(StreamScript::Fail(status)) => return Err(status),
            Some(StreamScript::Items(items)) => Box::pin(futures::stream::iter(items)),
            Some(StreamScript::Channel(rx)) => {
                Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
            }
            None => Box::pin(futures::stream::iter(standard_stream().into_iter().map(Ok))),
        };
        Ok(Response::new(stream))
    }

    async fn embed(
        &self,
        request: Request<pb::EmbedRequest>,
    ) -> Result<Response<pb::EmbedResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.record(Call {
            method: "Embed",
            metadata,
            chat: None,
            embed: Some(message),
        });
        let answer = self.script.lock().unwrap().embed.clone();
        answer
            .unwrap_or_else(|| Err(Status::unimplemented("no embed script")))
            .map(Response::new)
    }

    async fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let (metadata, _, _) = request.into_parts();
        self.record(Call {
            method: "ListModels",
            metadata,
            chat: None,
            embed: None,
        });
        let answer = self.script.lock().unwrap().models.clone();
        answer
            .unwrap_or_else(|| {
                Ok(ListModelsResponse {
                    models: vec![Model {
                        id: "gw-model".into(),
                        created: 1_700_000_000,
                        owned_by: "switchyard".into(),
                    }],
                })
            })
            .map(Response::new)
    }

    async fn count_tokens(
        &self,
        request: Request<pb::ChatRequest>,
    ) -> Result<Response<pb::TokenCount>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.record(Call {
            method: "CountTokens",
            metadata,
            chat: Some(message),
            embed: None,
        });
        let answer = self.script.lock().unwrap().count.clone();
        answer
            .unwrap_or_else(|| {
                Ok(pb::TokenCount {
                    input_tokens: 42,
                    estimated: false,
                    provider: "fake-provider".into(),
                })
            })
            .map(Response::new)
    }

    async fn get_key_info(
        &self,
        _: Request<GetKeyInfoRequest>,
    ) -> Result<Response<KeyInfo>, Status> {
        Err(Status::unimplemented("the real router answers this"))
    }
}

pub fn text(t: &str) -> pb::ContentPart {
    pb::ContentPart {
        part: Some(pb::content_part::Part::Text(t.into())),
    }
}

pub fn usage(prompt: u64, completion: u64) -> pb::Usage {
    pb::Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        cached_prompt_tokens: 1,
        reasoning_tokens: 0,
        estimated: false,
        cache_write_prompt_tokens: 0,
    }
}

pub fn chat_response(content: &str) -> pb::ChatResponse {
    pb::ChatResponse {
        id: "chatcmpl-1".into(),
        created: 1_700_000_000,
        model: "gpt-test".into(),
        choices: vec![pb::Choice {
            index: 0,
            message: Some(pb::Message {
                role: pb::Role::Assistant.into(),
                content: vec![text(content)],
                ..Default::default()
            }),
            finish_reason: pb::FinishReason::Stop.into(),
            logprobs: None,
        }],
        usage: Some(usage(3, 1)),
        system_fingerprint: None,
        provider: "mock-1".into(),
    }
}

pub fn content_chunk(
    role: Option<pb::Role>,
    content: &str,
    finish: pb::FinishReason,
) -> pb::ChatChunk {
    pb::ChatChunk {
        id: "chatcmpl-1".into(),
        created: 1_700_000_000,
        model: "gpt-test".into(),
        choices: vec![pb::ChunkChoice {
            index: 0,
            delta: Some(pb::Delta {
                role: role.map_or(0, Into::into),
                content: (!content.is_empty()).then(|| content.to_string()),
                ..Default::default()
            }),
            finish_reason: finish.into(),
            logprobs: None,
        }],
        usage: None,
        system_fingerprint: None,
    }
}

pub fn usage_chunk() -> pb::ChatChunk {
    pb::ChatChunk {
        id: "chatcmpl-1".into(),
        created: 1_700_000_000,
        model: "gpt-test".into(),
        choices: vec![],
        usage: Some(usage(3, 2)),
        system_fingerprint: None,
    }
}

/// A reasoning block with its signature.
pub fn signed(text: &str, signature: &str) -> pb::Reasoning {
    pb::Reasoning {
        text: text.into(),
        signature: signature.into(),
        redacted: false,
    }
}

/// A redacted reasoning block: only its encrypted data.
pub fn redacted(data: &str) -> pb::Reasoning {
    pb::Reasoning {
        text: String::new(),
        signature: data.into(),
        redacted: true,
    }
}

/// A chunk adding one reasoning fragment.
pub fn reasoning_chunk(
    index: u32,
    text: Option<&str>,
    signature: Option<&str>,
    redacted: bool,
) -> pb::ChatChunk {
    let mut c = content_chunk(None, "", pb::FinishReason::Unspecified);
    c.choices[0].delta.as_mut().unwrap().reasoning = vec![pb::ReasoningDelta {
        index,
        text: text.map(Into::into),
        signature: signature.map(Into::into),
        redacted,
    }];
    c
}

/// role chunk, "hel", "lo", finish, usage.
pub fn standard_stream() -> Vec<pb::ChatChunk> {
    vec![
        content_chunk(Some(pb::Role::Assistant), "", pb::FinishReason::Unspecified),
        content_chunk(None, "hel", pb::FinishReason::Unspecified),
        content_chunk(None, "lo", pb::FinishReason::Unspecified),
        content_chunk(None, "", pb::FinishReason::Stop),
        usage_chunk(),
    ]
}

/// A named-event stream's `(event name, data)` pairs; every data's `type` must be
/// its event's name (Anthropic's `error` event aside).
pub fn named_events(body: &str) -> Vec<(String, serde_json::Value)> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').expect("two lines");
            let name = name.strip_prefix("event: ").expect("event line");
            let data = data.strip_prefix("data: ").expect("data line");
            let data: serde_json::Value = serde_json::from_str(data).unwrap();
            if name != "error" {
                assert_eq!(data["type"], name);
            }
            (name.to_string(), data)
        })
        .collect()
}

/// An edge on 127.0.0.1:0 in front of the fakes; shut down when dropped.
pub struct Edge {
    pub base: String,
    pub fake: FakeGateway,
    pub usage: usage::FakeUsage,
    pub responses: responses::FakeResponses,
    pub auth: auth::FakeAuth,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Edge {
    pub async fn start() -> Self {
        Self::start_with(EdgeConfig::default()).await
    }

    pub async fn start_with(config: EdgeConfig) -> Self {
        let fake = FakeGateway::default();
        let usage = usage::FakeUsage::default();
        let responses = responses::FakeResponses::default();
        let auth = auth::FakeAuth::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let channel = switchyard_grpc::in_process(GatewayServer::new(fake.clone()));
        let metering_channel = switchyard_grpc::in_process(
            tonic::service::Routes::default()
                .add_service(usage.server())
                .add_service(responses.server()),
        );
        let auth_channel = switchyard_grpc::in_process(auth.routes());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let server = tokio::spawn(async move {
            switchyard_edge::serve_with(
                listener,
                &config,
                switchyard_edge::Backends::channels(channel, metering_channel, auth_channel),
                token,
            )
            .await
            .unwrap();
        });
        Self {
            base,
            fake,
            usage,
            responses,
            auth,
            http: client(),
            shutdown,
            server: Some(server),
        }
    }

    /// Fires the shutdown token, as `switchyard serve` does on SIGTERM.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Waits until `serve_with` has returned (successfully).
    pub async fn stopped(&mut self) {
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .header("authorization", "Bearer sk-test-123")
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(path))
            .header("authorization", "Bearer sk-test-123")
    }
}

/// A client that ignores proxy settings of the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A minimal valid chat body.
pub fn chat_body() -> serde_json::Value {
    serde_json::json!({
        "model": "gw-model",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    })
}

/// Asserts an OpenAI error answer and returns its `error` object.
pub async fn expect_error(
    response: reqwest::Response,
    status: u16,
    kind: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].clone();
    assert_eq!(error["type"], kind, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    error
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"))
                .to_string()
        })
        .collect()
}
