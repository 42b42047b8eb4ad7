//! Quota state on disk: sled tree `quota` in auth's database.
//!
//! - `s/<subject id>` → prost [`StoredSubject`]: the window buckets still counting,
//!   the budget period and its spend, the slots held per router, the period whose
//!   budget refusal was last announced;
//! - `r/<router id>` → prost [`StoredRouter`]: the last report applied (so a retried
//!   report is applied once) and when the router was last heard from.
//!
//! A change is written, and made durable by group commit, before it is answered: a
//! restarted shard resumes with the same spend and the same windows.

use std::collections::HashMap;

use prost::Message;

use super::subject::SubjectState;
use super::window::{Bucket, Window};
use crate::AuthError;

#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredBucket {
    #[prost(int64, tag = "1")]
    pub sec: i64,
    #[prost(uint64, tag = "2")]
    pub requests: u64,
    #[prost(uint64, tag = "3")]
    pub tokens: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredSubject {
    #[prost(message, repeated, tag = "1")]
    pub buckets: Vec<StoredBucket>,
    #[prost(int64, tag = "2")]
    pub budget_period: i64,
    #[prost(int64, tag = "3")]
    pub spent: i64,
    #[prost(map = "string, uint32", tag = "4")]
    pub slots: HashMap<String, u32>,
    #[prost(int64, optional, tag = "5")]
    pub exceeded_noted: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct StoredRouter {
    #[prost(uint64, tag = "1")]
    pub last_seq: u64,
    #[prost(int64, tag = "2")]
    pub last_seen_ms: i64,
}

pub fn subject_key(id: &str) -> Vec<u8> {
    [b"s/".as_slice(), id.as_bytes()].concat()
}

pub fn router_key(id: &str) -> Vec<u8> {
    [b"r/".as_slice(), id.as_bytes()].concat()
}

pub fn encode_subject(state: &SubjectState, now: i64) -> Vec<u8> {
    StoredSubject {
        buckets: state
            .window
            .live_buckets(now)
            .map(|b| StoredBucket {
                sec: b.sec,
                requests: b.requests,
                tokens: b.tokens,
            })
            .collect(),
        budget_period: state.budget_period,
        spent: state.spent,
        slots: state.slots.clone(),
        exceeded_noted: state.exceeded_noted,
    }
    .encode_to_vec()
}

pub fn decode_subject(bytes: &[u8]) -> Result<SubjectState, AuthError> {
    let stored = StoredSubject::decode(bytes)?;
    Ok(SubjectState {
        window: Window::from_buckets(stored.buckets.into_iter().map(|b| Bucket {
            sec: b.sec,
            requests: b.requests,
            tokens: b.tokens,
        })),
        budget_period: stored.budget_period,
        spent: stored.spent,
        slots: stored.slots,
        exceeded_noted: stored.exceeded_noted,
    })
}

/// Every router record, for liveness after a restart.
pub fn load_routers(tree: &sled::Tree) -> Result<HashMap<String, StoredRouter>, AuthError> {
    let mut routers = HashMap::new();
    for item in tree.scan_prefix(b"r/") {
        let (key, value) = item?;
        let id = String::from_utf8_lossy(&key[2..]).into_owned();
        routers.insert(id, StoredRouter::decode(value.as_ref())?);
    }
    Ok(routers)
}
