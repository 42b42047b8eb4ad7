//! Conversations behind the `ConversationStore` API: the store trait and its sled
//! implementation. Three trees: `conversations` (id → the encoded conversation),
//! `conversation_items` (conversation id, a NUL, then a sequence number from
//! sled's id generator, big-endian → the encoded item, so a prefix scan reads a
//! conversation's items in order) and `conversation_item_ids` (conversation id, a
//! NUL, the item id → its sequence number). A conversation and its index change in
//! one transaction.

use prost::Message;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use switchyard_proto::metering::v1::{Conversation, ConversationItem};

use crate::MeteringError;

/// One page of items, as [`Conversations::list`] reads it.
#[derive(Debug, Default, PartialEq)]
pub struct ItemPage {
    /// The items, in the order asked for.
    pub items: Vec<ConversationItem>,
    /// More items follow the last one.
    pub has_more: bool,
}

/// Where conversations live; sled in production, anything in tests.
pub trait Conversations: Send + Sync {
    /// Stores a new conversation (its id must be new) with `items`.
    fn create(
        &self,
        conversation: &Conversation,
        items: &[ConversationItem],
    ) -> Result<(), MeteringError>;
    /// The conversation `id`.
    fn get(&self, id: &str) -> Result<Option<Conversation>, MeteringError>;
    /// Replaces a conversation's record (its metadata); false if it is gone.
    fn update(&self, conversation: &Conversation) -> Result<bool, MeteringError>;
    /// Deletes the conversation `id` and its items; whether there was one.
    fn delete(&self, id: &str) -> Result<bool, MeteringError>;
    /// Appends `items` to conversation `id`, all or none: refused if it is gone or
    /// already has one of their ids.
    fn append(&self, id: &str, items: &[ConversationItem]) -> Result<(), MeteringError>;
    /// Up to `limit` items (0: all) after item `after`, oldest first unless
    /// `descending`.
    fn list(
        &self,
        id: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<ItemPage, MeteringError>;
    /// Item `item` of conversation `id`.
    fn item(&self, id: &str, item: &str) -> Result<Option<ConversationItem>, MeteringError>;
    /// Deletes item `item` of conversation `id`; whether there was one.
    fn delete_item(&self, id: &str, item: &str) -> Result<bool, MeteringError>;
}

/// The store of a service built without one: every call fails, saying so.
pub(crate) struct Unconfigured;

fn unconfigured<T>() -> Result<T, MeteringError> {
    Err(MeteringError::Store(
        "no conversation store is configured".into(),
    ))
}

impl Conversations for Unconfigured {
    fn create(&self, _: &Conversation, _: &[ConversationItem]) -> Result<(), MeteringError> {
        unconfigured()
    }
    fn get(&self, _: &str) -> Result<Option<Conversation>, MeteringError> {
        unconfigured()
    }
    fn update(&self, _: &Conversation) -> Result<bool, MeteringError> {
        unconfigured()
    }
    fn delete(&self, _: &str) -> Result<bool, MeteringError> {
        unconfigured()
    }
    fn append(&self, _: &str, _: &[ConversationItem]) -> Result<(), MeteringError> {
        unconfigured()
    }
    fn list(&self, _: &str, _: Option<&str>, _: usize, _: bool) -> Result<ItemPage, MeteringError> {
        unconfigured()
    }
    fn item(&self, _: &str, _: &str) -> Result<Option<ConversationItem>, MeteringError> {
        unconfigured()
    }
    fn delete_item(&self, _: &str, _: &str) -> Result<bool, MeteringError> {
        unconfigured()
    }
}

/// Conversations in sled (see the module documentation for the layout).
pub struct SledConversations {
    conversations: sled::Tree,
    items: sled::Tree,
    ids: sled::Tree,
}

impl SledConversations {
    /// The trees in `db` (the ledger's database).
    pub fn open(db: &sled::Db) -> Result<Self, MeteringError> {
        Ok(Self {
            conversations: db.open_tree("conversations")?,
            items: db.open_tree("conversation_items")?,
            ids: db.open_tree("conversation_item_ids")?,
        })
    }

    /// A store in a temporary database, removed when dropped (tests, and services
    /// built over another ledger).
    pub fn temporary() -> Result<Self, MeteringError> {
        Self::open(&sled::Config::new().temporary(true).open()?)
    }

