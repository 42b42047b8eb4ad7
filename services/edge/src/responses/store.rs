//! Stored responses: what `store` and `previous_response_id` need at the edge.
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
use switchyard_proto::metering::v1::{GetResponseRequest, PutResponseRequest, StoredResponse};
use switchyard_telemetry::{metrics, names};

use crate::context::Caller;
use crate::error::HttpError;

/// What a request asks of the store, read from its JSON before translation.
#[derive(Debug)]
pub struct Continuation {
    /// The response this one continues, as the caller named it.
    pub previous_response_id: Option<String>,
    /// Whether to keep the answer (`store`, true when absent).
    pub store: bool,
    /// The conversation's input items, earlier responses' first: what is stored
    /// with the answer.
    pub input_items: Vec<Value>,
}

/// Reads `store` and `previous_response_id` from `body`, and when a previous
/// response is named, puts its input and output items before `body`'s own input.
/// With storage off (`edge.store_responses`), nothing is stored whatever `store`
/// says, and a previous response cannot be named.
pub async fn continuation(
    client: &ResponseStoreClient<GrpcChannel>,
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
    let Some(id) = &previous_response_id else {
        return Ok(Continuation {
            previous_response_id,
            store,
            // Kept only to be stored.
            input_items: if store { own_items(body) } else { Vec::new() },
        });
    };
    if !enabled {
        return Err(ApiError::invalid(
            "previous_response_id",
            "This gateway stores no responses (edge.store_responses is off): send the whole \
             conversation as 'input'.",
        )
        .into());
    }
    let previous = fetch(client, caller, id).await.map_err(|e| match e {
        e if e.code == ErrorCode::NotFound => ApiError::invalid(
            "previous_response_id",
            format!("Previous response with id '{id}' not found."),
        )
        .with_upstream_code("previous_response_not_found"),
        e => e,
    })?;
    let mut input_items = items(&previous.input_items_json)?;
    input_items.extend(items(&previous.output_items_json)?);
    input_items.extend(own_items(body));
    body.insert("input".into(), Value::Array(input_items.clone()));
    Ok(Continuation {
        previous_response_id,
        store,
        input_items,
    })
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

/// What storing an answer needs besides the answer itself.
pub struct Keep {
    client: ResponseStoreClient<GrpcChannel>,
    caller: Caller,
    input_items: Vec<u8>,
}

impl Keep {
    /// Keeps `continuation`'s answers with the caller's key, when it asked to.
    pub fn new(
        client: &ResponseStoreClient<GrpcChannel>,
        caller: &Caller,
        continuation: &Continuation,
    ) -> Option<Self> {
        continuation.store.then(|| Self {
            client: client.clone(),
            caller: caller.clone(),
            input_items: serde_json::to_vec(&continuation.input_items).unwrap_or_default(),
        })
    }

    /// Stores response `id`: the `response` object as answered, and its output
    /// items with reasoning signatures. A failure is logged, not answered: the
    /// caller has its (paid-for) answer, and a later `previous_response_id` naming
    /// it gets a clear "not found".
    pub async fn store(mut self, id: String, response_json: Vec<u8>, output_items_json: Vec<u8>) {
        let put = PutResponseRequest {
            response: Some(StoredResponse {
                id,
                response_json,
                input_items_json: self.input_items,
                output_items_json,
                ..StoredResponse::default()
            }),
        };
        let outcome = match self.client.put_response(self.caller.request(put)).await {
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
