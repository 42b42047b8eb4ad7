//! `GET /v1/responses/{id}/input_items`: a stored response's input items as
//! OpenAI lists them. Items are stored as the caller sent them, so each is
//! completed here: an `id` (the caller's, or one made from the response's request
//! id and the item's position), `type` `message` where only a role was given, a
//! `status`, and message text as content parts. Newest first unless
//! `order=asc`; paged by `limit` (1–100, 20) and `after` (an item id).

use serde_json::{Map, Value, json};
use switchyard_error::ApiError;

/// How a page is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first (OpenAI's default).
    Desc,
}

/// One page of a response's input items, as OpenAI's `list` object.
pub fn page(
    response_id: &str,
    items: Vec<Value>,
    order: Order,
    limit: usize,
    after: Option<&str>,
) -> Result<Value, ApiError> {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    let mut items: Vec<Value> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| completed(base, i, item))
        .collect();
    if order == Order::Desc {
        items.reverse();
    }
    let start = match after {
        None => 0,
        Some(after) => {
            let at = items
                .iter()
                .position(|item| item["id"] == after)
                .ok_or_else(|| {
                    ApiError::invalid("after", format!("No input item with id '{after}'."))
                })?;
            at + 1
        }
    };
    let rest = items.len().saturating_sub(start);
    let data: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "first_id": data.first().map(|i| i["id"].clone()),
        "last_id": data.last().map(|i| i["id"].clone()),
        "has_more": rest > limit,
    }))
}

/// Item `i` with what a listed item carries: an id made of `prefix_base_i`
/// unless it has one, `type`, `status`, and message text as content parts.
pub fn completed(base: &str, i: usize, item: Value) -> Value {
    let Value::Object(mut item) = item else {
        return item;
    };
    if !item.contains_key("type") && item.contains_key("role") {
        item.insert("type".into(), "message".into());
    }
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("item")
        .to_string();
    if kind == "message" {
        text_as_parts(&mut item);
    }
    if !item.get("id").is_some_and(Value::is_string) {
        let prefix = match kind.as_str() {
            "message" => "msg",
            "function_call" => "fc",
            "function_call_output" => "fco",
            "reasoning" => "rs",
            _ => "item",
        };
        item.insert("id".into(), format!("{prefix}_{base}_{i}").into());
    }
    item.entry("status").or_insert_with(|| "completed".into());
    Value::Object(item)
}

/// A message's string content as one text part: `output_text` for the
/// assistant's, `input_text` for the others'.
fn text_as_parts(item: &mut Map<String, Value>) {
    let Some(Value::String(text)) = item.get("content") else {
        return;
    };
    let part = if item.get("role").and_then(Value::as_str) == Some("assistant") {
        json!({"type": "output_text", "text": text, "annotations": []})
    } else {
        json!({"type": "input_text", "text": text})
    };
    item.insert("content".into(), Value::Array(vec![part]));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stored() -> Vec<Value> {
        vec![
            json!({"role": "user", "content": "hi"}),
            json!({"type": "message", "id": "msg_x", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": "hello", "annotations": []}]}),
            json!({"type": "function_call_output", "call_id": "call_1", "output": "42"}),
        ]
    }

    #[test]
    fn items_get_ids_types_status_and_parts() {
        let page = page("resp_r1", stored(), Order::Asc, 20, None).unwrap();
        assert_eq!(
            page["data"][0],
            json!({"type": "message", "id": "msg_r1_0", "role": "user", "status": "completed",
                   "content": [{"type": "input_text", "text": "hi"}]})
        );
        assert_eq!(page["data"][1]["id"], "msg_x");
        assert_eq!(page["data"][2]["id"], "fco_r1_2");
        assert_eq!(page["data"][2]["status"], "completed");
        assert_eq!(
            (page["first_id"].clone(), page["has_more"].clone()),
            (json!("msg_r1_0"), json!(false))
        );
    }

    #[test]
    fn pages_run_newest_first_by_default_and_follow_after() {
        let first = page("resp_r1", stored(), Order::Desc, 2, None).unwrap();
        let ids: Vec<&str> = first["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["fco_r1_2", "msg_x"]);
        assert_eq!(first["has_more"], true);
        let next = page("resp_r1", stored(), Order::Desc, 2, Some("msg_x")).unwrap();
        assert_eq!(next["data"].as_array().unwrap().len(), 1);
        assert_eq!(next["last_id"], "msg_r1_0");
        assert_eq!(next["has_more"], false);
        let err = page("resp_r1", stored(), Order::Desc, 2, Some("nope")).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("after"));
    }
}
