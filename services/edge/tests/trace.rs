//! The caller's W3C trace continues to the router (its own binary: it installs the
//! global subscriber).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{Edge, chat_body};

#[tokio::test]
async fn traceparent_is_continued_to_the_router() {
    let _guard =
        switchyard_telemetry::init("edge-test", &switchyard_config::TelemetryConfig::default())
            .unwrap();
    let edge = Edge::start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = edge
        .post("/v1/chat/completions")
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let call = edge.fake.last();
    let forwarded = call.metadata.get("traceparent").unwrap().to_str().unwrap();
    assert_eq!(forwarded.split('-').nth(1), Some(trace_id), "{forwarded}");
    assert!(
        !forwarded.contains("00f067aa0ba902b7"),
        "a child span, not the caller's"
    );
}
