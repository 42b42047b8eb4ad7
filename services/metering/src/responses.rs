//! Stored Responses API answers behind the `ResponseStore` API: the store trait,
//! its sled implementation (one tree by id, one by time for retention, written in
//! one transaction), and the retention loop.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prost::Message;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use switchyard_proto::metering::v1::StoredResponse;
use tokio_util::sync::CancellationToken;

use crate::MeteringError;
use crate::ledger::timestamp_to_us;

/// Responses deleted per transaction by retention.
const BATCH: usize = 1_000;

/// Where stored responses live; sled in production, anything in tests.
pub trait Responses: Send + Sync {
    /// Stores `stored` under its id, replacing an earlier one of the same tenant
    /// (another tenant's is refused).
    fn put(&self, stored: &StoredResponse) -> Result<(), MeteringError>;
    /// The response stored under `id`.
    fn get(&self, id: &str) -> Result<Option<StoredResponse>, MeteringError>;
    /// Deletes the response under `id`; whether there was one.
    fn delete(&self, id: &str) -> Result<bool, MeteringError>;
    /// Deletes up to `max` responses created before `horizon_us`; how many.
    fn expire_before(&self, horizon_us: u64, max: usize) -> Result<usize, MeteringError>;
}

/// The store of a service built without one: every call fails, saying so.
pub(crate) struct Unconfigured;

impl Responses for Unconfigured {
    fn put(&self, _: &StoredResponse) -> Result<(), MeteringError> {
        Err(MeteringError::Store(
            "no response store is configured".into(),
        ))
    }
    fn get(&self, _: &str) -> Result<Option<StoredResponse>, MeteringError> {
        Err(MeteringError::Store(
            "no response store is configured".into(),
        ))
    }
    fn delete(&self, _: &str) -> Result<bool, MeteringError> {
        Err(MeteringError::Store(
            "no response store is configured".into(),
        ))
    }
    fn expire_before(&self, _: u64, _: usize) -> Result<usize, MeteringError> {
        Ok(0)
    }
}

/// Stored responses in two sled trees: `responses` (id → the encoded response)
/// and `responses_by_time` (creation µs, big-endian, then the id → nothing).
pub struct SledResponses {
    by_id: sled::Tree,
    by_time: sled::Tree,
}

impl SledResponses {
    /// The trees in `db` (the ledger's database).
    pub fn open(db: &sled::Db) -> Result<Self, MeteringError> {
        Ok(Self {
            by_id: db.open_tree("responses")?,
            by_time: db.open_tree("responses_by_time")?,
        })
    }

    /// A store in a temporary database, removed when dropped (tests, and services
    /// built over another ledger).
    pub fn temporary() -> Result<Self, MeteringError> {
        Self::open(&sled::Config::new().temporary(true).open()?)
    }
}

fn time_key(stored: &StoredResponse) -> Vec<u8> {
    let us = stored.created.as_ref().map_or(0, timestamp_to_us);
    let mut key = us.to_be_bytes().to_vec();
    key.extend_from_slice(stored.id.as_bytes());
    key
}

