//! A scripted fake of metering's `UsageQuery`: records every call, answers as told.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::Stream;
use switchyard_proto::metering::v1::usage_query_server::{UsageQuery, UsageQueryServer};
use switchyard_proto::metering::v1::{
    ExportUsageRequest, GetUsageRequest, ListUsageRequest, ListUsageResponse, Outcome,
    SummarizeUsageRequest, SummarizeUsageResponse, UsageRecord,
};
use tokio::sync::mpsc;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

/// One call the fake received, with its message.
#[derive(Debug, Clone)]
pub enum UsageCall {
    Get(MetadataMap, GetUsageRequest),
    List(MetadataMap, ListUsageRequest),
    Summarize(MetadataMap, SummarizeUsageRequest),
    Export(MetadataMap, ExportUsageRequest),
}

impl UsageCall {
    pub fn metadata(&self) -> &MetadataMap {
        match self {
            Self::Get(m, _) | Self::List(m, _) | Self::Summarize(m, _) | Self::Export(m, _) => m,
        }
    }
}

/// What ExportUsage answers.
pub enum ExportScript {
    /// The call itself fails.
    Fail(Status),
    /// These items, then the end.
    Items(Vec<Result<UsageRecord, Status>>),
    /// Items as the test sends them.
    Channel(mpsc::Receiver<Result<UsageRecord, Status>>),
}

#[derive(Default)]
struct Script {
    calls: Vec<UsageCall>,
    get: Option<Result<UsageRecord, Status>>,
    list: Option<Result<ListUsageResponse, Status>>,
    summary: Option<Result<SummarizeUsageResponse, Status>>,
    export: Option<ExportScript>,
}

/// The fake; clones share the script.
#[derive(Clone, Default)]
pub struct FakeUsage {
    script: Arc<Mutex<Script>>,
}

impl FakeUsage {
    pub fn server(&self) -> UsageQueryServer<Self> {
        UsageQueryServer::new(self.clone())
    }
    pub fn answer_get(&self, answer: Result<UsageRecord, Status>) {
        self.script.lock().unwrap().get = Some(answer);
    }
    pub fn answer_list(&self, answer: Result<ListUsageResponse, Status>) {
        self.script.lock().unwrap().list = Some(answer);
    }
    pub fn answer_summary(&self, answer: Result<SummarizeUsageResponse, Status>) {
        self.script.lock().unwrap().summary = Some(answer);
    }
    pub fn answer_export(&self, answer: ExportScript) {
        self.script.lock().unwrap().export = Some(answer);
    }
    pub fn calls(&self) -> Vec<UsageCall> {
        self.script.lock().unwrap().calls.clone()
    }
    pub fn last(&self) -> UsageCall {
        self.calls().pop().expect("no call reached UsageQuery")
    }
    fn record(&self, call: UsageCall) {
        self.script.lock().unwrap().calls.push(call);
    }
}

type RecordStream = Pin<Box<dyn Stream<Item = Result<UsageRecord, Status>> + Send>>;

#[tonic::async_trait]
impl UsageQuery for FakeUsage {
    async fn get_usage(
        &self,
        request: Request<GetUsageRequest>,
    ) -> Result<Response<UsageRecord>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.record(UsageCall::Get(metadata, message));
        let answer = self.script.lock().unwrap().get.clone();
        answer
            .unwrap_or_else(|| Err(Status::not_found("no such record")))
            .map(Response::new)
    }

    async fn list_usage(
        &self,
        request: Request<ListUsageRequest>,
    ) -> Result<Response<ListUsageResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.record(UsageCall::List(metadata, message));
        let answer = self.script.lock().unwrap().list.clone();
        answer
            .unwrap_or_else(|| Ok(Default::default()))
            .map(Response::new)
    }

    async fn summarize_usage(
        &self,
        request: Request<SummarizeUsageRequest>,
    ) -> Result<Response<SummarizeUsageResponse>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.record(UsageCall::Summarize(metadata, message));
        let answer = self.script.lock().unwrap().summary.clone();
        answer
            .unwrap_or_else(|| Ok(Default::default()))
            .map(Response::new)
    }

    type ExportUsageStream = RecordStream;

    async fn export_usage(
        &self,
        request: Request<ExportUsageRequest>,
    ) -> Result<Response<RecordStream>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.record(UsageCall::Export(metadata, message));
        let script = self.script.lock().unwrap().export.take();
        let stream: RecordStream = match script {
            Some(ExportScript::Fail(status)) => return Err(status),
            Some(ExportScript::Items(items)) => Box::pin(futures::stream::iter(items)),
            Some(ExportScript::Channel(rx)) => {
                Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
            }
            None => Box::pin(futures::stream::empty()),
        };
        Ok(Response::new(stream))
    }
}

/// A full record at `seconds` (UTC), every field set.
pub fn record(request_id: &str, seconds: i64) -> UsageRecord {
    UsageRecord {
        request_id: request_id.into(),
        time: Some(prost_types::Timestamp { seconds, nanos: 0 }),
        tenant: "acme".into(),
        key_id: "k_123".into(),
        requested_model: "chat-fast".into(),
        provider: "openai-main".into(),
        upstream_model: "gpt-4o-mini".into(),
        prompt_tokens: 12,
        completion_tokens: 5,
        cached_prompt_tokens: 2,
        reasoning_tokens: 1,
        usage_estimated: false,
        cost_micros: 1234,
        price_version: "v1".into(),
        latency_us: 2500,
        time_to_first_token_us: 800,
        stream: true,
        outcome: Outcome::Ok.into(),
        error_reason: String::new(),
        metadata: Default::default(),
        attempts: vec![],
        operation: "chat".into(),
        cache_write_prompt_tokens: 3,
        cache_hit: false,
    }
}
