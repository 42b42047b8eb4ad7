//! Test helpers: an emulated OpenAI-compatible upstream that records every request
//! and answers from a script, and adapters wired to it through the gRPC surface.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use futures::StreamExt;
use switchyard_config::{ProviderAdapterConfig, Secret};
use switchyard_grpc::GrpcChannel;
use switchyard_proto::provider::v1::provider_client::ProviderClient;
use switchyard_proto::provider::v1::{ProviderChatRequest, ProviderEmbedRequest};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{ChatRequest, ContentPart, EmbedRequest, Message, Role};
use switchyard_provider_adapter::{ChatProvider, OpenAiCompatible, ProviderAdapter};

/// The key the test provider is configured with.
pub const KEY: &str = "sk-test-secret-123";
/// The provider name used in tests.
pub const PROVIDER: &str = "up";

/// A request the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: serde_json::Value,
    /// Every header, for kinds that authenticate or version otherwise
    /// (`x-api-key`, `anthropic-version`, `api-key`, SigV4's `authorization`).
    pub headers: HeaderMap,
    /// The query string, if any (`api-version=...`, `alt=sse`).
    pub query: Option<String>,
    /// The body as sent (signatures cover these bytes).
    pub raw_body: Vec<u8>,
}

impl Recorded {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One scripted answer.
pub enum Reply {
    /// A status, extra headers and a body sent in one piece.
    Body {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// A 200 event stream sent in pieces of `piece` bytes.
    Sse { bytes: Vec<u8>, piece: usize },
    /// A 200 streamed body of another content type (Bedrock's
    /// `application/vnd.amazon.eventstream`, Gemini's JSON array stream), sent in
    /// pieces of `piece` bytes.
    Stream {
        content_type: &'static str,
        bytes: Vec<u8>,
        piece: usize,
    },
    /// A 200 event stream whose connection breaks after `bytes`, once the test
    /// calls [`Upstream::break_connection`].
    SseReset { bytes: Vec<u8> },
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Self {
        Self::Body {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Self::Body { headers, .. } = &mut self {
            headers.push((name, value.to_string()));
        }
        self
    }

    pub fn sse(bytes: &[u8]) -> Self {
        Self::Sse {
            bytes: bytes.to_vec(),
            piece: 7,
        }
    }
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    reset: Arc<tokio::sync::Notify>,
}

/// The emulated upstream, serving on 127.0.0.1:0 until dropped with the runtime.
pub struct Upstream {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Upstream {
    pub async fn start(script: Vec<Reply>) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            ..Shared::default()
        });
        let state = shared.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { handle(&state, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, shared }
    }

    pub fn base_url(&self) -> String {
        // A trailing slash must not produce `//chat/completions`.
        format!("http://{}/v1/", self.addr)
    }

    /// Lets a [`Reply::SseReset`] stream break its connection.
    pub fn break_connection(&self) {
        self.shared.reset.notify_one();
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// A gRPC client of an adapter whose provider `up` calls this upstream with [`KEY`].
    pub fn client(&self) -> ProviderClient<GrpcChannel> {
        let provider = OpenAiCompatible::new(
            PROVIDER,
            &self.base_url(),
            Some(Secret::new(KEY)),
            &ProviderAdapterConfig::default(),
        )
        .unwrap();
        let adapter = ProviderAdapter::from_providers([(
            PROVIDER.to_string(),
            Arc::new(provider) as Arc<dyn ChatProvider>,
        )]);
        client_of(adapter)
    }
}

pub fn client_of(adapter: ProviderAdapter) -> ProviderClient<GrpcChannel> {
    ProviderClient::new(switchyard_grpc::in_process(adapter.into_server()))
}

fn handle(shared: &Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    shared.recorded.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_string(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        headers: headers.clone(),
        query: uri.query().map(str::to_string),
        raw_body: body.to_vec(),
    });
    let reply = shared.script.lock().unwrap().pop_front();
    let sse = |body: Body| {
        Response::builder()
            .status(200)
            .header("content-type", "text/event-stream; charset=utf-8")
            .body(body)
            .unwrap()
    };
    match reply {
        None => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from("script exhausted"))
            .unwrap(),
        Some(Reply::Body {
            status,
            headers,
            body,
        }) => {
            let mut builder = Response::builder().status(status);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.body(Body::from(body)).unwrap()
        }
        Some(Reply::Sse { bytes, piece }) => {
            let pieces: Vec<Result<Bytes, std::io::Error>> = bytes
                .chunks(piece.max(1))
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            sse(Body::from_stream(futures::stream::iter(pieces)))
        }
        Some(Reply::Stream {
            content_type,
            bytes,
            piece,
        }) => {
            let pieces: Vec<Result<Bytes, std::io::Error>> = bytes
                .chunks(piece.max(1))
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Response::builder()
                .status(200)
                .header("content-type", content_type)
                .body(Body::from_stream(futures::stream::iter(pieces)))
                .unwrap()
        }
        Some(Reply::SseReset { bytes }) => {
            let reset = shared.reset.clone();
            let head = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))]);
            let fail = futures::stream::once(async move {
                reset.notified().await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset",
                ))
            });
            sse(Body::from_stream(head.chain(fail)))
        }
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

pub fn text(role: Role, t: &str) -> Message {
    Message {
        role: role as i32,
        content: vec![ContentPart {
            part: Some(Part::Text(t.into())),
        }],
        ..Message::default()
    }
}

pub fn simple_request() -> ChatRequest {
    ChatRequest {
        model: "chat-fast".into(),
        messages: vec![
            text(Role::System, "be brief"),
            text(Role::User, "Name three colors."),
        ],
        ..ChatRequest::default()
    }
}

pub fn chat(provider: &str, model: &str, request: ChatRequest) -> ProviderChatRequest {
    ProviderChatRequest {
        provider: provider.into(),
        upstream_model: model.into(),
        request: Some(request),
    }
}

pub fn embed(provider: &str, model: &str, request: EmbedRequest) -> ProviderEmbedRequest {
    ProviderEmbedRequest {
        provider: provider.into(),
        upstream_model: model.into(),
        request: Some(request),
    }
}

/// All items of a stream: the chunks, and the error that ended it, if any (an
/// error must be the last item).
pub async fn drain(
    client: &mut ProviderClient<GrpcChannel>,
    req: ProviderChatRequest,
) -> (
    Vec<switchyard_proto::types::v1::ChatChunk>,
    Option<tonic::Status>,
) {
    let mut stream = client.chat_stream(req).await.unwrap().into_inner();
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => chunks.push(chunk),
            Err(status) => {
                assert!(stream.next().await.is_none(), "an error ends the stream");
                return (chunks, Some(status));
            }
        }
    }
    (chunks, None)
}

/// Opens a stream of `req`, breaks `upstream`'s connection once the first chunk
/// arrived, and returns the status the stream then ended with.
pub async fn broken_mid_stream(
    client: &mut ProviderClient<GrpcChannel>,
    upstream: &Upstream,
    req: ProviderChatRequest,
) -> tonic::Status {
    let mut stream = client.chat_stream(req).await.unwrap().into_inner();
    assert!(stream.next().await.unwrap().is_ok());
    upstream.break_connection();
    let mut last = None;
    while let Some(item) = stream.next().await {
        last = Some(item);
    }
    last.unwrap()
        .expect_err("a broken stream ends with an error")
}

/// The text a stream's chunks carried, in order.
pub fn streamed_text(chunks: &[switchyard_proto::types::v1::ChatChunk]) -> String {
    chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.as_ref()?.content.clone())
        .collect()
}
