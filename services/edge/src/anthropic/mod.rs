//! The Anthropic Messages API (`POST /v1/messages`) over the same Gateway `Chat` and
//! `ChatStream` calls as the OpenAI route.
//!
//! [`wire`] holds the serde types, [`convert`] the translation both ways, [`sse`] the
//! named-event stream (`event: message_start` …) the Anthropic SDKs require. Errors
//! use the one table through `HttpError::anthropic`.

pub mod convert;
pub mod sse;
pub mod wire;
