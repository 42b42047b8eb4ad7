//! The OpenAI Responses API (`POST /v1/responses`) over the same Gateway `Chat` and
//! `ChatStream` calls as the chat route, and `POST /v1/responses/input_tokens` over
//! `CountTokens`.
//!
//! Answers are stored (`store`, true by default, as OpenAI's) in metering's
//! `ResponseStore`, so a later request can continue one (`previous_response_id`)
//! and `GET` / `DELETE /v1/responses/{id}` work; a response may belong to a
//! conversation of metering's `ConversationStore` ([`conversation`]); background
//! runs and stored prompts are refused. [`wire`] holds the serde types, [`convert`]
//! the translation both ways, [`sse`] the named-event stream, [`store`] what
//! storing and continuing need.
//! Errors are OpenAI's JSON, as on every OpenAI route.

pub mod conversation;
pub mod convert;
pub mod items;
pub mod output;
pub mod sse;
pub mod store;
pub mod wire;
