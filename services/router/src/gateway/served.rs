//! What an answer's metadata (and an HTTP caller's headers) says about how the
//! request was served: provider, model, attempts, cost, and the cache.

use switchyard_proto::metering::v1::UsageRecord;
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::cache::{CACHE_HEADER, Status as CacheStatus};

/// Response metadata naming the provider instance that served.
pub const PROVIDER_HEADER: &str = "x-switchyard-provider";
/// Response metadata with the request's cost in micro-dollars (unary calls).
pub const COST_HEADER: &str = "x-switchyard-cost-micros";
/// Response metadata naming the provider's model that served.
pub const UPSTREAM_MODEL_HEADER: &str = "x-switchyard-upstream-model";
/// Response metadata with the number of upstream attempts the answer took.
pub const ATTEMPTS_HEADER: &str = "x-switchyard-attempts";

/// What the answer metadata says about how a request was served.
pub(crate) struct Served {
    pub(super) provider: String,
    pub(super) upstream_model: String,
    pub(super) attempts: usize,
    pub(super) cost: Option<i64>,
    /// How the response cache served it (models that cache only).
    pub(super) cache: Option<CacheStatus>,
}

impl Served {
    /// What `record` says.
    pub(crate) fn of(record: &UsageRecord) -> Self {
        Self {
            provider: record.provider.clone(),
            upstream_model: record.upstream_model.clone(),
            attempts: record.attempts.len(),
            cost: Some(record.cost_micros),
            cache: record.cache_hit.then_some(CacheStatus::Hit),
        }
    }

    /// With how the response cache met the request, when it did.
    pub(crate) fn with_cache(mut self, cache: Option<CacheStatus>) -> Self {
        self.cache = self.cache.or(cache);
        self
    }

    /// As gRPC metadata (HTTP callers see the same as response headers).
    pub(crate) fn metadata(&self) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        let values = [
            (PROVIDER_HEADER, Some(self.provider.clone())),
            (UPSTREAM_MODEL_HEADER, Some(self.upstream_model.clone())),
            (ATTEMPTS_HEADER, Some(self.attempts.to_string())),
            (COST_HEADER, self.cost.map(|c| c.to_string())),
            (CACHE_HEADER, self.cache.map(|c| c.as_str().to_string())),
        ];
        for (name, value) in values {
            if let Some(Ok(v)) = value.map(|v| v.parse()) {
                metadata.insert(name, v);
            }
        }
        metadata
    }

    /// `status` with this metadata added (its own, and its error details,
    /// kept): a failed request's caller sees what was tried, as an answer's does.
    pub(crate) fn on_error(&self, status: Status) -> Status {
        let mut metadata = status.metadata().clone().into_headers();
        metadata.extend(self.metadata().into_headers());
        Status::with_details_and_metadata(
            status.code(),
            status.message(),
            bytes::Bytes::copy_from_slice(status.details()),
            MetadataMap::from_headers(metadata),
        )
    }
}
