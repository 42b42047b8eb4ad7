//! The admin usage routes over a fake `UsageQuery`: JSON shapes, parameters forwarded,
//! JSONL and CSV exports byte for byte and streamed, the caller's token forwarded,
//! and errors (no token, bad parameters, metering's refusals) as OpenAI bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::usage::{ExportScript, UsageCall, record};
use common::{Edge, expect_error};
use serde_json::{Value, json};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::metering::v1::{
    Attempt, Dimension, Granularity, ListUsageResponse, Outcome, SummarizeUsageResponse,
    UsageBucket, UsageTotals,
};
use tonic::Status;

const ADMIN: &str = "Bearer admin-secret";

fn ts(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

fn totals(requests: u64, cost_micros: i64) -> UsageTotals {
    UsageTotals {
        requests,
        prompt_tokens: 10 * requests,
        completion_tokens: 5 * requests,
        cached_prompt_tokens: 1,
        cache_write_prompt_tokens: 3,
        reasoning_tokens: 2,
        cost_micros,
        errors: 1,
        cancelled: 0,
        estimated: 1,
        cache_hits: requests - 1,
    }
}

fn get(edge: &Edge, path: &str) -> reqwest::RequestBuilder {
    edge.http.get(edge.url(path)).header("authorization", ADMIN)
}

// 2026-01-31T00:00:00Z and 2026-02-01T00:00:00Z.
const JAN31: i64 = 1_769_817_600;
const FEB1: i64 = JAN31 + 86_400;

#[tokio::test]
async fn summary_has_totals_and_buckets_and_forwards_everything() {
    let edge = Edge::start().await;
    edge.usage.answer_summary(Ok(SummarizeUsageResponse {
        total: Some(totals(3, 1_501_234)),
        buckets: vec![
            UsageBucket {
                start: Some(ts(JAN31)),
                group: "chat-fast".into(),
                totals: Some(totals(2, 1234)),
            },
            UsageBucket {
                start: Some(ts(JAN31)),
                group: String::new(),
                totals: Some(totals(1, 1_500_000)),
            },
        ],
    }));
    let response = get(
        &edge,
        "/admin/v1/usage/summary?start=2026-01-31T00:00:00Z&end=2026-02-01T00:00:00Z\
         &granularity=day&group_by=model&tenant=acme",
    )
    .header("x-request-id", "req-summary-1")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let totals_json = |requests: u64, cost: i64, usd: &str| {
        json!({"requests": requests, "prompt_tokens": 10 * requests,
            "completion_tokens": 5 * requests, "cached_prompt_tokens": 1,
            "cache_write_prompt_tokens": 3,
            "reasoning_tokens": 2, "cost_micros": cost, "cost_usd": usd,
            "errors": 1, "cancelled": 0, "estimated": 1, "cache_hits": requests - 1})
    };
    assert_eq!(
        body,
        json!({
            "total": totals_json(3, 1_501_234, "1.501234"),
            "buckets": [
                {"start": "2026-01-31T00:00:00Z", "group": "chat-fast",
                 "totals": totals_json(2, 1234, "0.001234")},
                {"start": "2026-01-31T00:00:00Z", "group": "",
                 "totals": totals_json(1, 1_500_000, "1.500000")},
            ],
        })
    );

    let UsageCall::Summarize(metadata, message) = edge.usage.last() else {
        panic!("expected SummarizeUsage");
    };
    assert_eq!(metadata.get("authorization").unwrap(), ADMIN);
    assert_eq!(metadata.get("x-request-id").unwrap(), "req-summary-1");
    assert_eq!(message.start, Some(ts(JAN31)));
    assert_eq!(message.end, Some(ts(FEB1)));
    assert_eq!(message.granularity(), Granularity::Day);
    assert_eq!(message.group_by(), Dimension::Model);
    assert_eq!(message.tenant, "acme");
}

#[tokio::test]
async fn ungrouped_summary_has_null_groups_and_defaults() {
    let edge = Edge::start().await;
    edge.usage.answer_summary(Ok(SummarizeUsageResponse {
        total: None,
        buckets: vec![UsageBucket {
            start: Some(ts(JAN31)),
            group: String::new(),
            totals: None,
        }],
    }));
    let body: Value = get(&edge, "/admin/v1/usage/summary")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["total"]["requests"], 0);
    assert_eq!(body["total"]["cost_usd"], "0.000000");
    assert_eq!(body["buckets"][0]["group"], Value::Null);
    let UsageCall::Summarize(_, message) = edge.usage.last() else {
        panic!("expected SummarizeUsage");
    };
    assert_eq!(message.start, None);
    assert_eq!(message.end, None);
    assert_eq!(message.granularity(), Granularity::Unspecified);
    assert_eq!(message.group_by(), Dimension::Unspecified);
    assert_eq!(message.tenant, "");
    assert_eq!(message.group_by_metadata, "");

    // `group_by=metadata.<key>` asks metering for a breakdown by that tag.
    edge.usage.answer_summary(Ok(SummarizeUsageResponse {
        total: None,
        buckets: vec![UsageBucket {
            start: Some(ts(JAN31)),
            group: String::new(),
            totals: None,
        }],
    }));
    let body: Value = get(&edge, "/admin/v1/usage/summary?group_by=metadata.team")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["buckets"][0]["group"], "",
        "grouped: an untagged group is \"\""
    );
    let UsageCall::Summarize(_, message) = edge.usage.last() else {
        panic!("expected SummarizeUsage");
    };
    assert_eq!(message.group_by(), Dimension::Unspecified);
    assert_eq!(message.group_by_metadata, "team");
}

