//! Shared test harness: a metering service over a temp sled ledger, a fake auth
//! service that knows two virtual keys, in-process clients and record builders.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_config::Secret;
use switchyard_grpc::{AdminToken, GrpcChannel, in_process};
use switchyard_metering::{MeteringService, SledLedger};
use switchyard_proto::auth::v1::auth_server::{Auth, AuthServer};
use switchyard_proto::auth::v1::{AuthenticateRequest, Change, Principal, WatchChangesRequest};
use switchyard_proto::metering::v1::metering_client::MeteringClient;
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use switchyard_proto::metering::v1::{
    Outcome, RecordUsageRequest, RecordUsageResponse, UsageRecord,
};
use tonic::{Request, Response, Status};

pub const ADMIN: &str = "admin-s3cret";
pub const ALPHA_KEY: &str = "sy_alpha000000_secret";
pub const BETA_KEY: &str = "sy_beta0000000_secret";

/// Auth that knows two keys; everything else is UNAUTHENTICATED.
#[derive(Clone)]
pub struct FakeAuth {
    keys: HashMap<String, (String, String)>,
}

impl Default for FakeAuth {
    fn default() -> Self {
        let mut keys = HashMap::new();
        keys.insert(
            ALPHA_KEY.to_string(),
            ("alpha".into(), "alpha000000".into()),
        );
        keys.insert(BETA_KEY.to_string(), ("beta".into(), "beta0000000".into()));
        Self { keys }
    }
}

#[tonic::async_trait]
impl Auth for FakeAuth {
    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<Principal>, Status> {
        let req = request.into_inner();
        assert!(
            req.model.is_empty(),
            "metering authenticates without a model"
        );
        match self.keys.get(&req.api_key) {
            Some((tenant, key_id)) => Ok(Response::new(Principal {
                tenant: tenant.clone(),
                key_id: key_id.clone(),
                ..Default::default()
            })),
            None => Err(Status::unauthenticated("invalid API key")),
        }
    }

    type WatchChangesStream = tokio_stream::Empty<Result<Change, Status>>;

    /// Metering does not cache principals, so it never watches.
    async fn watch_changes(
        &self,
        _: Request<WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        Err(Status::unimplemented(
            "metering never watches auth's changes",
        ))
    }
}

pub fn fake_auth() -> GrpcChannel {
    in_process(AuthServer::new(FakeAuth::default()))
}

pub struct Harness {
    pub service: MeteringService,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_retention(0)
    }

    pub fn with_retention(days: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ledger = SledLedger::open(dir.path().to_str().unwrap()).unwrap();
        let service = MeteringService::with_ledger(
            Arc::new(ledger),
            AdminToken::new(Some(Secret::new(ADMIN))),
            Some(fake_auth()),
        )
        .with_retention(days);
        Self { service, dir }
    }

    pub fn query(&self) -> UsageQueryClient<GrpcChannel> {
        UsageQueryClient::new(in_process(self.service.query_server()))
    }

    pub async fn record(&self, records: Vec<UsageRecord>) -> RecordUsageResponse {
        MeteringClient::new(in_process(self.service.metering_server()))
            .record_usage(RecordUsageRequest { records })
            .await
            .unwrap()
            .into_inner()
    }
}

/// A request carrying `authorization: Bearer <token>`.
pub fn as_caller<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn ts(secs: u64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: secs as i64,
        nanos: 0,
    })
}

pub fn record(id: &str, secs: u64, tenant: &str) -> UsageRecord {
    UsageRecord {
        request_id: id.into(),
        time: ts(secs),
        tenant: tenant.into(),
        key_id: format!("{tenant}-key"),
        requested_model: "chat-fast".into(),
        provider: "mock".into(),
        prompt_tokens: 10,
        completion_tokens: 5,
        cost_micros: 100,
        outcome: Outcome::Ok as i32,
        ..Default::default()
    }
}

/// SplitMix64: a tiny seeded PRNG, so "random" tests replay exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

// Month starts (UTC) used by the tests.
pub const JAN_2026: u64 = 1_767_225_600;
pub const FEB_2026: u64 = 1_769_904_000;
pub const MAR_2026: u64 = 1_772_323_200;
pub const APR_2026: u64 = 1_775_001_600;
pub const HOUR: u64 = 3_600;
pub const DAY: u64 = 86_400;
