//! The `Metering` and `UsageQuery` gRPC services over a [`Ledger`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use switchyard_config::Config;
use switchyard_grpc::{AdminToken, GrpcChannel, MAX_MESSAGE_BYTES, request_id};
use switchyard_proto::metering::v1::conversation_store_server::ConversationStoreServer;
use switchyard_proto::metering::v1::metering_server::{Metering, MeteringServer};
use switchyard_proto::metering::v1::response_store_server::ResponseStoreServer;
use switchyard_proto::metering::v1::usage_query_server::{UsageQuery, UsageQueryServer};
use switchyard_proto::metering::v1::{
    ExportUsageRequest, GetUsageRequest, ListUsageRequest, ListUsageResponse, RecordUsageRequest,
    RecordUsageResponse, SummarizeUsageRequest, SummarizeUsageResponse, UsageRecord,
};
use switchyard_telemetry::{metrics, names};
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::{Request, Response, Status};

use crate::access::{Access, Caller};
use crate::conversations::Conversations;
use crate::export::{self, ExportStream};
use crate::ledger::timestamp_to_us;
use crate::query::{SummaryQuery, summarize};
use crate::responses::Responses;
use crate::{Ledger, ListFilter, MeteringError, SledLedger, retention};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Default end of a query range past "now", for clock skew between hosts.
const SKEW_US: u64 = 60_000_000;

/// The metering service state. Cheap to clone; background work (retention) stops
/// when [`MeteringService::stop_background`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct MeteringService {
    ledger: Arc<dyn Ledger>,
    pub(crate) responses: Arc<dyn Responses>,
    pub(crate) conversations: Arc<dyn Conversations>,
    responses_retention_days: u32,
    access: Access,
    retention_days: u32,
    stop: CancellationToken,
    _stop_on_drop: Arc<DropGuard>,
}

impl MeteringService {
    /// Opens the sled ledger at `metering.data_dir` and starts retention (when
    /// `metering.retention_days` is set). `auth` reaches the auth service, which
    /// resolves virtual keys so tenants can query their own usage.
    pub fn open(config: &Config, auth: GrpcChannel) -> Result<Self, MeteringError> {
        let ledger =
            SledLedger::open_with_cache(&config.metering.data_dir, config.metering.cache_mb << 20)?;
        let responses = Arc::new(ledger.responses()?);
        let conversations = Arc::new(ledger.conversations()?);
        let service = Self::with_ledger(
            Arc::new(ledger),
            AdminToken::from_config(&config.admin),
            Some(auth),
        )
        .with_retention(config.metering.retention_days)
        .with_responses(responses, config.metering.responses_retention_days)
        .with_conversations(conversations);
        service.spawn_retention(Duration::from_secs(
            config.metering.compaction_interval_secs,
        ));
        Ok(service)
    }

    /// A service over any ledger (tests, other backends), without retention and
    /// without a response store (see [`Self::with_responses`]). Without `auth`
    /// only the admin token may query.
    pub fn with_ledger(
        ledger: Arc<dyn Ledger>,
        admin: AdminToken,
        auth: Option<GrpcChannel>,
    ) -> Self {
        let stop = CancellationToken::new();
        Self {
            ledger,
            responses: Arc::new(crate::responses::Unconfigured),
            conversations: Arc::new(crate::conversations::Unconfigured),
            responses_retention_days: 0,
            access: Access::new(admin, auth),
            retention_days: 0,
            _stop_on_drop: Arc::new(stop.clone().drop_guard()),
            stop,
        }
    }

    /// Serves `ResponseStore` from `store`, keeping responses `days` (0: forever)
    /// once the background retention runs.
    pub fn with_responses(mut self, store: Arc<dyn Responses>, days: u32) -> Self {
        self.responses = store;
        self.responses_retention_days = days;
        self
    }

    /// Serves `ConversationStore` from `store` (conversations are kept until
    /// deleted).
    pub fn with_conversations(mut self, store: Arc<dyn Conversations>) -> Self {
        self.conversations = store;
        self
    }

    /// Keeps raw records for `days` (0: forever) when [`Self::compact`] runs; `open`
    /// also runs it in the background.
    pub fn with_retention(mut self, days: u32) -> Self {
        self.retention_days = days;
        self
    }

