//! `switchyard bench --quick` works end to end: every shape, protocol and case runs
//! and answers without errors. A smoke test only: no timing is asserted (speed is
//! what the command reports, never what a test checks).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_bench_runs_every_case_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let run = Command::new(BIN)
        .args(["bench", "--quick", "--json", json.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    // A bound on the run, not a speed assertion: a hung bench must fail the test.
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the quick bench did not finish within 180 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("p99.9"), "no table printed:\n{stdout}");

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    let mut seen = Vec::new();
    for row in cases {
        let id = format!("{} {} {}", row["shape"], row["protocol"], row["case"]);
        assert!(
            row["achieved_rps"].as_f64().unwrap() > 0.0,
            "{id}: nothing achieved: {row}"
        );
        assert_eq!(row["errors"], 0, "{id}: errors: {row}");
        assert!(row["latency_ms"]["p99"].is_number(), "{id}: {row}");
        if row["case"] == "stream" {
            assert!(row["ttft_ms"]["p50"].is_number(), "{id}: {row}");
        }
        if std::path::Path::new("/proc/self/stat").exists() {
            // The generator's and upstream's share is measured on every path.
            assert!(
                row["bench_cpu_us_per_request"].as_f64().unwrap() >= 0.0,
                "{id}: {row}"
            );
        }
        if row["shape"] != "direct" {
            assert!(row["added_ms"]["p99"].is_number(), "{id}: {row}");
            if std::path::Path::new("/proc/self/stat").exists() {
                assert!(
                    row["gateway_cpu_us_per_request"].as_f64().unwrap() >= 0.0,
                    "{id}: {row}"
                );
            }
        } else {
            assert!(row["gateway_cpu_us_per_request"].is_null(), "{id}: {row}");
        }
        seen.push(id);
    }
    let mut expected = Vec::new();
    for case in ["unary-0ms", "unary-20ms", "stream"] {
        expected.push(format!("\"direct\" \"http\" \"{case}\""));
        for shape in ["all-in-one", "five-process"] {
            for protocol in ["http", "grpc"] {
                expected.push(format!("\"{shape}\" \"{protocol}\" \"{case}\""));
            }
        }
    }
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);

    // Every gateway process was measured: one all-in-one, five split.
    let processes = report["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 6, "{processes:?}");
    if std::path::Path::new("/proc/self/status").exists() {
        for p in processes {
            assert!(p["peak_rss_kib"].as_u64().unwrap() > 0, "{p}");
        }
    }
}
