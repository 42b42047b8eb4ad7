//! The OpenAI wire format: serde types that stop at the HTTP boundary.
//!
//! Request types are deserialized with every field optional, so the conversion into
//! the Gateway messages (`crate::convert`) can name the exact parameter that is
//! missing or wrong; response types borrow from the Gateway messages, so each answer
//! is encoded once, straight from what the router sent.

pub mod chat;
pub mod completion;
pub mod embeddings;
pub mod models;
mod oneof;
pub mod text_completion;

pub use oneof::{ModeOrObject, StringOrSeq};
