#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]
mod common;
use std::pin::Pin;
use std::time::Duration;
use common::*;
use futures::Stream;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::gateway::v1::gateway_server::{Gateway, GatewayServer};
use switchyard_proto::gateway::v1::{ListModelsRequest, ListModelsResponse};
use switchyard_proto::types::v1 as pb;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
struct Smoke(FakeGateway);
type S = Pin<Box<dyn Stream<Item = Result<pb::ChatChunk, Status>> + Send>>;
fn rl() -> Status { ApiError::new(ErrorCode::RateLimited, "slow").with_retry_after(Duration::from_millis(1200)).to_status() }

#[tonic::async_trait]
impl Gateway for Smoke {
    async fn chat(&self, r: Request<pb::ChatRequest>) -> Result<Response<pb::ChatResponse>, Status> {
        if r.get_ref().model == "ratelimit" { return Err(rl()); }
        self.0.chat(r).await
    }
    type ChatStreamStream = S;
    async fn chat_stream(&self, r: Request<pb::ChatRequest>) -> Result<Response<S>, Status> {
        if r.get_ref().model == "midfail" {
            let items = vec![Ok(content_chunk(Some(pb::Role::Assistant), "a", pb::FinishReason::Unspecified)), Err(ApiError::new(ErrorCode::UpstreamUnavailable, "upstream died").to_status())];
            return Ok(Response::new(Box::pin(futures::stream::iter(items))));
        }
        self.0.chat_stream(r).await
    }
    async fn embed(&self, r: Request<pb::EmbedRequest>) -> Result<Response<pb::EmbedResponse>, Status> { self.0.embed(r).await }
    async fn list_models(&self, r: Request<ListModelsRequest>) -> Result<Response<ListModelsResponse>, Status> { self.0.list_models(r).await }
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_smoke() {
    let fake = FakeGateway::default();
    fake.answer_embed(Ok(pb::EmbedResponse { model: "emb".into(), data: vec![pb::Embedding { index: 0, values: vec![0.25, -0.5, 1.0] }], usage: Some(usage(2, 0)), provider: "p".into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let channel = switchyard_grpc::in_process(GatewayServer::new(Smoke(fake)));
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move { switchyard_edge::serve_with(listener, &Default::default(), channel, t).await.unwrap() });
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("python3").arg("/tmp/sdk/smoke.py").arg(base).output().unwrap()).await.unwrap();
    println!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    token.cancel();
    assert!(out.status.success());
}
