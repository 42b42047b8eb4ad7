//! Test support for Switchyard's workspace integration tests: an emulated
//! OpenAI-compatible upstream with injectable faults, and a [`Mesh`] that starts the
//! real services — all-in-one or as five separately served services — on
//! `127.0.0.1:0` listeners.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub mod bound;
pub mod keyed;
pub mod mesh;
pub mod roundtrip;
mod shapes;
pub mod upstream;

pub use bound::{REVOCATION_BOUND, within};
pub use keyed::{KeyedMesh, text_chat, with_key};
pub use mesh::{ADMIN_TOKEN, Mesh, Shape};
pub use upstream::{RecordedRequest, Upstream};