#[tokio::test]
async fn times_accept_offsets_even_with_an_unencoded_plus() {
    let edge = Edge::start().await;
    for query in [
        "start=2026-01-31T02:00:00%2B02:00",
        "start=2026-01-31T02:00:00+02:00",
        "start=2026-01-31",
    ] {
        let response = get(&edge, &format!("/admin/v1/usage/summary?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{query}");
        let UsageCall::Summarize(_, message) = edge.usage.last() else {
            panic!("expected SummarizeUsage");
        };
        assert_eq!(message.start, Some(ts(JAN31)), "{query}");
    }
}

#[tokio::test]
async fn records_forward_paging_and_render_records() {
    let edge = Edge::start().await;
    let mut first = record("req-1", JAN31);
    first.time = Some(prost_types::Timestamp {
        seconds: JAN31,
        nanos: 123_456_000,
    });
    first.metadata = [("team", "search"), ("env", "prod")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    first.attempts = vec![Attempt {
        provider: "groq".into(),
        upstream_model: "llama".into(),
        outcome: Outcome::Error.into(),
        error_reason: "UPSTREAM_UNAVAILABLE".into(),
        latency_us: 900,
        ..Default::default()
    }];
    edge.usage.answer_list(Ok(ListUsageResponse {
        records: vec![first, record("req-2", JAN31 + 60)],
        next_page_token: "page-2".into(),
    }));
    let response = get(
        &edge,
        "/admin/v1/usage/records?start=2026-01-31T00:00:00Z&tenant=acme&key_id=k_123\
         &limit=2&page_token=page-1",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["next_page_token"], "page-2");
    assert_eq!(body["records"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["records"][0],
        json!({
            "request_id": "req-1", "time": "2026-01-31T00:00:00.123456Z",
            "tenant": "acme", "key_id": "k_123", "operation": "chat",
            "requested_model": "chat-fast", "provider": "openai-main",
            "upstream_model": "gpt-4o-mini", "prompt_tokens": 12, "completion_tokens": 5,
            "cached_prompt_tokens": 2, "cache_write_prompt_tokens": 3,
            "reasoning_tokens": 1, "usage_estimated": false, "cache_hit": false,
            "cost_micros": 1234,
            "price_version": "v1", "latency_us": 2500, "time_to_first_token_us": 800,
            "stream": true, "outcome": "ok", "error_reason": "",
            "metadata": {"env": "prod", "team": "search"},
            "attempts": [{"provider": "groq", "upstream_model": "llama", "outcome": "error",
                "error_reason": "UPSTREAM_UNAVAILABLE", "latency_us": 900, "hedged": false,
                "prompt_tokens": 0, "cost_micros": 0}],
        })
    );
    let UsageCall::List(metadata, message) = edge.usage.last() else {
        panic!("expected ListUsage");
    };
    assert_eq!(metadata.get("authorization").unwrap(), ADMIN);
    assert_eq!(message.start, Some(ts(JAN31)));
    assert_eq!(message.end, None);
    assert_eq!(message.tenant, "acme");
    assert_eq!(message.key_id, "k_123");
    assert_eq!(message.limit, 2);
    assert_eq!(message.page_token, "page-1");

    // The last page has a null token; no limit leaves metering's default.
    edge.usage.answer_list(Ok(ListUsageResponse::default()));
    let body: Value = get(&edge, "/admin/v1/usage/records")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"records": [], "next_page_token": null}));
    let UsageCall::List(_, message) = edge.usage.last() else {
        panic!("expected ListUsage");
    };
    assert_eq!(message.limit, 0);
}

