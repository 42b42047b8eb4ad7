//! The set-up most end-to-end tests start from: the emulated upstream, the mesh in
//! front of it with the test's models, one key, and an HTTP client.

use serde_json::Value;
use switchyard_proto::types::v1::{ChatRequest, Message};

use crate::{Mesh, Shape, Upstream};

pub struct KeyedMesh {
    pub upstream: Upstream,
    pub mesh: Mesh,
    /// A key of the test's tenant, allowed every model.
    pub key: String,
    pub http: reqwest::Client,
}

impl KeyedMesh {
    /// Starts the upstream, then the mesh in `shape` with `router_extra` lines
    /// in `[router]` and the TOML `extra(upstream_base_url)` appended, and makes
    /// a key for `tenant`.
    pub async fn start(
        shape: Shape,
        tenant: &str,
        router_extra: &str,
        extra: impl FnOnce(&str) -> String,
    ) -> Self {
        let upstream = Upstream::start().await;
        let base_url = upstream.base_url();
        let mesh = Mesh::start_configured(shape, &base_url, router_extra, &extra(&base_url)).await;
        let (key, _) = mesh.create_key(tenant, &[]).await;
        Self {
            upstream,
            mesh,
            key,
            http: reqwest::Client::new(),
        }
    }

    /// `POST /v1/chat/completions` with the key.
    pub async fn post_chat(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.mesh.base_url()))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// A gRPC chat request of one user message.
pub fn text_chat(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![Message::user_text(text)],
        ..Default::default()
    }
}

/// `message` as a gRPC request presenting `key`.
pub fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    request
}
