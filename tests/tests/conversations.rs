//! The Conversations API through the whole gateway, both shapes, with metering's
//! real `ConversationStore`: a conversation created with items, used by
//! responses (unary and streamed) that read its items first and add their own,
//! its items paged, read, added and deleted, kept from other tenants, and
//! deleted.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use switchyard_tests::{Mesh, Shape, Upstream, both_shapes};

both_shapes!(conversations_hold_items_that_responses_read_and_extend);

/// Status, request id and JSON body of one call.
async fn call(request: reqwest::RequestBuilder, key: &str) -> (u16, String, Value) {
    let resp = request.bearer_auth(key).send().await.unwrap();
    let status = resp.status().as_u16();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, id, body)
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn texts(page: &Value) -> Vec<(String, String)> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["role"].as_str().unwrap().to_string(),
                i["content"][0]["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn conversations_hold_items_that_responses_read_and_extend(shape: Shape) {
    let upstream = Upstream::start().await;
    let mesh = Mesh::start(shape, &upstream.base_url()).await;
    let (key, _) = mesh.create_key("acme", &[]).await;
    let (other, _) = mesh.create_key("globex", &[]).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", mesh.base_url());

    let (status, _, conv) = call(
        http.post(url("/v1/conversations")).json(&json!({
            "items": [{"type": "message", "role": "user", "content": "hello"}],
            "metadata": {"topic": "demo"}})),
        &key,
    )
    .await;
    assert_eq!(status, 200, "{conv}");
    let id = conv["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("conv_"), "{conv}");
    assert_eq!(conv["object"], "conversation");
    assert_eq!(conv["metadata"], json!({"topic": "demo"}));
    assert!(conv["created_at"].as_i64().unwrap() > 0);

    // A response in the conversation: the model reads its items first; the
    // answer names it. `store: false` stores no response, but the conversation
    // still gets the turn.
    let (status, first_request, first) = call(
        http.post(url("/v1/responses")).json(&json!({
            "model": "chat-model", "input": "second", "conversation": id, "store": false})),
        &key,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["conversation"], json!({"id": id}));
    assert_eq!(
        upstream.requests()[0].body["messages"],
        json!([{"role": "user", "content": "hello"}, {"role": "user", "content": "second"}])
    );
    // Streamed, naming it as an object: the first turn's answer is there too.
    let (status, second_request, stream) = call(
        http.post(url("/v1/responses")).json(&json!({
            "model": "chat-model", "input": "third", "conversation": {"id": id},
            "stream": true})),
        &key,
    )
    .await;
    assert_eq!(status, 200, "{stream}");
    assert!(
        stream
            .as_str()
            .unwrap()
            .contains("event: response.completed"),
        "{stream}"
    );
    assert_eq!(
        upstream.requests()[1].body["messages"],
        json!([{"role": "user", "content": "hello"},
               {"role": "user", "content": "second"},
               {"role": "assistant", "content": "echo: second"},
               {"role": "user", "content": "third"}])
    );
    // Each response billed once.
    mesh.wait_usage(&first_request).await;
    mesh.wait_usage(&second_request).await;
    assert_eq!(mesh.tenant_usage("acme").await.len(), 2);

    // Items, oldest first, and paged newest first (the default).
    let items_url = url(&format!("/v1/conversations/{id}/items"));
    let (status, _, all) = call(http.get(format!("{items_url}?order=asc")), &key).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        texts(&all),
        [
            ("user", "hello"),
            ("user", "second"),
            ("assistant", "echo: second"),
            ("user", "third"),
            ("assistant", "echo: third"),
        ]
        .map(|(r, t)| (r.to_string(), t.to_string()))
    );
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["type"] == "message" && i["status"] == "completed")
    );
    let all_ids = ids(&all);
    // The assistant's items are the responses' own output items.
    assert_eq!(all_ids[2], first["output"][0]["id"]);
    let (_, _, page) = call(http.get(format!("{items_url}?limit=2")), &key).await;
    assert_eq!(ids(&page), [all_ids[4].clone(), all_ids[3].clone()]);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["last_id"], all_ids[3].as_str());
    let (_, _, rest) = call(
        http.get(format!(
            "{items_url}?limit=5&after={}&include=reasoning.encrypted_content&include[]=message.output_text.logprobs",
            all_ids[3]
        )),
        &key,
    )
    .await;
    assert_eq!(
        ids(&rest),
        all_ids[..3].iter().rev().cloned().collect::<Vec<_>>()
    );
    assert_eq!(rest["has_more"], false);

    // One item read, deleted; then it is gone from the list and a 404.
    let item_url = format!("{items_url}/{}", all_ids[1]);
    let (status, _, item) = call(http.get(&item_url), &key).await;
    assert_eq!(
        (status, item["content"][0]["text"].clone()),
        (200, json!("second"))
    );
    let (status, _, after_delete) = call(http.delete(&item_url), &key).await;
    assert_eq!(
        (status, after_delete["id"].as_str()),
        (200, Some(id.as_str()))
    );
    let (status, _, _) = call(http.get(&item_url), &key).await;
    assert_eq!(status, 404);
    let (_, _, all) = call(http.get(format!("{items_url}?order=asc")), &key).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 4);

    // Items added directly: checked as input items, at most 20 at a time, ids
    // unique in the conversation.
    let (status, _, added) = call(
        http.post(&items_url).json(&json!({"items": [
            {"role": "user", "content": "added"},
            {"type": "function_call_output", "call_id": "call_1", "output": "42"}]})),
        &key,
    )
    .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["object"], "list");
    assert_eq!(added["data"][1]["type"], "function_call_output");
    let (status, _, error) = call(
        http.post(&items_url)
            .json(&json!({"items": [{"role": "wizard", "content": "x"}]})),
        &key,
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]["param"]
            .as_str()
            .unwrap()
            .starts_with("items[0]"),
        "{error}"
    );
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"role": "user", "content": format!("{i}")}))
        .collect();
    let (status, _, error) = call(http.post(&items_url).json(&json!({"items": many})), &key).await;
    assert_eq!(
        (status, error["error"]["param"].clone()),
        (400, json!("items"))
    );
    let (status, _, error) = call(
        http.post(&items_url)
            .json(&json!({"items": [{"id": all_ids[0], "role": "user", "content": "again"}]})),
        &key,
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Duplicate"),
        "{error}"
    );

    // Bad bodies: OpenAI's 400s, naming what is wrong.
    let too_many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (status, _, error) = call(
        http.post(url("/v1/conversations"))
            .json(&json!({"metadata": too_many})),
        &key,
    )
    .await;
    assert_eq!(
        (status, error["error"]["param"].clone()),
        (400, json!("metadata"))
    );
    let (status, _, error) = call(
        http.post(url("/v1/conversations"))
            .json(&json!({"metadata": {"k": 1}})),
        &key,
    )
    .await;
    assert_eq!(status, 400, "{error}");
    let (status, _, error) = call(
        http.post(url("/v1/conversations"))
            .header("content-type", "application/json")
            .body("{\"items\": ["),
        &key,
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["type"], "invalid_request_error");

    // Counting a response's input counts the conversation's items too.
    let count = |conversation: Option<&str>| {
        let mut body = json!({"model": "chat-model", "input": "x"});
        if let Some(id) = conversation {
            body["conversation"] = json!(id);
        }
        let request = http.post(url("/v1/responses/input_tokens")).json(&body);
        let key = key.clone();
        async move {
            let (status, _, counted) = call(request, &key).await;
            assert_eq!(status, 200, "{counted}");
            counted["input_tokens"].as_u64().unwrap()
        }
    };
    assert!(count(Some(&id)).await > count(None).await);

    // Metadata replaced.
    let conv_url = url(&format!("/v1/conversations/{id}"));
    let (status, _, updated) = call(
        http.post(&conv_url)
            .json(&json!({"metadata": {"topic": "other", "n": "2"}})),
        &key,
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    let (_, _, read) = call(http.get(&conv_url), &key).await;
    assert_eq!(read["metadata"], json!({"topic": "other", "n": "2"}));
    // `metadata` is required (OpenAI's update takes nothing else); null clears it.
    let (status, _, error) = call(http.post(&conv_url).json(&json!({})), &key).await;
    assert_eq!(
        (status, error["error"]["param"].clone()),
        (400, json!("metadata"))
    );
    let (status, _, cleared) =
        call(http.post(&conv_url).json(&json!({"metadata": null})), &key).await;
    assert_eq!((status, cleared["metadata"].clone()), (200, json!({})));

    // Another tenant sees nothing, and cannot use it.
    let (status, _, _) = call(http.get(&conv_url), &other).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(http.get(&items_url), &other).await;
    assert_eq!(status, 404);
    let (status, _, error) = call(
        http.post(url("/v1/responses"))
            .json(&json!({"model": "chat-model", "input": "x", "conversation": id})),
        &other,
    )
    .await;
    assert_eq!(status, 404, "{error}");
    // A conversation and a previous response together are refused.
    let (status, _, error) = call(
        http.post(url("/v1/responses"))
            .json(&json!({"model": "chat-model", "input": "x",
            "conversation": id, "previous_response_id": "resp_x"})),
        &key,
    )
    .await;
    assert_eq!(
        (status, error["error"]["param"].clone()),
        (400, json!("conversation"))
    );

    // Deleted with its items.
    let (status, _, deleted) = call(http.delete(&conv_url), &key).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted,
        json!({"id": id, "object": "conversation.deleted", "deleted": true})
    );
    let (status, _, _) = call(http.get(&conv_url), &key).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(http.get(&items_url), &key).await;
    assert_eq!(status, 404);
    // Nothing was billed for the refused and failed calls.
    assert_eq!(mesh.tenant_usage("acme").await.len(), 2);
    mesh.shutdown().await;
}