fn settle<T>(result: Result<T, TransactionError<MeteringError>>) -> Result<T, MeteringError> {
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

impl Responses for SledResponses {
    fn put(&self, stored: &StoredResponse) -> Result<(), MeteringError> {
        let value = stored.encode_to_vec();
        let time = time_key(stored);
        settle(
            (&self.by_id, &self.by_time).transaction(|(by_id, by_time)| {
                if let Some(old) = by_id.get(stored.id.as_bytes())? {
                    let old = StoredResponse::decode(old.as_ref())
                        .map_err(|e| ConflictableTransactionError::Abort(MeteringError::from(e)))?;
                    if old.tenant != stored.tenant {
                        // A caller-chosen request id must not overwrite another
                        // tenant's response.
                        return Err(ConflictableTransactionError::Abort(
                            MeteringError::PermissionDenied(format!(
                                "response id '{}' is taken; send another x-request-id",
                                stored.id
                            )),
                        ));
                    }
                    by_time.remove(time_key(&old))?;
                }
                by_id.insert(stored.id.as_bytes(), value.as_slice())?;
                by_time.insert(time.as_slice(), &[])?;
                Ok(())
            }),
        )
    }

    fn get(&self, id: &str) -> Result<Option<StoredResponse>, MeteringError> {
        match self.by_id.get(id.as_bytes())? {
            Some(value) => Ok(Some(StoredResponse::decode(value.as_ref())?)),
            None => Ok(None),
        }
    }

    fn delete(&self, id: &str) -> Result<bool, MeteringError> {
        settle(
            (&self.by_id, &self.by_time).transaction(|(by_id, by_time)| {
                let Some(old) = by_id.remove(id.as_bytes())? else {
                    return Ok(false);
                };
                let old = StoredResponse::decode(old.as_ref())
                    .map_err(|e| ConflictableTransactionError::Abort(MeteringError::from(e)))?;
                by_time.remove(time_key(&old))?;
                Ok(true)
            }),
        )
    }

    fn expire_before(&self, horizon_us: u64, max: usize) -> Result<usize, MeteringError> {
        let old: Vec<sled::IVec> = self
            .by_time
            .range(..horizon_us.to_be_bytes().to_vec())
            .keys()
            .take(max)
            .collect::<Result<_, _>>()?;
        settle(
            (&self.by_id, &self.by_time).transaction(|(by_id, by_time)| {
                for key in &old {
                    by_time.remove(key)?;
                    by_id.remove(&key[8..])?;
                }
                Ok(())
            }),
        )?;
        Ok(old.len())
    }
}

/// Deletes responses older than `days` at start and then every `interval`, until
/// `stop` is cancelled.
pub(crate) async fn run_retention(
    store: Arc<dyn Responses>,
    days: u32,
    interval: Duration,
    stop: CancellationToken,
) {
    crate::retention::periodically(interval, stop.clone(), || async {
        let horizon = crate::retention::horizon_us(days, SystemTime::now());
        let mut deleted = 0;
        while !stop.is_cancelled() {
            let batch = store.clone();
            match tokio::task::spawn_blocking(move || batch.expire_before(horizon, BATCH)).await {
                Ok(Ok(n)) => {
                    deleted += n;
                    if n < BATCH {
                        break;
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "response retention pass failed; retrying later");
                    break;
                }
                Err(_) => break,
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, days, "stored responses expired");
        }
    })
    .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prost_types::Timestamp;

    use super::*;

    fn stored(id: &str, secs: i64) -> StoredResponse {
        StoredResponse {
            id: id.into(),
            tenant: "acme".into(),
            created: Some(Timestamp {
                seconds: secs,
                nanos: 0,
            }),
            response_json: format!("{{\"id\":\"{id}\"}}").into_bytes(),
            ..StoredResponse::default()
        }
    }

    #[test]
    fn put_get_replace_delete_and_expire() {
        let store = SledResponses::temporary().unwrap();
        store.put(&stored("resp_a", 100)).unwrap();
        store.put(&stored("resp_b", 200)).unwrap();
        assert_eq!(store.get("resp_a").unwrap().unwrap().tenant, "acme");
        assert!(store.get("resp_x").unwrap().is_none());
        // Replacing moves its time entry: only one remains.
        store.put(&stored("resp_a", 300)).unwrap();
        assert_eq!(store.by_time.len(), 2);
        // Before 250 s: only resp_b (resp_a is now at 300 s).
        assert_eq!(store.expire_before(250_000_000, 10).unwrap(), 1);
        assert!(store.get("resp_b").unwrap().is_none());
        let mut other = stored("resp_a", 400);
        other.tenant = "globex".into();
        assert!(matches!(
            store.put(&other),
            Err(MeteringError::PermissionDenied(_))
        ));
        assert!(store.delete("resp_a").unwrap());
        assert!(!store.delete("resp_a").unwrap());
        assert!(store.by_id.is_empty() && store.by_time.is_empty());
    }
}
