//! Models list/retrieve and embeddings in both encodings.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{Edge, expect_error};
use serde_json::{Value, json};
use switchyard_proto::gateway::v1::{ListModelsResponse, Model};
use switchyard_proto::types::v1 as pb;

fn models() -> ListModelsResponse {
    ListModelsResponse {
        models: vec![
            Model {
                id: "chat-fast".into(),
                created: 1_700_000_000,
                owned_by: "switchyard".into(),
            },
            Model {
                id: "openai/gpt-4o".into(),
                created: 1_700_000_001,
                owned_by: "openai".into(),
            },
        ],
    }
}

#[tokio::test]
async fn models_list_is_an_openai_list() {
    let edge = Edge::start().await;
    edge.fake.answer_models(Ok(models()));
    let response = edge.get("/v1/models").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"object": "list", "data": [
            {"id": "chat-fast", "object": "model", "created": 1_700_000_000, "owned_by": "switchyard"},
            {"id": "openai/gpt-4o", "object": "model", "created": 1_700_000_001, "owned_by": "openai"}
        ]})
    );
    assert_eq!(edge.fake.last().method, "ListModels");
}

#[tokio::test]
async fn model_retrieve_and_404() {
    let edge = Edge::start().await;
    edge.fake.answer_models(Ok(models()));
    let response = edge.get("/v1/models/chat-fast").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"id": "chat-fast", "object": "model", "created": 1_700_000_000, "owned_by": "switchyard"})
    );

    let response = edge.get("/v1/models/openai/gpt-4o").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], "openai/gpt-4o");

    let response = edge.get("/v1/models/gw-nope").send().await.unwrap();
    let error = expect_error(response, 404, "invalid_request_error").await;
    assert_eq!(error["code"], "model_not_found");
}

fn embed_answer() -> pb::EmbedResponse {
    pb::EmbedResponse {
        model: "emb-1".into(),
        data: vec![
            pb::Embedding {
                index: 0,
                values: vec![0.25, -0.5, 1.0],
            },
            pb::Embedding {
                index: 1,
                values: vec![0.1, 3.5e-8, -7.75],
            },
        ],
        usage: Some(pb::Usage {
            prompt_tokens: 4,
            total_tokens: 4,
            ..Default::default()
        }),
        provider: "mock-emb".into(),
    }
}

#[tokio::test]
async fn embeddings_float_by_default() {
    let edge = Edge::start().await;
    edge.fake.answer_embed(Ok(embed_answer()));
    let response = edge
        .post("/v1/embeddings")
        .json(&json!({"model": "emb", "input": ["hello", "world"], "dimensions": 3, "user": "u"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-switchyard-provider"], "mock-emb");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "emb-1");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 4, "total_tokens": 4})
    );
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][1]["index"], 1);
    for (i, expected) in embed_answer().data.iter().enumerate() {
        let got: Vec<f32> = body["data"][i]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got, expected.values);
    }
    let req = edge.fake.last().embed.unwrap();
    assert_eq!(req.model, "emb");
    assert_eq!(req.input, vec!["hello".to_string(), "world".to_string()]);
    assert!(req.token_input.is_empty());
    assert_eq!(req.dimensions, Some(3));
    assert_eq!(req.user.as_deref(), Some("u"));
}

#[tokio::test]
async fn embeddings_base64_decode_to_the_same_floats() {
    let edge = Edge::start().await;
    edge.fake.answer_embed(Ok(embed_answer()));
    let response = edge
        .post("/v1/embeddings")
        .json(&json!({"model": "emb", "input": "hello", "encoding_format": "base64"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][0]["embedding"], "AACAPgAAAL8AAIA/");
    for (i, expected) in embed_answer().data.iter().enumerate() {
        let bytes = STANDARD
            .decode(body["data"][i]["embedding"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(floats, expected.values);
    }
    assert_eq!(
        edge.fake.last().embed.unwrap().input,
        vec!["hello".to_string()]
    );
}

#[tokio::test]
async fn embeddings_token_inputs() {
    let edge = Edge::start().await;
    edge.fake.answer_embed(Ok(embed_answer()));
    let response = edge
        .post("/v1/embeddings")
        .json(&json!({"model": "emb", "input": [[1, 2], [3]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let req = edge.fake.last().embed.unwrap();
    assert!(req.input.is_empty());
    assert_eq!(
        req.token_input,
        vec![
            pb::TokenIds { ids: vec![1, 2] },
            pb::TokenIds { ids: vec![3] }
        ]
    );

    let response = edge
        .post("/v1/embeddings")
        .json(&json!({"model": "emb", "input": [5, 6, 7]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        edge.fake.last().embed.unwrap().token_input,
        vec![pb::TokenIds { ids: vec![5, 6, 7] }]
    );

    let response = edge
        .post("/v1/embeddings")
        .json(&json!({"model": "emb", "input": [[1, -2]]}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["param"], "input[0][1]");

    let response = edge
        .post("/v1/embeddings")
        .json(&json!({"model": "emb", "input": "x", "encoding_format": "int8"}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["param"], "encoding_format");
}
