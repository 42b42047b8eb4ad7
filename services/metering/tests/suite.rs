//! Integration tests of metering, one module per file, linked into one binary:
//! every test binary links all dependencies (60-120 MB each in a debug build),
//! so one binary per crate keeps a clean `cargo test` small on disk and quick to
//! link. A file that must be alone in its process has its own `[[test]]`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod access;
mod aggregates;
mod common;
mod export;
mod responses;
mod retention;