    fn spawn_retention(&self, interval: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no async runtime: retention not started");
            return;
        };
        if self.responses_retention_days > 0 {
            runtime.spawn(crate::responses::run_retention(
                self.responses.clone(),
                self.responses_retention_days,
                interval,
                self.stop.clone(),
            ));
        }
        if self.retention_days > 0 {
            runtime.spawn(retention::run(
                self.ledger.clone(),
                self.retention_days,
                interval,
                self.stop.clone(),
            ));
        }
    }

    /// The generated `ResponseStore` server (the edge, with the caller's key).
    pub fn responses_server(&self) -> ResponseStoreServer<Self> {
        ResponseStoreServer::new(self.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The generated `ConversationStore` server (the edge, with the caller's key).
    pub fn conversations_server(&self) -> ConversationStoreServer<Self> {
        ConversationStoreServer::new(self.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Runs one retention pass now (the background task runs the same on its
    /// interval): deletes raw records older than the retention period, keeps the
    /// aggregates. Returns how many records were deleted; 0 without retention.
    pub async fn compact(&self) -> Result<u64, MeteringError> {
        if self.retention_days == 0 {
            return Ok(0);
        }
        let horizon = retention::horizon_us(self.retention_days, SystemTime::now());
        retention::expire(&self.ledger, horizon, &self.stop).await
    }

    /// Stops background work (retention) so shutdown can flush a quiet ledger.
    pub fn stop_background(&self) {
        self.stop.cancel();
    }

    /// The generated `Metering` server (called by routers).
    pub fn metering_server(&self) -> MeteringServer<Self> {
        MeteringServer::new(self.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The generated `UsageQuery` server (operators with the admin token, tenants
    /// with a virtual key).
    pub fn query_server(&self) -> UsageQueryServer<Self> {
        UsageQueryServer::new(self.clone()).max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// Makes every write durable (called on shutdown).
    pub async fn flush(&self) -> Result<(), MeteringError> {
        let ledger = self.ledger.clone();
        blocking(move || ledger.flush()).await
    }

    pub(crate) async fn caller<T>(&self, request: &Request<T>) -> Result<Caller, MeteringError> {
        self.access
            .caller(request.metadata(), &request_id(request))
            .await
    }
}

/// Runs sled work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, MeteringError> + Send + 'static,
) -> Result<T, MeteringError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| MeteringError::Store("ledger task failed".into()))?
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

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `[start, end)` in µs: unset start is the beginning, unset end is now (plus skew).
fn range_us(
    start: &Option<prost_types::Timestamp>,
    end: &Option<prost_types::Timestamp>,
) -> (u64, u64) {
    (
        start.as_ref().map_or(0, timestamp_to_us),
        end.as_ref()
            .map_or_else(|| now_us().saturating_add(SKEW_US), timestamp_to_us),
    )
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
        let outcome = blocking(move || ledger.insert_batch(&records)).await?;
        if outcome.expired > 0 {
            tracing::warn!(
                expired = outcome.expired,
                "usage records older than the retention mark acknowledged but not stored"
            );
        }
        tracing::debug!(
            inserted = outcome.inserted,
            duplicates = outcome.duplicates,
            "usage recorded"
        );
        metrics::counter!(names::LEDGER_INSERTED).increment(u64::from(outcome.inserted));
        metrics::counter!(names::LEDGER_DUPLICATES).increment(u64::from(outcome.duplicates));
        Ok(Response::new(RecordUsageResponse {
            inserted: outcome.inserted,
            duplicates: outcome.duplicates,
        }))
    }
}

#[tonic::async_trait]
impl UsageQuery for MeteringService {
    type ExportUsageStream = ExportStream;

    async fn get_usage(
        &self,
        request: Request<GetUsageRequest>,
    ) -> Result<Response<UsageRecord>, Status> {
        let caller = self.caller(&request).await?;
        let id = request.into_inner().request_id;
        let ledger = self.ledger.clone();
        let lookup = id.clone();
        let record = blocking(move || ledger.get(&lookup))
            .await?
            // Another tenant's record is "not found", never "forbidden".
            .filter(|r| caller.may_see(r))
            .ok_or(MeteringError::NotFound(id))?;
        Ok(Response::new(record))
    }

    async fn list_usage(
        &self,
        request: Request<ListUsageRequest>,
    ) -> Result<Response<ListUsageResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
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
        let (start_us, end_us) = range_us(&req.start, &req.end);
        let filter = ListFilter {
            start_us,
            end_us,
            tenant: caller.tenant_filter(&req.tenant)?,
            key_id: req.key_id,
            limit,
            after,
        };
        let ledger = self.ledger.clone();
        let (records, cursor) = blocking(move || ledger.list(&filter)).await?;
        Ok(Response::new(ListUsageResponse {
            records,
            next_page_token: cursor
                .map(|c| URL_SAFE_NO_PAD.encode(c))
                .unwrap_or_default(),
        }))
    }

    async fn summarize_usage(
        &self,
        request: Request<SummarizeUsageRequest>,
    ) -> Result<Response<SummarizeUsageResponse>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let (start_us, end_us) = range_us(&req.start, &req.end);
        let tenant = caller.tenant_filter(&req.tenant)?;
        let query = SummaryQuery::from_wire(&req, start_us, end_us, tenant)?;
        let ledger = self.ledger.clone();
        let summary = blocking(move || summarize(ledger.as_ref(), &query)).await?;
        Ok(Response::new(summary))
    }

    async fn export_usage(
        &self,
        request: Request<ExportUsageRequest>,
    ) -> Result<Response<Self::ExportUsageStream>, Status> {
        let caller = self.caller(&request).await?;
        let req = request.into_inner();
        let (start_us, end_us) = range_us(&req.start, &req.end);
        let filter = ListFilter {
            start_us,
            end_us,
            tenant: caller.tenant_filter(&req.tenant)?,
            ..Default::default()
        };
        Ok(Response::new(export::start(self.ledger.clone(), filter)))
    }
}
