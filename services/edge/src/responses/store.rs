//! Stored responses and conversations: what `store`, `previous_response_id` and
//! `conversation` need at the edge.
//!
//! A request's JSON is read as an object first: `store` (default true, as
//! OpenAI's) decides whether the answer is kept, and `previous_response_id` is
//! resolved here, from metering's `ResponseStore` with the caller's key, into the
//! items the model sees first: the previous response's input (its own chain
//! already expanded) and its output. What is stored is OpenAI's JSON as the edge
//! wrote it: the `response` object, the conversation's input items, and the
//! output items with their reasoning's `encrypted_content` (so a continuation
//! can send Claude's signed thinking back, whether or not the caller asked to see
//! it).

use serde_json::{Map, Value, json};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_grpc::GrpcChannel;
use switchyard_proto::metering::v1::response_store_client::ResponseStoreClient;
use switchyard_proto::metering::v1::{
    AppendItemsRequest, ConversationItem, GetResponseRequest, PutResponseRequest, StoredResponse,
};
use switchyard_telemetry::{metrics, names};

use super::conversation;
use crate::context::Caller;
use crate::error::HttpError;
use crate::routes::AdminClients;

/// What a request asks of the store, read from its JSON before translation.
#[derive(Debug)]
pub struct Continuation {
    /// The response this one continues, as the caller named it.
    pub previous_response_id: Option<String>,
    /// The conversation this response belongs to: its items come first, and the
    /// request's input and the answer's output are added to it.
    pub conversation: Option<String>,
    /// Whether to keep the answer (`store`, true when absent).
    pub store: bool,
    /// The conversation's input items, earlier responses' first: what is stored
    /// with the answer.
    pub input_items: Vec<Value>,
    /// The request's own input items as the conversation keeps them (completed,
    /// with ids), added to it with the answer.
    pub new_items: Vec<ConversationItem>,
}

impl Continuation {
    /// Whether earlier items were put before the body's own input.
    pub fn rewrote(&self) -> bool {
        self.previous_response_id.is_some() || self.conversation.is_some()
    }
}

/// Reads `store`, `previous_response_id` and `conversation` from `body`, and when
/// a previous response or a conversation is named, puts its items before `body`'s
/// own input. With storage off (`edge.store_responses`), nothing is stored
/// whatever `store` says, and neither can be named.
pub async fn continuation(
    clients: &AdminClients,
    caller: &Caller,
    body: &mut Map<String, Value>,
    enabled: bool,
) -> Result<Continuation, HttpError> {
    let store = match body.get("store") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(store)) => *store,
        Some(_) => return Err(ApiError::invalid("store", "Expected a boolean.").into()),
    } && enabled;
    let previous_response_id = match body.remove("previous_response_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id),
        Some(_) => {
            return Err(
                ApiError::invalid("previous_response_id", "Expected a response id.").into(),
            );
        }
    };
    let conversation = conversation_id(body.remove("conversation"))?;
    if conversation.is_some() && previous_response_id.is_some() {
        return Err(ApiError::invalid(
            "conversation",
            "Mutually exclusive parameters: Ensure you are only providing one of: \
             'previous_response_id' or 'conversation'.",
        )
        .into());
    }
    let named = previous_response_id
        .as_ref()
        .map(|_| "previous_response_id")
        .or(conversation.as_ref().map(|_| "conversation"));
    if let (Some(param), false) = (named, enabled) {
        return Err(ApiError::invalid(
            param,
            "This gateway stores no responses or conversations (edge.store_responses is off): \
             send the whole conversation as 'input'.",
        )
        .into());
    }
    let mut continued = Continuation {
        previous_response_id,
        conversation,
        store,
        input_items: Vec::new(),
        new_items: Vec::new(),
    };
    let whole = match (&continued.conversation, &continued.previous_response_id) {
        (Some(id), _) => {
            let (whole, own) = in_conversation(clients, caller, id, own_items(body)).await?;
            continued.new_items = own;
            whole
        }
        (None, Some(id)) => after_response(clients, caller, id, own_items(body)).await?,
        (None, None) => {
            // Kept only to be stored.
            if store {
                continued.input_items = own_items(body);
            }
            return Ok(continued);
        }
    };
    if store {
        continued.input_items.clone_from(&whole);
    }
    body.insert("input".into(), Value::Array(whole));
    Ok(continued)
}

/// Conversation `id`'s items, then `own` (completed, checked by the translation
/// that follows): the input the model sees; and `own` as the conversation will
/// keep them. An id the conversation already has is refused.
async fn in_conversation(
    clients: &AdminClients,
    caller: &Caller,
    id: &str,
    own: Vec<Value>,
) -> Result<(Vec<Value>, Vec<ConversationItem>), ApiError> {
    let own = conversation::completed(&format!("{}_in", caller.request_id), own);
    let mut whole = conversation::all_items(&clients.conversations, caller, id).await?;
    if let Some(dup) = own
        .iter()
        .find(|new| whole.iter().any(|old| old["id"] == new["id"]))
    {
        return Err(ApiError::invalid(
            "input",
            format!(
                "Duplicate item found with id '{}'.",
                dup["id"].as_str().unwrap_or_default()
            ),
        ));
    }
    let stored = own
        .iter()
        .map(conversation::stored)
        .collect::<Result<_, _>>()?;
    whole.extend(own);
    Ok((whole, stored))
}

