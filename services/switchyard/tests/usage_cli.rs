//! `switchyard usage summary` and `switchyard usage export` against a fake
//! `UsageQuery` on 127.0.0.1:0: what is asked, and exactly what is printed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::pin::Pin;
use std::process::Output;
use std::sync::{Arc, Mutex};

use switchyard_proto::metering::v1::usage_query_server::{UsageQuery, UsageQueryServer};
use switchyard_proto::metering::v1::{
    Dimension, ExportUsageRequest, GetUsageRequest, Granularity, ListUsageRequest,
    ListUsageResponse, Outcome, SummarizeUsageRequest, SummarizeUsageResponse, UsageBucket,
    UsageRecord, UsageTotals,
};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;
use tonic::codegen::tokio_stream::{self, Stream};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const ADMIN: &str = "cli-usage-admin";
// 2026-01-31T00:00:00Z.
const JAN31: i64 = 1_769_817_600;

#[derive(Default)]
struct Seen {
    auth: Vec<String>,
    summary: Option<SummarizeUsageRequest>,
    export: Option<ExportUsageRequest>,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Seen>>,
    summary: SummarizeUsageResponse,
    export: Vec<Result<UsageRecord, Status>>,
}

impl Fake {
    fn note(&self, metadata: &MetadataMap) {
        let auth = metadata
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        self.seen.lock().unwrap().auth.push(auth);
    }
}

type Records = Pin<Box<dyn Stream<Item = Result<UsageRecord, Status>> + Send>>;

#[tonic::async_trait]
impl UsageQuery for Fake {
    async fn get_usage(
        &self,
        _: Request<GetUsageRequest>,
    ) -> Result<Response<UsageRecord>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn list_usage(
        &self,
        _: Request<ListUsageRequest>,
    ) -> Result<Response<ListUsageResponse>, Status> {
        Err(Status::unimplemented("not scripted"))
    }

    async fn summarize_usage(
        &self,
        request: Request<SummarizeUsageRequest>,
    ) -> Result<Response<SummarizeUsageResponse>, Status> {
        self.note(request.metadata());
        self.seen.lock().unwrap().summary = Some(request.into_inner());
        Ok(Response::new(self.summary.clone()))
    }

    type ExportUsageStream = Records;

    async fn export_usage(
        &self,
        request: Request<ExportUsageRequest>,
    ) -> Result<Response<Records>, Status> {
        self.note(request.metadata());
        self.seen.lock().unwrap().export = Some(request.into_inner());
        Ok(Response::new(Box::pin(tokio_stream::iter(
            self.export.clone(),
        ))))
    }
}

/// Serves `fake` until dropped; returns its URL.
struct Served {
    url: String,
    shutdown: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn serve(fake: Fake) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let routes = tonic::service::Routes::default().add_service(UsageQueryServer::new(fake));
    let token = shutdown.clone();
    tokio::spawn(async move { switchyard_grpc::serve(listener, routes, &[], token).await });
    Served { url, shutdown }
}

