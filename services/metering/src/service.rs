//! The `Metering` and `UsageQuery` gRPC services over a [`Ledger`].

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use switchyard_config::Config;
use switchyard_grpc::{AdminToken, MAX_MESSAGE_BYTES};
use switchyard_proto::metering::v1::metering_server::{Metering, MeteringServer};
use switchyard_proto::metering::v1::usage_query_server::{UsageQuery, UsageQueryServer};
use switchyard_proto::metering::v1::{
    GetUsageRequest, ListUsageRequest, ListUsageResponse, RecordUsageRequest, RecordUsageResponse,
    UsageRecord,
};
use tonic::{Request, Response, Status};

use crate::ledger::time_us;
use crate::{Ledger, ListFilter, MeteringError, SledLedger};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The metering service state. Cheap to clone.
#[derive(Clone)]
pub struct MeteringService {
    ledger: Arc<dyn Ledger>,
    admin: Arc<AdminToken>,
}

impl MeteringService {
    /// Opens the sled ledger at `metering.data_dir`.
    pub fn open(config: &Config) -> Result<Self, MeteringError> {
        let ledger = SledLedger::open(&config.metering.data_dir)?;
        Ok(Self::with_ledger(
            Arc::new(ledger),
            AdminToken::from_config(&config.admin),
        ))
    }

    /// A service over any ledger (tests, other backends).
    pub fn with_ledger(ledger: Arc<dyn Ledger>, admin: AdminToken) -> Self {
        Self {
            ledger,
            admin: Arc::new(admin),
        }
    }

    /// The generated `Metering` server (called by routers).
    pub fn metering_server(&self) -> MeteringServer<Self> {
        MeteringServer::new(self.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The generated `UsageQuery` server (operators, admin token).
    pub fn query_server(&self) -> UsageQueryServer<Self> {
        UsageQueryServer::new(self.clone()).max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Makes every write durable (called on shutdown).
    pub async fn flush(&self) -> Result<(), MeteringError> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || ledger.flush())
            .await
            .map_err(|_| MeteringError::Store("flush task failed".into()))?
    }

    fn check_admin<T>(&self, request: &Request<T>) -> Result<(), MeteringError> {
        if self.admin.accepts(request.metadata()) {
            Ok(())
        } else {
            Err(MeteringError::AdminUnauthenticated)
        }
    }
}

fn validate(records: &[UsageRecord]) -> Result<(), MeteringError> {
    for (i, r) in records.iter().enumerate() {
        if r.request_id.is_empty() || r.request_id.len() > 128 {
            return Err(MeteringError::invalid(
                &format!("records[{i}].request_id"),
                "must be 1-128 characters",
            ));
        }
        if r.time.is_none() {
            return Err(MeteringError::invalid(
                &format!("records[{i}].time"),
                "is required",
            ));
        }
        if r.cost_micros < 0 {
            return Err(MeteringError::invalid(
                &format!("records[{i}].cost_micros"),
                "must not be negative",
            ));
        }
    }
    Ok(())
}

fn timestamp_us(t: &Option<prost_types::Timestamp>, default: u64) -> u64 {
    match t {
        Some(t) => time_us(&UsageRecord {
            time: Some(*t),
            ..Default::default()
        }),
        None => default,
    }
}

#[tonic::async_trait]
impl Metering for MeteringService {
    async fn record_usage(
        &self,
        request: Request<RecordUsageRequest>,
    ) -> Result<Response<RecordUsageResponse>, Status> {
        let records = request.into_inner().records;
        validate(&records)?;
        let ledger = self.ledger.clone();
        // sled's flush blocks; keep it off the async workers.
        let (inserted, duplicates) =
            tokio::task::spawn_blocking(move || ledger.insert_batch(&records))
                .await
                .map_err(|_| MeteringError::Store("insert task failed".into()))??;
        tracing::debug!(inserted, duplicates, "usage recorded");
        Ok(Response::new(RecordUsageResponse {
            inserted,
            duplicates,
        }))
    }
}

#[tonic::async_trait]
impl UsageQuery for MeteringService {
    async fn get_usage(
        &self,
        request: Request<GetUsageRequest>,
    ) -> Result<Response<UsageRecord>, Status> {
        self.check_admin(&request)?;
        let id = request.into_inner().request_id;
        let record = self.ledger.get(&id)?.ok_or(MeteringError::NotFound(id))?;
        Ok(Response::new(record))
    }

    async fn list_usage(
        &self,
        request: Request<ListUsageRequest>,
    ) -> Result<Response<ListUsageResponse>, Status> {
        self.check_admin(&request)?;
        let req = request.into_inner();
        let now_us = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let after = if req.page_token.is_empty() {
            None
        } else {
            Some(URL_SAFE_NO_PAD.decode(&req.page_token).map_err(|_| {
                MeteringError::invalid("page_token", "not a token from a previous page")
            })?)
        };
        let limit = match req.limit {
            0 => DEFAULT_PAGE,
            n => usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
        };
        let filter = ListFilter {
            start_us: timestamp_us(&req.start, 0),
            // Exclusive end; default "now" plus a little for clock skew between hosts.
            end_us: timestamp_us(&req.end, now_us.saturating_add(60_000_000)),
            tenant: req.tenant,
            key_id: req.key_id,
            limit,
            after,
        };
        let ledger = self.ledger.clone();
        let (records, cursor) = tokio::task::spawn_blocking(move || ledger.list(&filter))
            .await
            .map_err(|_| MeteringError::Store("list task failed".into()))??;
        Ok(Response::new(ListUsageResponse {
            records,
            next_page_token: cursor
                .map(|c| URL_SAFE_NO_PAD.encode(c))
                .unwrap_or_default(),
        }))
    }
}