/// Response `id`'s input and output items, then `own`: the input the model sees.
async fn after_response(
    clients: &AdminClients,
    caller: &Caller,
    id: &str,
    own: Vec<Value>,
) -> Result<Vec<Value>, ApiError> {
    let previous = fetch(&clients.responses, caller, id)
        .await
        .map_err(|e| match e {
            e if e.code == ErrorCode::NotFound => ApiError::invalid(
                "previous_response_id",
                format!("Previous response with id '{id}' not found."),
            )
            .with_upstream_code("previous_response_not_found"),
            e => e,
        })?;
    let mut whole = items(&previous.input_items_json)?;
    whole.extend(items(&previous.output_items_json)?);
    whole.extend(own);
    Ok(whole)
}

/// `conversation`: an id, or `{"id": …}`.
fn conversation_id(value: Option<Value>) -> Result<Option<String>, ApiError> {
    let id = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(id)) => id,
        Some(Value::Object(mut object)) => match object.remove("id") {
            Some(Value::String(id)) => id,
            _ => {
                return Err(ApiError::invalid(
                    "conversation.id",
                    "Expected a conversation id.",
                ));
            }
        },
        Some(_) => {
            return Err(ApiError::invalid(
                "conversation",
                "Expected a conversation id or an object with its 'id'.",
            ));
        }
    };
    if id.is_empty() {
        return Err(ApiError::invalid(
            "conversation",
            "Expected a conversation id.",
        ));
    }
    Ok(Some(id))
}

/// `body`'s own input as items: a string is one user message.
fn own_items(body: &Map<String, Value>) -> Vec<Value> {
    match body.get("input") {
        Some(Value::String(text)) => {
            vec![json!({"type": "message", "role": "user", "content": text})]
        }
        Some(Value::Array(items)) => items.clone(),
        // Missing or mistyped: the translation names it.
        _ => Vec::new(),
    }
}

/// A stored JSON array of items.
fn items(json: &[u8]) -> Result<Vec<Value>, ApiError> {
    if json.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(json).map_err(|e| {
        tracing::error!(error = %e, "a stored response's items do not parse");
        ApiError::internal()
    })
}

/// The stored response `id`, if the caller's tenant owns it.
pub async fn fetch(
    client: &ResponseStoreClient<GrpcChannel>,
    caller: &Caller,
    id: &str,
) -> Result<StoredResponse, ApiError> {
    let mut client = client.clone();
    client
        .get_response(caller.request(GetResponseRequest { id: id.into() }))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| ApiError::from_status(&status))
}

/// What keeping an answer needs besides the answer itself: storing it (`store`),
/// adding it to its conversation, or both.
pub struct Keep {
    responses: Option<ResponseStoreClient<GrpcChannel>>,
    conversation: Option<(conversation::Client, String, Vec<ConversationItem>)>,
    caller: Caller,
    input_items: Vec<u8>,
}

impl Keep {
    /// Keeps `continuation`'s answers with the caller's key, when it asked to.
    pub fn new(
        clients: &AdminClients,
        caller: &Caller,
        continuation: &Continuation,
    ) -> Option<Self> {
        let conversation = continuation.conversation.as_ref().map(|id| {
            (
                clients.conversations.clone(),
                id.clone(),
                continuation.new_items.clone(),
            )
        });
        if !continuation.store && conversation.is_none() {
            return None;
        }
        Some(Self {
            responses: continuation.store.then(|| clients.responses.clone()),
            conversation,
            caller: caller.clone(),
            input_items: if continuation.store {
                serde_json::to_vec(&continuation.input_items).unwrap_or_default()
            } else {
                Vec::new()
            },
        })
    }

    /// Keeps response `id`: stores the `response` object as answered and its output
    /// items with reasoning signatures, and adds the request's input and those
    /// output items to its conversation. A failure is logged, not answered: the
    /// caller has its (paid-for) answer, and a later `previous_response_id` naming
    /// it gets a clear "not found".
    pub async fn store(self, id: String, response_json: Vec<u8>, output_items_json: Vec<u8>) {
        if let Some((mut client, conversation_id, mut items)) = self.conversation {
            let added = async {
                for value in items_of(&output_items_json)? {
                    items.push(conversation::stored(&value)?);
                }
                client
                    .append_items(self.caller.request(AppendItemsRequest {
                        conversation_id,
                        items,
                    }))
                    .await
                    .map_err(|status| ApiError::from_status(&status))
            };
            let outcome = match added.await {
                Ok(_) => "added",
                Err(error) => {
                    tracing::warn!(code = ?error.code, message = %error.message, "adding the response to its conversation failed");
                    "failed"
                }
            };
            metrics::counter!(names::CONVERSATION_ITEMS_ADDED, "outcome" => outcome).increment(1);
        }
        let Some(mut client) = self.responses else {
            return;
        };
        let put = PutResponseRequest {
            response: Some(StoredResponse {
                id,
                response_json,
                input_items_json: self.input_items,
                output_items_json,
                ..StoredResponse::default()
            }),
        };
        let outcome = match client.put_response(self.caller.request(put)).await {
            Ok(_) => "stored",
            Err(status) => {
                let error = ApiError::from_status(&status);
                tracing::warn!(code = ?error.code, message = %error.message, "storing the response failed");
                "failed"
            }
        };
        metrics::counter!(names::RESPONSES_STORED, "outcome" => outcome).increment(1);
    }
}

/// A JSON array of items.
fn items_of(json: &[u8]) -> Result<Vec<Value>, ApiError> {
    serde_json::from_slice(json).map_err(|_| ApiError::internal())
}