#[tokio::test]
async fn one_record_by_id_or_404() {
    let edge = Edge::start().await;
    let mut hit = record("req-9", JAN31);
    hit.cache_hit = true;
    edge.usage.answer_get(Ok(hit));
    let response = get(&edge, "/admin/v1/usage/records/req-9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "req-9");
    assert_eq!(body["time"], "2026-01-31T00:00:00Z");
    assert_eq!(body["cache_hit"], true);
    let UsageCall::Get(metadata, message) = edge.usage.last() else {
        panic!("expected GetUsage");
    };
    assert_eq!(message.request_id, "req-9");
    assert_eq!(metadata.get("authorization").unwrap(), ADMIN);

    edge.usage.answer_get(Err(ApiError::new(
        ErrorCode::NotFound,
        "no usage record for request id 'nope'",
    )
    .to_status()));
    let response = get(&edge, "/admin/v1/usage/records/nope")
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 404, "invalid_request_error").await;
    assert_eq!(error["code"], "not_found");
}

/// A record whose values need CSV quoting: a comma, quotes, and a line break.
fn awkward_record() -> switchyard_proto::metering::v1::UsageRecord {
    let mut r = record("req-2", JAN31 + 1);
    r.tenant = "acme, inc.".into();
    r.requested_model = "say \"hi\"".into();
    r.error_reason = "line\nbreak".into();
    r.outcome = Outcome::Error.into();
    r.usage_estimated = true;
    r.stream = false;
    r
}

/// A record answered from the router's response cache: no tokens, no cost.
fn cache_hit_record() -> switchyard_proto::metering::v1::UsageRecord {
    let mut r = record("req-3", JAN31 + 2);
    r.cache_hit = true;
    r.prompt_tokens = 0;
    r.completion_tokens = 0;
    r.cached_prompt_tokens = 0;
    r.cache_write_prompt_tokens = 0;
    r.reasoning_tokens = 0;
    r.cost_micros = 0;
    r.latency_us = 40;
    r.time_to_first_token_us = 0;
    r.stream = false;
    r
}

