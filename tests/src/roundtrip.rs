//! What the provider round-trip tests share: serving an emulated provider,
//! posting through the gateway's edge, and reading OpenAI's answers back.

use std::net::SocketAddr;

use serde_json::Value;

/// Serves `app` (an emulated provider) on 127.0.0.1:0 until the runtime ends.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A JSON object without the fields that vary per run (`id`, `created`).
pub fn without_ids(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        o.remove("created");
    }
    v
}

/// The chunks of an OpenAI event stream, after checking it ends with `[DONE]`.
pub fn stream_chunks(text: &str) -> Vec<Value> {
    let events: Vec<&str> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

/// The answer the Anthropic, Bedrock and Gemini fixtures give, in OpenAI's
/// format: the reply text, then `get_weather` for Paris and Oslo under
/// `call_ids`, with `usage`.
pub fn weather_answer(model: &str, call_ids: [&str; 2], usage: Value) -> Value {
    let call = |id: &str, city: &str| {
        serde_json::json!({"id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": format!("{{\"city\":\"{city}\"}}")}})
    };
    serde_json::json!({
        "object": "chat.completion",
        "model": model,
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "refusal": null,
                "content": "The image shows a red pixel. Checking the weather in both cities.",
                "tool_calls": [call(call_ids[0], "Paris"), call(call_ids[1], "Oslo")],
            },
            "finish_reason": "tool_calls",
            "logprobs": null,
        }],
        "usage": usage,
    })
}

/// Checks that a round trip's usage record names `provider`, is a stream or not
/// as `stream` says, succeeded, carries the provider's own usage (not an
/// estimate) and costs `cost_micros`.
pub fn assert_billed(
    record: &switchyard_proto::metering::v1::UsageRecord,
    provider: &str,
    stream: bool,
    cost_micros: i64,
) {
    assert_eq!(record.provider, provider);
    assert_eq!(record.stream, stream);
    assert!(!record.usage_estimated);
    assert_eq!(
        record.outcome,
        switchyard_proto::metering::v1::Outcome::Ok as i32
    );
    assert_eq!(record.cost_micros, cost_micros);
}

/// What an emulated provider received, one entry per request: its handlers'
/// state.
pub type Seen<T> = std::sync::Arc<std::sync::Mutex<Vec<T>>>;

/// An emulated provider serving on 127.0.0.1:0, and what it received.
pub struct Emulator<T> {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Seen<T>,
}

impl<T: Clone + Send + 'static> Emulator<T> {
    /// Serves `app`, whose handlers record what they receive in their
    /// `State<Seen<T>>`.
    pub async fn start(app: axum::Router<Seen<T>>) -> Self {
        let seen = Seen::default();
        let addr = serve(app.with_state(seen.clone())).await;
        Self { addr, seen }
    }

    /// `http://<addr><path>`: a base URL for the provider's config.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What it received so far, in order.
    pub fn seen(&self) -> Vec<T> {
        self.seen.lock().unwrap().clone()
    }
}

/// The gateway in front of an emulated provider: the stock mesh (the stock
/// upstream as its `upstream` provider) plus the provider's `[[providers]]` and
/// `[[models]]`, and a key of tenant `acme` for its models.
pub struct ProviderMesh<T> {
    /// The emulated provider.
    pub provider: Emulator<T>,
    /// The gateway.
    pub mesh: crate::Mesh,
    /// The key requests carry.
    pub key: String,
    _upstream: crate::Upstream,
    http: reqwest::Client,
}

impl<T: Clone + Send + 'static> ProviderMesh<T> {
    /// Starts the gateway in `shape` with the config `extra` writes for
    /// `provider`, and a key allowed `models`.
    pub async fn start(
        shape: crate::Shape,
        provider: Emulator<T>,
        extra: impl FnOnce(&Emulator<T>) -> String,
        models: &[&str],
    ) -> Self {
        let upstream = crate::Upstream::start().await;
        let mesh = crate::Mesh::start_with(shape, &upstream.base_url(), &extra(&provider)).await;
        let (key, _) = mesh.create_key("acme", models).await;
        Self {
            provider,
            mesh,
            key,
            _upstream: upstream,
            http: reqwest::Client::new(),
        }
    }

    /// Posts `body` to the edge's `path`; returns the status, the request id and
    /// the body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, String, String) {
        let resp = self
            .http
            .post(format!("{}{path}", self.mesh.base_url()))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        (status, request_id, resp.text().await.unwrap())
    }

    /// Posts an OpenAI chat completion.
    pub async fn chat(&self, body: &Value) -> (u16, String, String) {
        self.post("/v1/chat/completions", body).await
    }
}
