//! The `ConversationStore` gRPC service: OpenAI Conversations API state, each
//! conversation owned by the tenant of the key that created it.

use std::collections::{HashMap, HashSet};

use prost_types::Timestamp;
use switchyard_proto::metering::v1::conversation_store_server::ConversationStore;
use switchyard_proto::metering::v1::{
    AppendItemsRequest, AppendItemsResponse, Conversation, ConversationItem,
    CreateConversationRequest, DeleteConversationRequest, DeleteConversationResponse,
    DeleteItemRequest, GetConversationRequest, GetItemRequest, ListItemsRequest, ListItemsResponse,
    UpdateConversationRequest,
};
use tonic::{Request, Response, Status};

use crate::access::Caller;
use crate::service::blocking;
use crate::{MeteringError, MeteringService};

/// The longest conversation or item id accepted.
const MAX_ID: usize = 160;
/// Items per append (a response's input and output together).
const MAX_ITEMS: usize = 1_000;
/// OpenAI's metadata bounds: pairs, key characters, value characters.
const MAX_PAIRS: usize = 16;
const MAX_KEY: usize = 64;
const MAX_VALUE: usize = 512;

fn check_id(param: &str, id: &str) -> Result<(), MeteringError> {
    if id.is_empty() || id.len() > MAX_ID || id.contains('\0') {
        return Err(MeteringError::invalid(
            param,
            format!("must be 1 to {MAX_ID} bytes, without NUL"),
        ));
    }
    Ok(())
}

fn check_metadata(metadata: &HashMap<String, String>) -> Result<(), MeteringError> {
    if metadata.len() > MAX_PAIRS {
        return Err(MeteringError::invalid(
            "metadata",
            format!("At most {MAX_PAIRS} key-value pairs."),
        ));
    }
    for (key, value) in metadata {
        if key.chars().count() > MAX_KEY {
            return Err(MeteringError::invalid(
                "metadata",
                format!("Key '{key}' is longer than {MAX_KEY} characters."),
            ));
        }
        if value.chars().count() > MAX_VALUE {
            return Err(MeteringError::invalid(
                "metadata",
                format!("The value of '{key}' is longer than {MAX_VALUE} characters."),
            ));
        }
    }
    Ok(())
}

fn check_items(items: &[ConversationItem]) -> Result<(), MeteringError> {
    if items.len() > MAX_ITEMS {
        return Err(MeteringError::invalid(
            "items",
            format!("At most {MAX_ITEMS} items at a time."),
        ));
    }
    let mut seen = HashSet::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        check_id(&format!("items[{i}].id"), &item.id)?;
        if item.item_json.is_empty() {
            return Err(MeteringError::invalid(
                &format!("items[{i}].item_json"),
                "is required",
            ));
        }
        if !seen.insert(item.id.as_str()) {
            return Err(MeteringError::invalid(
                "items",
                format!("Duplicate item found with id '{}'.", item.id),
            ));
        }
    }
    Ok(())
}

impl MeteringService {
    /// The conversation `id`, if `caller` may see it; another tenant's is "not
    /// found", as a missing one.
    async fn conversation(
        &self,
        caller: &Caller,
        id: String,
    ) -> Result<Conversation, MeteringError> {
        check_id("id", &id)?;
        let store = self.conversations.clone();
        let lookup = id.clone();
        blocking(move || store.get(&lookup))
            .await?
            .filter(|c| caller.owns(&c.tenant))
            .ok_or(MeteringError::ConversationNotFound(id))
    }

    /// The caller, and conversation `id` if it may see it.
    async fn visible_conversation<T>(
        &self,
        request: &Request<T>,
        id: String,
    ) -> Result<Conversation, MeteringError> {
        let caller = self.caller(request).await?;
        self.conversation(&caller, id).await
    }
}

#[tonic::async_trait]
impl ConversationStore for MeteringService {
    async fn create_conversation(
        &self,
        request: Request<CreateConversationRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let Caller::Tenant(tenant) = self.caller(&request).await? else {
            return Err(MeteringError::PermissionDenied(
                "creating a conversation needs a virtual key: its tenant owns the conversation"
                    .into(),
            )
            .into());
        };
        let CreateConversationRequest { metadata, items } = request.into_inner();
        check_metadata(&metadata)?;
        check_items(&items)?;
        let conversation = Conversation {
            id: format!("conv_{}", uuid::Uuid::now_v7().simple()),
            tenant,
            created: Some(Timestamp::from(std::time::SystemTime::now())),
            metadata,
        };
        let store = self.conversations.clone();
        let stored = conversation.clone();
        blocking(move || store.create(&stored, &items)).await?;
        Ok(Response::new(conversation))
    }