    /// Inserts `items` after the conversation's last (inside a transaction).
    fn insert_items(
        &self,
        id: &str,
        items: &[ConversationItem],
        trees: (
            &sled::transaction::TransactionalTree,
            &sled::transaction::TransactionalTree,
        ),
    ) -> Result<(), ConflictableTransactionError<MeteringError>> {
        let (item_tree, id_tree) = trees;
        for item in items {
            let id_key = key(id, item.id.as_bytes());
            if id_tree.get(&id_key)?.is_some() {
                return Err(ConflictableTransactionError::Abort(MeteringError::invalid(
                    "items",
                    format!("Duplicate item found with id '{}'.", item.id),
                )));
            }
            let seq = id_tree.generate_id()?.to_be_bytes();
            id_tree.insert(id_key, &seq)?;
            item_tree.insert(key(id, &seq), item.encode_to_vec())?;
        }
        Ok(())
    }

    fn remove_items(&self, id: &str) -> Result<(), MeteringError> {
        let prefix = key(id, &[]);
        for tree in [&self.items, &self.ids] {
            let mut batch = sled::Batch::default();
            for entry in tree.scan_prefix(&prefix).keys() {
                batch.remove(entry?);
            }
            tree.apply_batch(batch)?;
        }
        Ok(())
    }
}

/// A conversation's key for `rest`: its id, a NUL (no id holds one), then `rest`.
fn key(conversation: &str, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(conversation.len() + 1 + rest.len());
    key.extend_from_slice(conversation.as_bytes());
    key.push(0);
    key.extend_from_slice(rest);
    key
}

fn settle<T>(result: Result<T, TransactionError<MeteringError>>) -> Result<T, MeteringError> {
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

fn gone(id: &str) -> ConflictableTransactionError<MeteringError> {
    ConflictableTransactionError::Abort(MeteringError::ConversationNotFound(id.to_string()))
}

impl Conversations for SledConversations {
    fn create(
        &self,
        conversation: &Conversation,
        items: &[ConversationItem],
    ) -> Result<(), MeteringError> {
        let id = conversation.id.as_str();
        let value = conversation.encode_to_vec();
        settle((&self.conversations, &self.items, &self.ids).transaction(
            |(conversations, item_tree, id_tree)| {
                if conversations.get(id.as_bytes())?.is_some() {
                    return Err(ConflictableTransactionError::Abort(MeteringError::Store(
                        format!("conversation id '{id}' is taken"),
                    )));
                }
                conversations.insert(id.as_bytes(), value.as_slice())?;
                self.insert_items(id, items, (item_tree, id_tree))
            },
        ))
    }

    fn get(&self, id: &str) -> Result<Option<Conversation>, MeteringError> {
        match self.conversations.get(id.as_bytes())? {
            Some(value) => Ok(Some(Conversation::decode(value.as_ref())?)),
            None => Ok(None),
        }
    }

    fn update(&self, conversation: &Conversation) -> Result<bool, MeteringError> {
        let id = conversation.id.as_bytes();
        let value = conversation.encode_to_vec();
        settle(self.conversations.transaction(|conversations| {
            if conversations.get(id)?.is_none() {
                return Ok(false);
            }
            conversations.insert(id, value.as_slice())?;
            Ok(true)
        }))
    }

    fn delete(&self, id: &str) -> Result<bool, MeteringError> {
        // Once the record is gone nothing can reach the items (an append checks
        // the record in its transaction), so they are removed after it.
        if self.conversations.remove(id.as_bytes())?.is_none() {
            return Ok(false);
        }
        self.remove_items(id)?;
        Ok(true)
    }

    fn append(&self, id: &str, items: &[ConversationItem]) -> Result<(), MeteringError> {
        settle((&self.conversations, &self.items, &self.ids).transaction(
            |(conversations, item_tree, id_tree)| {
                if conversations.get(id.as_bytes())?.is_none() {
                    return Err(gone(id));
                }
                self.insert_items(id, items, (item_tree, id_tree))
            },
        ))
    }

    fn list(
        &self,
        id: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<ItemPage, MeteringError> {
        let start_key = key(id, &[]);
        // The id and the byte after NUL: past every key of this conversation.
        let mut end = start_key.clone();
        end.pop();
        end.push(1);
        let (mut start, mut stop) = (start_key, end);
        if let Some(after) = after {
            let seq = self.ids.get(key(id, after.as_bytes()))?.ok_or_else(|| {
                MeteringError::invalid("after", format!("No item with id '{after}'."))
            })?;
            let at = key(id, &seq);
            if descending {
                stop = at;
            } else {
                start = at;
                start.push(0);
            }
        }
        let range = self.items.range(start..stop);
        let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
            if descending {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
        let take = if limit == 0 { usize::MAX } else { limit };
        let mut page = ItemPage::default();
        for entry in entries {
            let (_, value) = entry?;
            if page.items.len() == take {
                page.has_more = true;
                break;
            }
            page.items.push(ConversationItem::decode(value.as_ref())?);
        }
        Ok(page)
    }

    fn item(&self, id: &str, item: &str) -> Result<Option<ConversationItem>, MeteringError> {
        let Some(seq) = self.ids.get(key(id, item.as_bytes()))? else {
            return Ok(None);
        };
        match self.items.get(key(id, &seq))? {
            Some(value) => Ok(Some(ConversationItem::decode(value.as_ref())?)),
            None => Ok(None),
        }
    }

    fn delete_item(&self, id: &str, item: &str) -> Result<bool, MeteringError> {
        let id_key = key(id, item.as_bytes());
        settle(
            (&self.items, &self.ids).transaction(|(item_tree, id_tree)| {
                let Some(seq) = id_tree.remove(id_key.as_slice())? else {
                    return Ok(false);
                };
                item_tree.remove(key(id, &seq))?;
                Ok(true)
            }),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn item(id: &str) -> ConversationItem {
        ConversationItem {
            id: id.into(),
            item_json: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        }
    }

    fn ids(page: &ItemPage) -> Vec<&str> {
        page.items.iter().map(|i| i.id.as_str()).collect()
    }

    fn conversation(id: &str) -> Conversation {
        Conversation {
            id: id.into(),
            tenant: "acme".into(),
            ..Conversation::default()
        }
    }

    #[test]
    fn items_keep_their_order_and_page_both_ways() {
        let store = SledConversations::temporary().unwrap();
        store
            .create(&conversation("conv_a"), &[item("a1"), item("a2")])
            .unwrap();
        // A conversation whose id is a prefix of another's keeps its own items.
        store.create(&conversation("conv_"), &[item("x")]).unwrap();
        store.append("conv_a", &[item("a3"), item("a4")]).unwrap();
        let all = store.list("conv_a", None, 0, false).unwrap();
        assert_eq!(ids(&all), ["a1", "a2", "a3", "a4"]);
        assert!(!all.has_more);
        let first = store.list("conv_a", None, 2, true).unwrap();
        assert_eq!((ids(&first), first.has_more), (vec!["a4", "a3"], true));
        let next = store.list("conv_a", Some("a3"), 2, true).unwrap();
        assert_eq!((ids(&next), next.has_more), (vec!["a2", "a1"], false));
        let asc = store.list("conv_a", Some("a2"), 5, false).unwrap();
        assert_eq!(ids(&asc), ["a3", "a4"]);
        assert!(matches!(
            store.list("conv_a", Some("x"), 5, false),
            Err(MeteringError::InvalidArgument { .. })
        ));
        assert_eq!(ids(&store.list("conv_", None, 0, false).unwrap()), ["x"]);
    }

    #[test]
    fn appends_are_all_or_none_and_ids_unique() {
        let store = SledConversations::temporary().unwrap();
        store
            .create(&conversation("conv_a"), &[item("a1")])
            .unwrap();
        let err = store
            .append("conv_a", &[item("a2"), item("a1")])
            .unwrap_err();
        assert!(matches!(err, MeteringError::InvalidArgument { .. }));
        assert_eq!(ids(&store.list("conv_a", None, 0, false).unwrap()), ["a1"]);
        assert!(matches!(
            store.append("conv_b", &[item("b1")]),
            Err(MeteringError::ConversationNotFound(_))
        ));
    }

    #[test]
    fn items_and_conversations_delete() {
        let store = SledConversations::temporary().unwrap();
        store
            .create(&conversation("conv_a"), &[item("a1"), item("a2")])
            .unwrap();
        assert_eq!(store.item("conv_a", "a2").unwrap().unwrap().id, "a2");
        assert!(store.delete_item("conv_a", "a1").unwrap());
        assert!(!store.delete_item("conv_a", "a1").unwrap());
        assert!(store.item("conv_a", "a1").unwrap().is_none());
        // The id is free again.
        store.append("conv_a", &[item("a1")]).unwrap();
        assert_eq!(
            ids(&store.list("conv_a", None, 0, false).unwrap()),
            ["a2", "a1"]
        );
        let mut renamed = conversation("conv_a");
        renamed.metadata.insert("topic".into(), "x".into());
        assert!(store.update(&renamed).unwrap());
        assert_eq!(store.get("conv_a").unwrap().unwrap().metadata["topic"], "x");
        assert!(store.delete("conv_a").unwrap());
        assert!(!store.delete("conv_a").unwrap());
        assert!(store.get("conv_a").unwrap().is_none());
        assert!(store.items.is_empty() && store.ids.is_empty());
        assert!(!store.update(&renamed).unwrap());
    }
}
