//! Real clients: the official `openai` Python SDK and a Python client generated from
//! proto/ with grpcio-tools, against a running gateway. The Python side lives in
//! tests/python/; this test builds its virtualenv (target/tmp/python-venv, reused
//! while tests/python/requirements.txt is unchanged), starts the gateway and runs
//! pytest once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard_proto::auth::v1::{Budget, BudgetPeriod, CreateKeyRequest, Limits};
use switchyard_tests::{Mesh, Shape, Upstream};

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The virtualenv with the pinned clients, created or refreshed as needed.
fn venv(python_dir: &Path) -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
    let requirements = python_dir.join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let marker = venv.join("installed-requirements.txt");
    let python = venv.join("bin").join("python");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) && python.exists()
    {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements));
    std::fs::write(&marker, wanted).unwrap();
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_and_generated_grpc_clients() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let python_dir = root.join("tests").join("python");
    let python = tokio::task::spawn_blocking({
        let dir = python_dir.clone();
        move || venv(&dir)
    })
    .await
    .unwrap();

    let upstream = Upstream::start().await;
    // A model answering from the router's response cache.
    let cached = r#"
[[models]]
name = "cached-model"
cache_ttl_secs = 300
deployments = [{ provider = "upstream", model = "gpt-test" }]
"#;
    let mesh = Mesh::start_with(Shape::AllInOne, &upstream.base_url(), cached).await;
    let (key, _) = mesh.create_key("python", &[]).await;
    let (one_rpm_key, _) = mesh
        .create_key_with(CreateKeyRequest {
            tenant: "python-rpm".into(),
            limits: Some(Limits {
                requests_per_minute: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let (no_budget_key, _) = mesh
        .create_key_with(CreateKeyRequest {
            tenant: "python-budget".into(),
            budget: Some(Budget {
                limit_micros: 0,
                period: BudgetPeriod::Monthly as i32,
                alert_percent: None,
            }),
            ..Default::default()
        })
        .await;
    let out = tokio::process::Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&python_dir)
        .env("SWITCHYARD_BASE_URL", mesh.base_url())
        .env("SWITCHYARD_KEY", &key)
        .env("SWITCHYARD_ONE_RPM_KEY", &one_rpm_key)
        .env("SWITCHYARD_NO_BUDGET_KEY", &no_budget_key)
        .env("SWITCHYARD_GRPC_TARGET", mesh.grpc.to_string())
        .env("SWITCHYARD_PROTO_ROOT", root.join("proto"))
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "pytest failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every Python request that reached routing left exactly one record.
    let records = mesh.tenant_usage("python").await;
    let mut ids: Vec<_> = records.iter().map(|r| r.request_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), records.len(), "duplicate usage records");
    assert!(!records.is_empty());
    mesh.shutdown().await;
}
