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

/// `n` models, `m0` … `m{n-1}`, a second apart.
fn numbered_models(n: i64) -> ListModelsResponse {
    ListModelsResponse {
        models: (0..n)
            .map(|i| Model {
                id: format!("m{i}"),
                created: 1_700_000_000 + i,
                owned_by: "switchyard".into(),
            })
            .collect(),
    }
}

/// `path` as Anthropic's SDK asks for it.
async fn anthropic_get(edge: &Edge, path: &str) -> (u16, Value) {
    let response = edge
        .http
        .get(edge.url(path))
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", "sk-ant-test")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn anthropic_callers_get_anthropic_model_pages() {
    let edge = Edge::start().await;
    edge.fake.answer_models(Ok(models()));
    let (status, page) = anthropic_get(&edge, "/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(
        page,
        json!({
            "data": [
                {"type": "model", "id": "chat-fast", "display_name": "chat-fast",
                 "created_at": "2023-11-14T22:13:20Z", "lifecycle": "active"},
                {"type": "model", "id": "openai/gpt-4o", "display_name": "openai/gpt-4o",
                 "created_at": "2023-11-14T22:13:21Z", "lifecycle": "active"}
            ],
            "has_more": false,
            "first_id": "chat-fast",
            "last_id": "openai/gpt-4o"
        })
    );
    assert_eq!(
        edge.fake.last().metadata.get("authorization").unwrap(),
        "Bearer sk-ant-test"
    );
    let (status, one) = anthropic_get(&edge, "/v1/models/openai/gpt-4o").await;
    assert_eq!(status, 200);
    assert_eq!(one, page["data"][1]);
    let (status, error) = anthropic_get(&edge, "/v1/models/nope").await;
    assert_eq!(status, 404);
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn anthropic_model_pages_follow_after_id_and_before_id() {
    let edge = Edge::start().await;
    edge.fake.answer_models(Ok(numbered_models(25)));
    // The default page is 20.
    let (_, first) = anthropic_get(&edge, "/v1/models").await;
    assert_eq!(ids(&first).len(), 20);
    assert_eq!(
        (first["has_more"].clone(), first["last_id"].clone()),
        (json!(true), json!("m19"))
    );
    let (_, next) = anthropic_get(&edge, "/v1/models?limit=3&after_id=m19").await;
    assert_eq!(ids(&next), ["m20", "m21", "m22"]);
    assert_eq!(next["has_more"], true);
    let (_, last) = anthropic_get(&edge, "/v1/models?limit=3&after_id=m22").await;
    assert_eq!(ids(&last), ["m23", "m24"]);
    assert_eq!(last["has_more"], false);
    let (_, back) = anthropic_get(&edge, "/v1/models?limit=2&before_id=m2").await;
    assert_eq!(ids(&back), ["m0", "m1"]);
    assert_eq!(
        (back["has_more"].clone(), back["first_id"].clone()),
        (json!(false), json!("m0"))
    );
    let (_, empty) = anthropic_get(&edge, "/v1/models?after_id=m24").await;
    assert!(ids(&empty).is_empty());
    assert_eq!(
        (empty["first_id"].clone(), empty["has_more"].clone()),
        (Value::Null, json!(false))
    );
    for bad in [
        "/v1/models?limit=0",
        "/v1/models?limit=1001",
        "/v1/models?after_id=nope",
        "/v1/models?after_id=m1&before_id=m3",
    ] {
        let (status, error) = anthropic_get(&edge, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(error["error"]["type"], "invalid_request_error", "{bad}");
    }
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