#[tokio::test]
async fn export_csv_is_exact_rfc4180() {
    let edge = Edge::start().await;
    edge.usage.answer_export(ExportScript::Items(vec![
        Ok(record("req-1", JAN31)),
        Ok(awkward_record()),
        Ok(cache_hit_record()),
    ]));
    let response = get(
        &edge,
        "/admin/v1/usage/export?format=csv&start=2026-01-31T00:00:00Z&tenant=acme",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"switchyard-usage.csv\""
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.text().await.unwrap();
    let expected = concat!(
        "request_id,time,tenant,key_id,operation,requested_model,provider,upstream_model,",
        "prompt_tokens,completion_tokens,cached_prompt_tokens,cache_write_prompt_tokens,",
        "reasoning_tokens,usage_estimated,cost_micros,price_version,latency_us,",
        "time_to_first_token_us,stream,outcome,error_reason,cache_hit\r\n",
        "req-1,2026-01-31T00:00:00Z,acme,k_123,chat,chat-fast,openai-main,gpt-4o-mini,",
        "12,5,2,3,1,false,1234,v1,2500,800,true,ok,,false\r\n",
        "req-2,2026-01-31T00:00:01Z,\"acme, inc.\",k_123,chat,\"say \"\"hi\"\"\",openai-main,",
        "gpt-4o-mini,12,5,2,3,1,true,1234,v1,2500,800,false,error,\"line\nbreak\",false\r\n",
        "req-3,2026-01-31T00:00:02Z,acme,k_123,chat,chat-fast,openai-main,gpt-4o-mini,",
        "0,0,0,0,0,false,0,v1,40,0,false,ok,,true\r\n",
    );
    assert_eq!(body, expected);
    let UsageCall::Export(metadata, message) = edge.usage.last() else {
        panic!("expected ExportUsage");
    };
    assert_eq!(metadata.get("authorization").unwrap(), ADMIN);
    assert_eq!(message.start, Some(ts(JAN31)));
    assert_eq!(message.end, None);
    assert_eq!(message.tenant, "acme");
}

#[tokio::test]
async fn export_jsonl_is_one_record_per_line() {
    let edge = Edge::start().await;
    edge.usage.answer_export(ExportScript::Items(vec![
        Ok(record("req-1", JAN31)),
        Ok(awkward_record()),
        Ok(cache_hit_record()),
    ]));
    // jsonl is the default format.
    let response = get(&edge, "/admin/v1/usage/export").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"switchyard-usage.jsonl\""
    );
    let body = response.text().await.unwrap();
    let line = |r: &str, time: &str, tenant: &str, model: &str, rest: &str| {
        format!(
            r#"{{"request_id":"{r}","time":"{time}","tenant":{tenant},"key_id":"k_123","operation":"chat","requested_model":{model},"provider":"openai-main","upstream_model":"gpt-4o-mini",{rest},"metadata":{{}},"attempts":[]}}"#
        ) + "\n"
    };
    let tokens = r#""prompt_tokens":12,"completion_tokens":5,"cached_prompt_tokens":2,"cache_write_prompt_tokens":3,"reasoning_tokens":1"#;
    let expected = line(
        "req-1",
        "2026-01-31T00:00:00Z",
        r#""acme""#,
        r#""chat-fast""#,
        &format!(
            r#"{tokens},"usage_estimated":false,"cache_hit":false,"cost_micros":1234,"price_version":"v1","latency_us":2500,"time_to_first_token_us":800,"stream":true,"outcome":"ok","error_reason":"""#
        ),
    ) + &line(
        "req-2",
        "2026-01-31T00:00:01Z",
        r#""acme, inc.""#,
        r#""say \"hi\"""#,
        &format!(
            r#"{tokens},"usage_estimated":true,"cache_hit":false,"cost_micros":1234,"price_version":"v1","latency_us":2500,"time_to_first_token_us":800,"stream":false,"outcome":"error","error_reason":"line\nbreak""#
        ),
    ) + &line(
        "req-3",
        "2026-01-31T00:00:02Z",
        r#""acme""#,
        r#""chat-fast""#,
        r#""prompt_tokens":0,"completion_tokens":0,"cached_prompt_tokens":0,"cache_write_prompt_tokens":0,"reasoning_tokens":0,"usage_estimated":false,"cache_hit":true,"cost_micros":0,"price_version":"v1","latency_us":40,"time_to_first_token_us":0,"stream":false,"outcome":"ok","error_reason":"""#,
    );
    assert_eq!(body, expected);
}

