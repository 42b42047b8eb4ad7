//! One benchmark request, over OpenAI-compatible HTTP or the gRPC `Gateway` API:
//! what is sent, and when the first token and the end arrived.
//!
//! A request succeeds only on a 2xx / OK answer read to the end; a stream only when
//! it carried content and ended properly (`data: [DONE]`, or the gRPC stream's OK
//! trailer). Anything else is an error with a short kind for the report.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use switchyard_proto::gateway::v1::gateway_client::GatewayClient;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ContentPart, Message, Role, content_part,
};
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use super::cases::Case;

/// The start of every benchmark request's prompt.
const PROMPT: &str = "Benchmark request: answer with anything.";

/// The prompt of every benchmark request: [`PROMPT`], padded with words to
/// `bytes` when that is longer (`--prompt-bytes`), to see how cost grows with
/// prompt size.
pub fn prompt(bytes: usize) -> String {
    let mut prompt = String::with_capacity(bytes.max(PROMPT.len()) + 8);
    prompt.push_str(PROMPT);
    let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    for word in words.iter().cycle() {
        if prompt.len() >= bytes {
            break;
        }
        prompt.push(' ');
        prompt.push_str(word);
    }
    // ASCII throughout, so any length is a character boundary.
    prompt.truncate(bytes.max(PROMPT.len()));
    prompt
}

/// When a successful request's answer arrived.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// The first content of a stream (`None` for unary requests).
    pub first_token: Option<Instant>,
    /// The end of the answer.
    pub end: Instant,
}

/// Why a request failed: a short kind (counted) and a detail (sampled).
#[derive(Debug, Clone)]
pub struct CallError {
    /// `transport`, `status`, `stream` ...
    pub kind: &'static str,
    /// What happened, shortened.
    pub detail: String,
}

impl CallError {
    fn new(kind: &'static str, detail: impl std::fmt::Display) -> Self {
        let mut detail = detail.to_string();
        if detail.len() > 200 {
            let mut end = 200;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
        }
        Self { kind, detail }
    }
}

/// Where and how requests of one case are sent; cheap to clone into each task.
#[derive(Clone)]
pub enum Target {
    /// OpenAI-compatible HTTP.
    Http(Arc<HttpTarget>),
    /// The gRPC Gateway API.
    Grpc(Arc<GrpcTarget>),
}

/// The load generator's HTTP/1.1 client: hyper's pooled keep-alive client with
/// nothing on top (no URL parsing, redirect policy or timer per request; a load's
/// grace time bounds every request instead).
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A keep-alive HTTP/1.1 client with `TCP_NODELAY`, for plain `http://` loopback.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Whether `GET uri` answers 2xx within a second (a readiness check).
pub async fn get_succeeds(client: &HttpClient, uri: &Uri) -> bool {
    let Ok(request) = Request::get(uri.clone()).body(Full::default()) else {
        return false;
    };
    let answer = tokio::time::timeout(Duration::from_secs(1), client.request(request)).await;
    matches!(answer, Ok(Ok(response)) if response.status().is_success())
}

/// An HTTP case: one shared keep-alive client, a ready body.
pub struct HttpTarget {
    client: HttpClient,
    uri: Uri,
    authorization: HeaderValue,
    body: Bytes,
    stream: bool,
}

/// A gRPC case: a few channels used in turn, a ready request.
pub struct GrpcTarget {
    clients: Vec<GatewayClient<Channel>>,
    authorization: MetadataValue<Ascii>,
    request: ChatRequest,
    stream: bool,
}

fn bearer(token: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        token.bytes().all(|b| b.is_ascii_graphic()),
        "the bearer token has characters not allowed in a header"
    );
    Ok(format!("Bearer {token}"))
}

impl Target {
    /// `POST {base_url}/chat/completions` for `model` (the gateway's model name, or
    /// the upstream's for the direct path).
    pub fn http(
        client: HttpClient,
        base_url: &str,
        token: &str,
        model: &str,
        case: Case,
        prompt: &str,
    ) -> anyhow::Result<Self> {
        let mut body = json!({
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 64,
        });
        if case.streaming() {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        Ok(Target::Http(Arc::new(HttpTarget {
            client,
            uri: format!("{base_url}/chat/completions").parse()?,
            authorization: HeaderValue::from_str(&bearer(token)?)?,
            body: Bytes::from(serde_json::to_vec(&body)?),
            stream: case.streaming(),
        })))
    }

    /// `Chat` or `ChatStream` for `model` on `channels` (at least one).
    pub fn grpc(
        channels: &[Channel],
        token: &str,
        model: &str,
        case: Case,
        prompt: &str,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!channels.is_empty(), "no gRPC channel");
        let request = ChatRequest {
            model: model.into(),
            messages: vec![Message {
                role: Role::User.into(),
                content: vec![ContentPart {
                    part: Some(content_part::Part::Text(prompt.into())),
                }],
                ..Default::default()
            }],
            max_tokens: Some(64),
            include_usage: case.streaming(),
            ..Default::default()
        };
        Ok(Target::Grpc(Arc::new(GrpcTarget {
            clients: channels.iter().cloned().map(GatewayClient::new).collect(),
            authorization: bearer(token)?.parse()?,
            request,
            stream: case.streaming(),
        })))
    }

