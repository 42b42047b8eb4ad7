//! Conversations (OpenAI's Conversations API) at the edge: items as metering's
//! `ConversationStore` keeps them, and as OpenAI shows them.
//!
//! Items are checked as `input` would take them and completed before they are
//! stored (an `id` unless the caller gave one, `type`, `status`, text as content
//! parts), so a listing shows them exactly as stored and a response that uses
//! the conversation reads them back as its first input items. Reasoning items
//! are stored with their `encrypted_content` (what sending Claude's signed
//! thinking back needs) and shown with it only when `include` asks.

use serde_json::{Value, json};
use switchyard_error::ApiError;
use switchyard_grpc::GrpcChannel;
use switchyard_proto::metering::v1::conversation_store_client::ConversationStoreClient;
use switchyard_proto::metering::v1::{Conversation, ConversationItem, ListItemsRequest};

use super::{convert, items};
use crate::context::Caller;

/// Metering's conversation store, over the edge's channel to it.
pub type Client = ConversationStoreClient<GrpcChannel>;

/// What `include` asks for that changes how items are shown.
pub const ENCRYPTED_REASONING: &str = "reasoning.encrypted_content";

/// `values` checked as `input` items (`param[i]` names a bad one) and
/// [`completed`].
pub fn to_items(param: &str, base: &str, values: Vec<Value>) -> Result<Vec<Value>, ApiError> {
    convert::check_items(param, &values)?;
    Ok(completed(base, values))
}

/// `values` completed for storing, unchecked (a response's input, which its
/// translation checks); made-up ids are `{prefix}_{base}_{i}`.
pub fn completed(base: &str, values: Vec<Value>) -> Vec<Value> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| items::completed(base, i, value))
        .collect()
}

/// A complete item (with its `id`) as the store keeps it.
pub fn stored(value: &Value) -> Result<ConversationItem, ApiError> {
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("items", "Every item needs an 'id'."))?
        .to_string();
    let item_json = serde_json::to_vec(value).map_err(|_| ApiError::internal())?;
    Ok(ConversationItem { id, item_json })
}

/// A stored item as the JSON value it was stored as (what a model reads).
pub fn value(item: &ConversationItem) -> Result<Value, ApiError> {
    serde_json::from_slice(&item.item_json).map_err(|e| {
        tracing::error!(error = %e, item = %item.id, "a stored conversation item does not parse");
        ApiError::internal()
    })
}

/// An item as shown to its caller: without a reasoning item's
/// `encrypted_content` unless `encrypted` (`include`) asks for it.
pub fn shown(mut value: Value, encrypted: bool) -> Value {
    if !encrypted
        && let Some(object) = value.as_object_mut()
        && object.get("type").and_then(Value::as_str) == Some("reasoning")
    {
        object.remove("encrypted_content");
    }
    value
}

/// Every item of conversation `id`, oldest first, as stored: what a response
/// that continues it reads before its own input.
pub async fn all_items(client: &Client, caller: &Caller, id: &str) -> Result<Vec<Value>, ApiError> {
    let mut client = client.clone();
    let page = client
        .list_items(caller.request(ListItemsRequest {
            conversation_id: id.into(),
            ..ListItemsRequest::default()
        }))
        .await
        .map_err(|status| ApiError::from_status(&status))?
        .into_inner();
    page.items.iter().map(value).collect()
}

/// A conversation as OpenAI's `conversation` object.
pub fn object(conversation: &Conversation) -> Value {
    json!({
        "id": conversation.id,
        "object": "conversation",
        "created_at": conversation.created.as_ref().map_or(0, |t| t.seconds),
        "metadata": conversation.metadata,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn items_are_checked_completed_and_shown_without_signatures() {
        let items = to_items(
            "items",
            "req1",
            vec![
                json!({"role": "user", "content": "hi"}),
                json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "sig"}),
            ],
        )
        .unwrap();
        assert_eq!(items[0]["id"], "msg_req1_0");
        assert_eq!(
            items[0]["content"][0],
            json!({"type": "input_text", "text": "hi"})
        );
        assert_eq!(items[0]["status"], "completed");
        // Stored and read back as it was.
        let kept = stored(&items[1]).unwrap();
        assert_eq!(kept.id, "rs_1");
        assert_eq!(value(&kept).unwrap(), items[1]);
        assert!(
            shown(items[1].clone(), false)
                .get("encrypted_content")
                .is_none()
        );
        assert_eq!(shown(items[1].clone(), true)["encrypted_content"], "sig");

        let err = to_items(
            "items",
            "r",
            vec![json!({"role": "wizard", "content": "x"})],
        )
        .unwrap_err();
        assert!(err.param.unwrap().starts_with("items[0]"));
        let err = to_items("items", "r", vec![json!("text")]).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("items[0]"));
    }
}
