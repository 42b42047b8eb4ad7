//! Translation between the OpenAI wire types and the Gateway API messages.
//!
//! Requests are validated here (`TryFrom`, errors naming the parameter); answers are
//! turned into borrowed wire views, so nothing is copied or encoded twice.

pub mod chat;
pub mod completion;
pub mod embeddings;
pub mod json;
pub mod text_completion;
