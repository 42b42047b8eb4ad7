//! The `switchyard-auth` binary on its own: health, the admin API, a key that
//! survives a graceful restart.
#![allow(clippy::unwrap_used, missing_docs)]

use sha2::{Digest, Sha256};
use switchyard_bootstrap::testing;
use switchyard_proto::auth::v1::auth_client::AuthClient;
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::auth::v1::{AuthenticateRequest, CreateKeyRequest};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard-auth");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_alone_and_keeps_keys_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("auth.toml");
    let admin_hash = hex::encode(Sha256::digest(b"bin-admin"));
    std::fs::write(
        &config,
        format!(
            "version = 1\n[auth]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}/auth\"\n\
             [admin]\ntoken_sha256 = \"{admin_hash}\"\n[telemetry]\nlog_format = \"json\"\n",
            dir.path().display()
        ),
    )
    .unwrap();

    let running = testing::start(BIN, &config, &[]).await;
    let url = format!("http://{}", running.addr);
    let channel = switchyard_grpc::connect_lazy("test", &url).unwrap();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "switchyard.auth.v1.Auth".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, 1, "SERVING");
    let mut create = tonic::Request::new(CreateKeyRequest {
        tenant: "solo".into(),
        create_tenant: true,
        ..Default::default()
    });
    create
        .metadata_mut()
        .insert("authorization", "Bearer bin-admin".parse().unwrap());
    let secret = KeyAdminClient::connect(url)
        .await
        .unwrap()
        .create_key(create)
        .await
        .unwrap()
        .into_inner()
        .secret;
    assert!(running.terminate().await, "graceful exit");

    let running = testing::start(BIN, &config, &[]).await;
    let principal = AuthClient::connect(format!("http://{}", running.addr))
        .await
        .unwrap()
        .authenticate(AuthenticateRequest {
            api_key: secret,
            model: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(principal.tenant, "solo");
    assert!(running.terminate().await);
}