#[tokio::test]
async fn empty_exports_are_well_formed() {
    let edge = Edge::start().await;
    edge.usage.answer_export(ExportScript::Items(vec![]));
    let csv = get(&edge, "/admin/v1/usage/export?format=csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1);
    assert!(csv.starts_with("request_id,time,") && csv.ends_with("error_reason,cache_hit\r\n"));
    let jsonl = get(&edge, "/admin/v1/usage/export")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(jsonl, "");
}

#[tokio::test]
async fn export_is_written_as_records_arrive() {
    let edge = Edge::start().await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    edge.usage.answer_export(ExportScript::Channel(rx));
    tx.send(Ok(record("req-1", JAN31))).await.unwrap();
    let mut response = get(&edge, "/admin/v1/usage/export?format=jsonl")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The first record arrives while metering's stream is still open.
    let chunk = response.chunk().await.unwrap().unwrap();
    let text = std::str::from_utf8(&chunk).unwrap();
    assert!(text.starts_with(r#"{"request_id":"req-1""#) && text.ends_with('\n'));
    tx.send(Ok(record("req-2", JAN31 + 1))).await.unwrap();
    drop(tx);
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    let rest = String::from_utf8(rest).unwrap();
    assert!(rest.starts_with(r#"{"request_id":"req-2""#), "{rest}");
    assert_eq!(rest.lines().count(), 1);
}

#[tokio::test]
async fn export_refused_at_once_is_an_http_error() {
    let edge = Edge::start().await;
    edge.usage.answer_export(ExportScript::Fail(
        ApiError::new(
            ErrorCode::PermissionDenied,
            "keys may export only their own tenant",
        )
        .to_status(),
    ));
    let response = get(&edge, "/admin/v1/usage/export?tenant=other")
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "permission_error").await;

    // A first item that is an error is still answered as an HTTP error.
    edge.usage
        .answer_export(ExportScript::Items(vec![Err(Status::unauthenticated(
            "bad token",
        ))]));
    let response = get(&edge, "/admin/v1/usage/export").send().await.unwrap();
    expect_error(response, 401, "authentication_error").await;
}

#[tokio::test]
async fn export_cut_midway_aborts_the_body() {
    let edge = Edge::start().await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    edge.usage.answer_export(ExportScript::Channel(rx));
    tx.send(Ok(record("req-1", JAN31))).await.unwrap();
    let mut response = get(&edge, "/admin/v1/usage/export?format=csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"request_id,"));
    tx.send(Err(Status::unavailable("metering went away")))
        .await
        .unwrap();
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(outcome.is_err(), "a cut export must not end cleanly");
}

#[tokio::test]
async fn missing_bearer_token_is_401_before_metering() {
    let edge = Edge::start().await;
    for path in [
        "/admin/v1/usage/summary",
        "/admin/v1/usage/records",
        "/admin/v1/usage/records/req-1",
        "/admin/v1/usage/export?format=nonsense",
    ] {
        let response = edge.http.get(edge.url(path)).send().await.unwrap();
        let error = expect_error(response, 401, "authentication_error").await;
        assert_eq!(error["code"], "invalid_api_key", "{path}");
        // x-api-key is the Anthropic chat convention, not an admin credential.
        for (name, value) in [
            ("x-api-key", "sk-1"),
            ("authorization", "Basic YTpi"),
            ("authorization", "Bearer  "),
        ] {
            let response = edge
                .http
                .get(edge.url(path))
                .header(name, value)
                .send()
                .await
                .unwrap();
            expect_error(response, 401, "authentication_error").await;
        }
    }
    assert!(edge.usage.calls().is_empty());
}

#[tokio::test]
async fn virtual_key_is_forwarded_and_metering_decides() {
    let edge = Edge::start().await;
    edge.usage.answer_list(Err(ApiError::new(
        ErrorCode::PermissionDenied,
        "a key may read only its own tenant's usage",
    )
    .to_status()));
    let response = edge
        .http
        .get(edge.url("/admin/v1/usage/records?tenant=other"))
        .header("authorization", "bearer sy_abc_def")
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "permission_error").await;
    let call = edge.usage.last();
    assert_eq!(
        call.metadata().get("authorization").unwrap(),
        "Bearer sy_abc_def"
    );

    edge.usage
        .answer_summary(Err(Status::unauthenticated("unknown key")));
    let response = get(&edge, "/admin/v1/usage/summary").send().await.unwrap();
    expect_error(response, 401, "authentication_error").await;

    edge.usage.answer_summary(Err(ApiError::invalid(
        "start",
        "start is after the retention horizon",
    )
    .to_status()));
    let response = get(&edge, "/admin/v1/usage/summary").send().await.unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["param"], "start");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let edge = Edge::start().await;
    let cases = [
        ("/admin/v1/usage/summary?start=yesterday", "start"),
        ("/admin/v1/usage/summary?end=2026-13-01T00:00:00Z", "end"),
        (
            "/admin/v1/usage/summary?start=2026-02-01T00:00:00Z&end=2026-01-31T00:00:00Z",
            "end",
        ),
        ("/admin/v1/usage/summary?granularity=week", "granularity"),
        ("/admin/v1/usage/summary?group_by=team", "group_by"),
        ("/admin/v1/usage/summary?group_by=metadata.", "group_by"),
        ("/admin/v1/usage/summary?group-by=model", "group-by"),
        ("/admin/v1/usage/summary?tenant=a&tenant=b", "tenant"),
        ("/admin/v1/usage/records?limit=0", "limit"),
        ("/admin/v1/usage/records?limit=5000", "limit"),
        ("/admin/v1/usage/records?limit=ten", "limit"),
        ("/admin/v1/usage/records?granularity=day", "granularity"),
        ("/admin/v1/usage/records/req-1?verbose=1", "verbose"),
        ("/admin/v1/usage/export?format=xml", "format"),
        ("/admin/v1/usage/export?start=2026-01-31T00:00:00Q", "start"),
    ];
    for (path, param) in cases {
        let response = get(&edge, path).send().await.unwrap();
        let error = expect_error(response, 400, "invalid_request_error").await;
        assert_eq!(error["param"], param, "{path}");
        assert!(
            error["message"].as_str().unwrap().contains(param),
            "{path}: {error}"
        );
    }
    assert!(edge.usage.calls().is_empty());
}

#[tokio::test]
async fn admin_routes_are_get_only() {
    let edge = Edge::start().await;
    let response = edge
        .http
        .post(edge.url("/admin/v1/usage/summary"))
        .header("authorization", ADMIN)
        .send()
        .await
        .unwrap();
    expect_error(response, 405, "invalid_request_error").await;
}
