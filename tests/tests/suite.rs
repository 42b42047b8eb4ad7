//! Integration tests of the whole mesh, one module per file, linked into one binary:
//! every test binary links all dependencies (60-120 MB each in a debug build),
//! so one binary per crate keeps a clean `cargo test` small on disk and quick to
//! link. A file that must be alone in its process has its own `[[test]]`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod admin_routes;
mod conversations;
mod e2e;
mod layout;
mod limits;
mod model_routes;
mod provider_anthropic;
mod provider_bedrock;
mod provider_cohere;
mod provider_gemini;
mod provider_openai;
mod python_clients;
mod response_cache;
mod revocation;
mod routing;
mod stored_responses;
mod text_completions;
