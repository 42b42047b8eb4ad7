//! The OpenAI Responses API (`POST /v1/responses`) over the same Gateway `Chat` and
//! `ChatStream` calls as the chat route, and `POST /v1/responses/input_tokens` over
//! `CountTokens`.
//!
//! Stateless: nothing is stored, so a response cannot be fetched, continued
//! (`previous_response_id`) or run in the background; callers send the whole
//! conversation as `input`, as with `store: false`. [`wire`] holds the serde
//! types, [`convert`] the translation both ways, [`sse`] the named-event stream.
//! Errors are OpenAI's JSON, as on every OpenAI route.

pub mod convert;
pub mod sse;
pub mod wire;