    async fn get_conversation(
        &self,
        request: Request<GetConversationRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let id = request.get_ref().id.clone();
        Ok(Response::new(
            self.visible_conversation(&request, id).await?,
        ))
    }

    async fn update_conversation(
        &self,
        request: Request<UpdateConversationRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let id = request.get_ref().id.clone();
        let mut conversation = self.visible_conversation(&request, id.clone()).await?;
        conversation.metadata = request.into_inner().metadata;
        check_metadata(&conversation.metadata)?;
        let store = self.conversations.clone();
        let stored = conversation.clone();
        if !blocking(move || store.update(&stored)).await? {
            return Err(MeteringError::ConversationNotFound(id).into());
        }
        Ok(Response::new(conversation))
    }

    async fn delete_conversation(
        &self,
        request: Request<DeleteConversationRequest>,
    ) -> Result<Response<DeleteConversationResponse>, Status> {
        let id = request.get_ref().id.clone();
        self.visible_conversation(&request, id.clone()).await?;
        let store = self.conversations.clone();
        let lookup = id.clone();
        if !blocking(move || store.delete(&lookup)).await? {
            return Err(MeteringError::ConversationNotFound(id).into());
        }
        Ok(Response::new(DeleteConversationResponse {}))
    }

    async fn append_items(
        &self,
        request: Request<AppendItemsRequest>,
    ) -> Result<Response<AppendItemsResponse>, Status> {
        let id = request.get_ref().conversation_id.clone();
        self.visible_conversation(&request, id.clone()).await?;
        let items = request.into_inner().items;
        check_items(&items)?;
        let store = self.conversations.clone();
        blocking(move || store.append(&id, &items)).await?;
        Ok(Response::new(AppendItemsResponse {}))
    }

    async fn list_items(
        &self,
        request: Request<ListItemsRequest>,
    ) -> Result<Response<ListItemsResponse>, Status> {
        let id = request.get_ref().conversation_id.clone();
        self.visible_conversation(&request, id.clone()).await?;
        let ListItemsRequest {
            after,
            limit,
            descending,
            ..
        } = request.into_inner();
        let store = self.conversations.clone();
        let page = blocking(move || {
            let after = (!after.is_empty()).then_some(after.as_str());
            store.list(&id, after, limit as usize, descending)
        })
        .await?;
        Ok(Response::new(ListItemsResponse {
            items: page.items,
            has_more: page.has_more,
        }))
    }

    async fn get_item(
        &self,
        request: Request<GetItemRequest>,
    ) -> Result<Response<ConversationItem>, Status> {
        let id = request.get_ref().conversation_id.clone();
        self.visible_conversation(&request, id.clone()).await?;
        let item_id = request.into_inner().item_id;
        check_id("item_id", &item_id)?;
        let store = self.conversations.clone();
        let lookup = item_id.clone();
        let item = blocking(move || store.item(&id, &lookup)).await?;
        Ok(Response::new(
            item.ok_or(MeteringError::ItemNotFound(item_id))?,
        ))
    }

    async fn delete_item(
        &self,
        request: Request<DeleteItemRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let id = request.get_ref().conversation_id.clone();
        let conversation = self.visible_conversation(&request, id.clone()).await?;
        let item_id = request.into_inner().item_id;
        check_id("item_id", &item_id)?;
        let store = self.conversations.clone();
        let lookup = item_id.clone();
        if !blocking(move || store.delete_item(&id, &lookup)).await? {
            return Err(MeteringError::ItemNotFound(item_id).into());
        }
        Ok(Response::new(conversation))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_items_are_bounded() {
        let many: HashMap<String, String> =
            (0..17).map(|i| (i.to_string(), String::new())).collect();
        assert!(check_metadata(&many).is_err());
        let long_key = HashMap::from([("k".repeat(65), String::new())]);
        assert!(check_metadata(&long_key).is_err());
        let long_value = HashMap::from([("k".into(), "é".repeat(512))]);
        assert!(check_metadata(&long_value).is_ok());
        let item = |id: &str| ConversationItem {
            id: id.into(),
            item_json: b"{}".to_vec(),
        };
        assert!(check_items(&[item("a"), item("b")]).is_ok());
        assert!(check_items(&[item("a"), item("a")]).is_err());
        assert!(check_items(&[item("")]).is_err());
        assert!(check_items(&[item("a\0b")]).is_err());
    }
}
