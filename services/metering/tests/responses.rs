//! `ResponseStore`: a virtual key stores for its tenant and reaches only its
//! tenant's responses; the admin token reads and deletes any but stores none;
//! a stored response survives reopening the ledger's database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::sync::Arc;

use common::*;
use switchyard_config::Secret;
use switchyard_grpc::{AdminToken, GrpcChannel, in_process};
use switchyard_metering::{MeteringService, SledLedger};
use switchyard_proto::metering::v1::response_store_client::ResponseStoreClient;
use switchyard_proto::metering::v1::{
    DeleteResponseRequest, GetResponseRequest, PutResponseRequest, StoredResponse,
};
use tonic::Code;

fn open_service(dir: &std::path::Path) -> MeteringService {
    let ledger = SledLedger::open(dir.to_str().unwrap()).unwrap();
    let responses = Arc::new(ledger.responses().unwrap());
    MeteringService::with_ledger(
        Arc::new(ledger),
        AdminToken::new(Some(Secret::new(ADMIN))),
        Some(fake_auth()),
    )
    .with_responses(responses, 30)
}

fn client(service: &MeteringService) -> ResponseStoreClient<GrpcChannel> {
    ResponseStoreClient::new(in_process(service.responses_server()))
}

fn put(id: &str, tenant: &str) -> PutResponseRequest {
    PutResponseRequest {
        response: Some(StoredResponse {
            id: id.into(),
            // Ignored: the key decides.
            tenant: tenant.into(),
            response_json: br#"{"id":"x"}"#.to_vec(),
            input_items_json: b"[]".to_vec(),
            output_items_json: b"[]".to_vec(),
            ..StoredResponse::default()
        }),
    }
}

fn get(id: &str) -> GetResponseRequest {
    GetResponseRequest { id: id.into() }
}

#[tokio::test]
async fn keys_reach_their_tenant_and_the_admin_reaches_all() {
    let dir = tempfile::tempdir().unwrap();
    let service = open_service(dir.path());
    let mut store = client(&service);
    store
        .put_response(as_caller(ALPHA_KEY, put("resp_1", "beta")))
        .await
        .unwrap();
    let stored = store
        .get_response(as_caller(ALPHA_KEY, get("resp_1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.tenant, "alpha");
    assert!(stored.created.is_some());

    // Another tenant: not found, for reading, deleting and overwriting.
    let status = store
        .get_response(as_caller(BETA_KEY, get("resp_1")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = store
        .delete_response(as_caller(
            BETA_KEY,
            DeleteResponseRequest {
                id: "resp_1".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = store
        .put_response(as_caller(BETA_KEY, put("resp_1", "beta")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // The admin reads any, stores none; no key, no access.
    store
        .get_response(as_caller(ADMIN, get("resp_1")))
        .await
        .unwrap();
    let status = store
        .put_response(as_caller(ADMIN, put("resp_2", "alpha")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = store
        .get_response(as_caller("sy_unknown_key", get("resp_1")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = store
        .get_response(as_caller(ALPHA_KEY, get("")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // Stored on disk: a reopened database still has it; then it is deleted.
    service.flush().await.unwrap();
    drop(store);
    drop(service);
    let service = open_service(dir.path());
    let mut store = client(&service);
    store
        .get_response(as_caller(ALPHA_KEY, get("resp_1")))
        .await
        .unwrap();
    store
        .delete_response(as_caller(
            ALPHA_KEY,
            DeleteResponseRequest {
                id: "resp_1".into(),
            },
        ))
        .await
        .unwrap();
    let status = store
        .get_response(as_caller(ALPHA_KEY, get("resp_1")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}
