//! Trace context and request ids cross every gRPC hop and reach an OTLP collector.
//!
//! Alone in its test binary because it installs the process-wide tracing subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use switchyard_tests::{Mesh, Shape, Upstream};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_and_request_id_cross_every_hop() {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let telemetry = switchyard_telemetry::init(
        "switchyard-test",
        &switchyard_config::TelemetryConfig {
            log_filter: "info".into(),
            log_format: switchyard_config::LogFormat::Text,
            otlp_endpoint: Some(format!("http://{collector_addr}")),
            metrics_listen: None,
        },
    )
    .unwrap();

    let upstream = Upstream::start().await;
    let mesh = Mesh::start(Shape::Split, &upstream.base_url()).await;
    let (key, _) = mesh.create_key("traced", &[]).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", mesh.base_url()))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .header("x-request-id", "traced-request-1")
        .json(&serde_json::json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    mesh.wait_usage("traced-request-1").await;
    mesh.shutdown().await;
    // Flush the batch exporter (it blocks, so keep it off the async workers).
    tokio::task::spawn_blocking(move || drop(telemetry))
        .await
        .unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let wanted = [
        "/switchyard.gateway.v1.Gateway/Chat",
        "/switchyard.auth.v1.Auth/Authenticate",
        "/switchyard.provider.v1.Provider/Chat",
    ];
    loop {
        let spans = collector.spans.lock().unwrap().clone();
        let in_trace: Vec<&Span> = spans
            .iter()
            .filter(|s| hex::encode(&s.trace_id) == trace_id)
            .collect();
        let methods: Vec<String> = in_trace.iter().filter_map(|s| attr(s, "method")).collect();
        if wanted.iter().all(|w| methods.iter().any(|m| m == w)) {
            for s in in_trace.iter().filter(|s| attr(s, "method").is_some()) {
                assert_eq!(
                    attr(s, "request_id").as_deref(),
                    Some("traced-request-1"),
                    "{s:?}"
                );
            }
            // The edge's own span joined the caller's trace too.
            assert!(in_trace.len() > wanted.len(), "{} spans", in_trace.len());
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spans in trace: {methods:?}; all spans: {}",
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