    /// Sends request number `i` and reads its whole answer.
    pub async fn call(&self, i: u64) -> Result<Timing, CallError> {
        match self {
            Target::Http(t) => t.call().await,
            Target::Grpc(t) => t.call(i).await,
        }
    }
}

impl HttpTarget {
    async fn call(&self) -> Result<Timing, CallError> {
        let transport = |e: &dyn std::fmt::Display| CallError::new("transport", e);
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(Full::new(self.body.clone()))
            .map_err(|e| transport(&e))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| transport(&e))?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let text = body
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            return Err(CallError::new("status", format!("HTTP {status}: {text}")));
        }
        if !self.stream {
            body.collect().await.map_err(|e| transport(&e))?;
            return Ok(Timing {
                first_token: None,
                end: Instant::now(),
            });
        }
        let mut scan = SseScan::default();
        while let Some(frame) = body.frame().await {
            if let Ok(bytes) = frame.map_err(|e| transport(&e))?.into_data() {
                scan.feed(&bytes, Instant::now())?;
            }
        }
        let end = Instant::now();
        if !scan.done {
            return Err(CallError::new("stream", "the stream ended without [DONE]"));
        }
        let first_token = scan
            .first_token
            .ok_or_else(|| CallError::new("stream", "the stream carried no content"))?;
        Ok(Timing {
            first_token: Some(first_token),
            end,
        })
    }
}

impl GrpcTarget {
    async fn call(&self, i: u64) -> Result<Timing, CallError> {
        let index = usize::try_from(i).unwrap_or_default() % self.clients.len();
        let Some(client) = self.clients.get(index) else {
            return Err(CallError::new("transport", "no gRPC channel"));
        };
        let mut client = client.clone();
        let mut request = tonic::Request::new(self.request.clone());
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        let status =
            |s: tonic::Status| CallError::new("status", format!("{:?}: {}", s.code(), s.message()));
        if !self.stream {
            client.chat(request).await.map_err(status)?;
            return Ok(Timing {
                first_token: None,
                end: Instant::now(),
            });
        }
        let mut stream = client
            .chat_stream(request)
            .await
            .map_err(status)?
            .into_inner();
        let mut first_token = None;
        while let Some(chunk) = stream.message().await.map_err(status)? {
            if first_token.is_none() && has_content(&chunk) {
                first_token = Some(Instant::now());
            }
        }
        let first_token =
            first_token.ok_or_else(|| CallError::new("stream", "the stream carried no content"))?;
        Ok(Timing {
            first_token: Some(first_token),
            end: Instant::now(),
        })
    }
}

fn has_content(chunk: &ChatChunk) -> bool {
    chunk.choices.iter().any(|c| {
        c.delta
            .as_ref()
            .and_then(|d| d.content.as_deref())
            .is_some_and(|s| !s.is_empty())
    })
}

/// Reads an SSE body as it arrives: notes the first event with content, an error
/// event, and `[DONE]`. Events after the first content are only checked for errors
/// and `[DONE]`, not parsed, so the client stays cheap at high rates.
#[derive(Debug, Default)]
struct SseScan {
    buffer: Vec<u8>,
    first_token: Option<Instant>,
    done: bool,
}

impl SseScan {
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Result<(), CallError> {
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(pos) = self.buffer[start..].windows(2).position(|w| w == b"\n\n") {
            let event = &self.buffer[start..start + pos];
            start += pos + 2;
            for line in event.split(|b| *b == b'\n') {
                let Some(data) = line.strip_prefix(b"data:") else {
                    continue;
                };
                let data = data.trim_ascii();
                if data == b"[DONE]" {
                    self.done = true;
                } else if data.starts_with(b"{\"error\"") {
                    return Err(CallError::new(
                        "stream",
                        format!("error event: {}", String::from_utf8_lossy(data)),
                    ));
                } else if self.first_token.is_none() {
                    let chunk: Value = serde_json::from_slice(data)
                        .map_err(|e| CallError::new("stream", format!("bad event: {e}")))?;
                    let content = &chunk["choices"][0]["delta"]["content"];
                    if content.as_str().is_some_and(|s| !s.is_empty()) {
                        self.first_token = Some(now);
                    }
                }
            }
        }
        self.buffer.drain(..start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prompts_have_the_size_asked_for() {
        assert_eq!(prompt(0), PROMPT);
        assert_eq!(prompt(10), PROMPT);
        for bytes in [41, 1_000, 65_536] {
            let p = prompt(bytes);
            assert_eq!(p.len(), bytes);
            assert!(p.starts_with(PROMPT));
        }
    }

    #[test]
    fn sse_scan_finds_first_content_and_done_across_splits() {
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{}}\n\n",
            "data: [DONE]\n\n"
        );
        let t0 = Instant::now();
        let mut scan = SseScan::default();
        for piece in body.as_bytes().chunks(7) {
            scan.feed(piece, t0).unwrap();
        }
        assert!(scan.done);
        assert_eq!(scan.first_token, Some(t0));
        assert!(scan.buffer.is_empty());
    }

    #[test]
    fn sse_scan_fails_on_an_error_event() {
        let mut scan = SseScan::default();
        let error = scan.feed(
            b"data: {\"error\":{\"message\":\"boom\"}}\n\n",
            Instant::now(),
        );
        assert_eq!(error.unwrap_err().kind, "stream");
        assert!(!scan.done);
    }
}