async fn cli(served: &Served, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--config", "/nonexistent.toml", "usage"])
        .args(args)
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN)
        .env("SWITCHYARD_ADMIN_URL", &served.url)
        .output()
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn totals(requests: u64, cost_micros: i64) -> Option<UsageTotals> {
    Some(UsageTotals {
        requests,
        prompt_tokens: 10 * requests,
        completion_tokens: 5 * requests,
        cost_micros,
        cache_hits: requests - 1,
        ..Default::default()
    })
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn summary() -> SummarizeUsageResponse {
    SummarizeUsageResponse {
        total: totals(3, 1_501_234),
        buckets: vec![
            UsageBucket {
                start: ts(JAN31),
                group: "chat-fast".into(),
                totals: totals(2, 1234),
            },
            UsageBucket {
                start: ts(JAN31 + 86_400),
                group: String::new(),
                totals: totals(1, 1_500_000),
            },
        ],
    }
}

#[tokio::test]
async fn summary_prints_a_table_with_a_total_line() {
    let fake = Fake {
        summary: summary(),
        ..Default::default()
    };
    let served = serve(fake.clone()).await;
    let out = stdout(
        &cli(
            &served,
            &[
                "summary",
                "--by",
                "model",
                "--granularity",
                "day",
                "--tenant",
                "acme",
            ],
        )
        .await,
    );
    let expected = [
        "BUCKET_START         GROUP                      REQUESTS       PROMPT   COMPLETION       COST_USD CACHE_HITS",
        "2026-01-31 00:00:00  chat-fast                         2           20           10       0.001234          1",
        "2026-02-01 00:00:00  (none)                            1           10            5       1.500000          0",
        "TOTAL                                                  3           30           15       1.501234          2",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
    let seen = fake.seen.lock().unwrap();
    let asked = seen.summary.clone().unwrap();
    assert_eq!(asked.group_by(), Dimension::Model);
    assert_eq!(asked.granularity(), Granularity::Day);
    assert_eq!(asked.tenant, "acme");
    assert_eq!(asked.start, None);
    assert_eq!(seen.auth, [format!("Bearer {ADMIN}")]);
}

#[tokio::test]
async fn summary_json_is_the_http_shape() {
    let fake = Fake {
        summary: summary(),
        ..Default::default()
    };
    let served = serve(fake.clone()).await;
    let out = stdout(&cli(&served, &["summary", "--json", "--since-hours", "24"]).await);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["total"]["cost_usd"], "1.501234");
    assert_eq!(json["total"]["cost_micros"], 1_501_234);
    assert_eq!(json["total"]["cache_hits"], 2);
    assert_eq!(json["buckets"][0]["start"], "2026-01-31T00:00:00Z");
    assert_eq!(json["buckets"][0]["group"], serde_json::Value::Null);
    let asked = fake.seen.lock().unwrap().summary.clone().unwrap();
    assert_eq!(asked.group_by(), Dimension::Unspecified);
    let start = asked.start.unwrap().seconds;
    let day_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 86_400;
    assert!((start - day_ago).abs() < 60, "{start} vs {day_ago}");
}

fn record(request_id: &str, seconds: i64) -> UsageRecord {
    UsageRecord {
        request_id: request_id.into(),
        time: ts(seconds),
        tenant: "acme".into(),
        key_id: "k_1".into(),
        operation: "chat".into(),
        requested_model: "chat-fast".into(),
        provider: "mock".into(),
        upstream_model: "mock-1".into(),
        prompt_tokens: 8,
        completion_tokens: 20,
        cost_micros: 48,
        price_version: "v1".into(),
        latency_us: 900,
        outcome: Outcome::Ok.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn export_csv_writes_the_edge_format() {
    let mut awkward = record("req-2", JAN31 + 1);
    awkward.tenant = "acme, \"inc\"".into();
    awkward.cache_hit = true;
    let fake = Fake {
        export: vec![Ok(record("req-1", JAN31)), Ok(awkward)],
        ..Default::default()
    };
    let served = serve(fake.clone()).await;
    let out = stdout(&cli(&served, &["export", "--format", "csv", "--tenant", "acme"]).await);
    let expected = concat!(
        "request_id,time,tenant,key_id,operation,requested_model,provider,upstream_model,",
        "prompt_tokens,completion_tokens,cached_prompt_tokens,cache_write_prompt_tokens,",
        "reasoning_tokens,usage_estimated,cost_micros,price_version,latency_us,",
        "time_to_first_token_us,stream,outcome,error_reason,cache_hit\r\n",
        "req-1,2026-01-31T00:00:00Z,acme,k_1,chat,chat-fast,mock,mock-1,8,20,0,0,0,false,48,v1,900,0,false,ok,,false\r\n",
        "req-2,2026-01-31T00:00:01Z,\"acme, \"\"inc\"\"\",k_1,chat,chat-fast,mock,mock-1,8,20,0,0,0,false,48,v1,900,0,false,ok,,true\r\n",
    );
    assert_eq!(out, expected);
    assert_eq!(
        fake.seen.lock().unwrap().export.clone().unwrap().tenant,
        "acme"
    );
}

#[tokio::test]
async fn export_cut_short_fails_after_writing_what_came() {
    let fake = Fake {
        export: vec![
            Ok(record("req-1", JAN31)),
            Err(Status::unavailable("metering went away")),
        ],
        ..Default::default()
    };
    let served = serve(fake).await;
    let out = cli(&served, &["export"]).await;
    assert!(!out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.starts_with(r#"{"request_id":"req-1","time":"2026-01-31T00:00:00Z""#));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cut short after 1 records"), "{stderr}");
}
