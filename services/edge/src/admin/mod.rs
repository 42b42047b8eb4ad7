//! The JSON of the tenant, key and audit admin routes, both ways: [`json`] renders
//! auth's messages for callers, [`request`] reads request bodies strictly into auth's
//! messages (and, for PATCH, the update mask).
//!
//! Conventions match the usage routes: snake_case names, times RFC 3339 in UTC,
//! money as integer micro-dollars (`limit_micros`) plus a decimal `limit_usd` string
//! in answers, enums as lowercase strings (`daily`, `weekly`, `monthly`,
//! `lifetime`). A key's secret appears only in the create and rotate answers.

pub mod json;
pub mod request;
