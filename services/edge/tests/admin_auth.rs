//! The admin tenant, key and audit routes over a fake auth admin API (one
//! `tonic::service::Routes` serving `KeyAdmin`, `TenantAdmin` and `AuditLog`): JSON
//! shapes both ways, update masks from the fields present, secrets shown only once,
//! the token and actor forwarded, and strict bodies and parameters.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::auth::{AuthCall, SECRET, key, tenant};
use common::{Edge, expect_error};
use serde_json::{Value, json};
use switchyard_proto::auth::v1::{AuditRecord, BudgetPeriod};
use tonic::Status;

const ADMIN: &str = "Bearer admin-secret";

fn call(edge: &Edge, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    edge.http
        .request(method, edge.url(path))
        .header("authorization", ADMIN)
}

async fn ok_json(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn mask_paths(mask: &Option<prost_types::FieldMask>) -> Vec<&str> {
    mask.as_ref()
        .unwrap()
        .paths
        .iter()
        .map(String::as_str)
        .collect()
}

fn expected_key_json(id: &str) -> Value {
    json!({
        "id": id, "tenant": "acme", "name": "ci", "prefix": "sy-abc",
        "allowed_models": ["gpt-4o*"],
        "created_at": "2026-01-31T00:00:00Z", "expires_at": "2026-02-01T00:00:00Z",
        "revoked_at": null, "labels": {"team": "search"},
        "limits": {"requests_per_minute": 60, "tokens_per_minute": null, "max_concurrent": 4},
        "budget": {"limit_micros": 12_500_000, "limit_usd": "12.500000",
            "period": "monthly", "alert_percent": 80},
        "replaced_by": null, "overlap_ends_at": null,
    })
}

#[tokio::test]
async fn create_tenant_reads_the_body_and_answers_201() {
    let edge = Edge::start().await;
    let response = call(&edge, reqwest::Method::POST, "/admin/v1/tenants")
        .json(&json!({
            "name": "acme",
            "allowed_models": ["chat-*"],
            "limits": {"requests_per_minute": 600, "max_concurrent": 8},
            "budget": {"limit_micros": 2_000_000, "period": "weekly", "alert_percent": 90},
            "labels": {"env": "prod"},
        }))
        .send()
        .await
        .unwrap();
    let body = ok_json(response, 201).await;
    assert_eq!(
        body,
        json!({
            "name": "acme", "allowed_models": ["chat-*"],
            "limits": {"requests_per_minute": 600, "tokens_per_minute": null, "max_concurrent": 8},
            "budget": {"limit_micros": 2_000_000, "limit_usd": "2.000000",
                "period": "weekly", "alert_percent": 90},
            "labels": {"env": "prod"},
            "created_at": "2026-01-31T00:00:00Z", "disabled": false, "disabled_at": null,
        })
    );
    let (metadata, AuthCall::CreateTenant(message)) = edge.auth.last() else {
        panic!("not CreateTenant")
    };
    assert_eq!(metadata.get("authorization").unwrap(), ADMIN);
    let sent = message.tenant.unwrap();
    assert_eq!(sent.name, "acme");
    assert_eq!(sent.limits.unwrap().tokens_per_minute, None);
    let budget = sent.budget.unwrap();
    assert_eq!(budget.period, i32::from(BudgetPeriod::Weekly));
    assert_eq!(budget.limit_micros, 2_000_000);
}

#[tokio::test]
async fn list_and_get_tenants() {
    let edge = Edge::start().await;
    edge.auth
        .answer_tenants(vec![tenant("acme"), tenant("globex")]);
    let body = ok_json(
        call(&edge, reqwest::Method::GET, "/admin/v1/tenants")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let names: Vec<&str> = body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "globex"]);
    assert_eq!(body["tenants"][0]["budget"]["period"], "daily");
    assert_eq!(body["tenants"][0]["budget"]["limit_usd"], "1.500000");

    let body = ok_json(
        call(&edge, reqwest::Method::GET, "/admin/v1/tenants/globex")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["name"], "globex");
    let (_, AuthCall::GetTenant(message)) = edge.auth.last() else {
        panic!("not GetTenant")
    };
    assert_eq!(message.name, "globex");
}

#[tokio::test]
async fn patch_tenant_masks_present_fields_and_null_clears() {
    let edge = Edge::start().await;
    let response = call(&edge, reqwest::Method::PATCH, "/admin/v1/tenants/acme")
        .json(&json!({"budget": null, "limits": {"tokens_per_minute": 5000}}))
        .send()
        .await
        .unwrap();
    let body = ok_json(response, 200).await;
    assert_eq!(body["budget"], Value::Null);
    assert_eq!(body["limits"]["tokens_per_minute"], 5000);
    let (_, AuthCall::UpdateTenant(message)) = edge.auth.last() else {
        panic!("not UpdateTenant")
    };
    assert_eq!(mask_paths(&message.update_mask), ["limits", "budget"]);
    let sent = message.tenant.unwrap();
    assert_eq!(sent.name, "acme");
    assert!(sent.budget.is_none());

    // Clearing lists and maps with null.
    call(&edge, reqwest::Method::PATCH, "/admin/v1/tenants/acme")
        .json(&json!({"allowed_models": null, "labels": null}))
        .send()
        .await
        .unwrap();
    let (_, AuthCall::UpdateTenant(message)) = edge.auth.last() else {
        panic!("not UpdateTenant")
    };
    assert_eq!(
        mask_paths(&message.update_mask),
        ["allowed_models", "labels"]
    );

    // A body that changes nothing is refused before auth (an empty mask would mean
    // "every field").
    let calls = edge.auth.calls().len();
    let response = call(&edge, reqwest::Method::PATCH, "/admin/v1/tenants/acme")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(edge.auth.calls().len(), calls);
}

#[tokio::test]
async fn disable_and_enable_tenant() {
    let edge = Edge::start().await;
    let body = ok_json(
        call(
            &edge,
            reqwest::Method::POST,
            "/admin/v1/tenants/acme/disable",
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["disabled"], true);
    assert!(body["disabled_at"].is_string());
    assert!(matches!(edge.auth.last().1, AuthCall::DisableTenant(m) if m.name == "acme"));

    let body = ok_json(
        call(
            &edge,
            reqwest::Method::POST,
            "/admin/v1/tenants/acme/enable",
        )
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["disabled"], false);
    assert!(matches!(edge.auth.last().1, AuthCall::EnableTenant(m) if m.name == "acme"));
}

#[tokio::test]
async fn create_key_shows_the_secret_once_and_list_never() {
    let edge = Edge::start().await;
    let response = call(&edge, reqwest::Method::POST, "/admin/v1/keys")
        .json(&json!({
            "tenant": "acme", "name": "ci", "create_tenant": true,
            "expires_at": "2026-02-01T00:00:00Z",
            "budget": {"limit_micros": 12_500_000, "period": "lifetime"},
        }))
        .send()
        .await
        .unwrap();
    let body = ok_json(response, 201).await;
    assert_eq!(body["secret"], SECRET);
    assert_eq!(body["key"], expected_key_json("k_new"));
    let (_, AuthCall::CreateKey(message)) = edge.auth.last() else {
        panic!("not CreateKey")
    };
    assert!(message.create_tenant);
    assert_eq!(message.tenant, "acme");
    assert_eq!(message.expires_at.unwrap().seconds, 1_769_904_000);
    assert_eq!(
        message.budget.unwrap().period,
        i32::from(BudgetPeriod::Lifetime)
    );

    edge.auth.answer_keys(vec![key("k_1"), key("k_2")]);
    let response = call(&edge, reqwest::Method::GET, "/admin/v1/keys?tenant=acme")
        .send()
        .await
        .unwrap();
    let text = {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.text().await.unwrap()
    };
    assert!(!text.contains("secret") && !text.contains(SECRET), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["keys"][1], expected_key_json("k_2"));
    assert!(matches!(edge.auth.last().1, AuthCall::ListKeys(m) if m.tenant == "acme"));

    let body = ok_json(
        call(&edge, reqwest::Method::GET, "/admin/v1/keys/k_1")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body, expected_key_json("k_1"));
}

#[tokio::test]
async fn patch_key_masks_present_fields() {
    let edge = Edge::start().await;
    let response = call(&edge, reqwest::Method::PATCH, "/admin/v1/keys/k_1")
        .json(&json!({"name": "deploy", "expires_at": null, "allowed_models": ["a", "b"]}))
        .send()
        .await
        .unwrap();
    let body = ok_json(response, 200).await;
    assert_eq!(body["name"], "deploy");
    assert_eq!(body["expires_at"], Value::Null);
    let (_, AuthCall::UpdateKey(message)) = edge.auth.last() else {
        panic!("not UpdateKey")
    };
    assert_eq!(
        mask_paths(&message.update_mask),
        ["name", "allowed_models", "expires_at"]
    );
    let sent = message.key.unwrap();
    assert_eq!(sent.id, "k_1");
    assert!(sent.expires_at.is_none());
}

#[tokio::test]
async fn delete_revokes_and_rotate_returns_a_new_secret() {
    let edge = Edge::start().await;
    let body = ok_json(
        call(&edge, reqwest::Method::DELETE, "/admin/v1/keys/k_1")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["revoked_at"], "2026-01-31T22:53:20Z");
    assert!(body.get("secret").is_none());
    assert!(matches!(edge.auth.last().1, AuthCall::RevokeKey(m) if m.key_id == "k_1"));

    let response = call(&edge, reqwest::Method::POST, "/admin/v1/keys/k_1/rotate")
        .json(&json!({"overlap_seconds": 3600}))
        .send()
        .await
        .unwrap();
    let body = ok_json(response, 201).await;
    assert_eq!(body["secret"], SECRET);
    assert_eq!(body["key"]["id"], "k_rotated");
    let (_, AuthCall::RotateKey(message)) = edge.auth.last() else {
        panic!("not RotateKey")
    };
    assert_eq!(
        (message.key_id.as_str(), message.overlap_seconds),
        ("k_1", Some(3600))
    );

    // No body: auth's default overlap.
    let response = call(&edge, reqwest::Method::POST, "/admin/v1/keys/k_1/rotate")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (_, AuthCall::RotateKey(message)) = edge.auth.last() else {
        panic!("not RotateKey")
    };
    assert_eq!(message.overlap_seconds, None);
}

#[tokio::test]
async fn audit_lists_records_and_forwards_the_filter() {
    let edge = Edge::start().await;
    edge.auth.answer_audit(vec![AuditRecord {
        id: "a_2".into(),
        time: Some(common::auth::ts(1_769_817_600)),
        actor: "admin:3f2a alice@example.com".into(),
        action: "KeyAdmin.RevokeKey".into(),
        target: "key:k_1".into(),
        detail: r#"{"revoked":true}"#.into(),
        request_id: "req-9".into(),
    }]);
    let response = call(
        &edge,
        reqwest::Method::GET,
        "/admin/v1/audit?target=key:k_1&limit=10",
    )
    .send()
    .await
    .unwrap();
    let body = ok_json(response, 200).await;
    assert_eq!(
        body,
        json!({"records": [{
            "id": "a_2", "time": "2026-01-31T00:00:00Z",
            "actor": "admin:3f2a alice@example.com", "action": "KeyAdmin.RevokeKey",
            "target": "key:k_1", "detail": {"revoked": true}, "request_id": "req-9",
        }]})
    );
    let (_, AuthCall::ListAudit(message)) = edge.auth.last() else {
        panic!("not ListAudit")
    };
    assert_eq!((message.target.as_str(), message.limit), ("key:k_1", 10));

    let response = call(&edge, reqwest::Method::GET, "/admin/v1/audit?limit=0")
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["param"], "limit");
}

#[tokio::test]
async fn missing_token_is_401_and_never_reaches_auth() {
    let edge = Edge::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/admin/v1/tenants"),
        (reqwest::Method::POST, "/admin/v1/keys"),
        (reqwest::Method::DELETE, "/admin/v1/keys/k_1"),
        (reqwest::Method::GET, "/admin/v1/audit"),
    ] {
        let response = edge
            .http
            .request(method, edge.url(path))
            .header("x-api-key", "sk-not-an-admin-bearer")
            .send()
            .await
            .unwrap();
        expect_error(response, 401, "authentication_error").await;
    }
    assert!(edge.auth.calls().is_empty());
}

#[tokio::test]
async fn actor_and_request_id_are_forwarded() {
    let edge = Edge::start().await;
    call(&edge, reqwest::Method::DELETE, "/admin/v1/keys/k_1")
        .header("x-switchyard-actor", "alice@example.com")
        .header("x-request-id", "req-admin-1")
        .send()
        .await
        .unwrap();
    let (metadata, _) = edge.auth.last();
    assert_eq!(
        metadata.get("x-switchyard-actor").unwrap(),
        "alice@example.com"
    );
    assert_eq!(metadata.get("x-request-id").unwrap(), "req-admin-1");
    assert_eq!(metadata.get("authorization").unwrap(), ADMIN);

    // An actor that cannot travel as metadata is refused, not dropped.
    let calls = edge.auth.calls().len();
    let response = call(&edge, reqwest::Method::GET, "/admin/v1/keys")
        .header(
            "x-switchyard-actor",
            reqwest::header::HeaderValue::from_bytes("Zoë".as_bytes()).unwrap(),
        )
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["param"], "x-switchyard-actor");
    assert_eq!(edge.auth.calls().len(), calls);

    // Without the header, no actor metadata.
    call(&edge, reqwest::Method::GET, "/admin/v1/keys")
        .send()
        .await
        .unwrap();
    assert!(edge.auth.last().0.get("x-switchyard-actor").is_none());
}

#[tokio::test]
async fn wrong_types_are_400_with_the_json_path() {
    let edge = Edge::start().await;
    for (path, body, param) in [
        (
            "/admin/v1/tenants",
            json!({"name": "acme", "limits": {"requests_per_minute": "ten"}}),
            "limits.requests_per_minute",
        ),
        (
            "/admin/v1/tenants",
            json!({"name": "acme", "budget": {"limit_micros": 1.5, "period": "daily"}}),
            "budget.limit_micros",
        ),
        (
            "/admin/v1/tenants",
            json!({"name": "acme", "budget": {"limit_micros": 1, "period": "yearly"}}),
            "budget.period",
        ),
        (
            "/admin/v1/keys",
            json!({"tenant": "acme", "expires_at": "tomorrow"}),
            "expires_at",
        ),
        ("/admin/v1/keys", json!({"name": "ci"}), "tenant"),
        (
            "/admin/v1/keys/k_1/rotate",
            json!({"overlap_seconds": -1}),
            "overlap_seconds",
        ),
    ] {
        let response = call(&edge, reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = expect_error(response, 400, "invalid_request_error").await;
        assert_eq!(error["param"], param, "{body}");
    }
    let response = call(&edge, reqwest::Method::PATCH, "/admin/v1/keys/k_1")
        .json(&json!({"labels": ["not", "a", "map"]}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["param"], "labels");
    assert!(edge.auth.calls().is_empty());
}

#[tokio::test]
async fn unknown_fields_and_parameters_are_400_naming_them() {
    let edge = Edge::start().await;
    for (method, path, body, param) in [
        (
            reqwest::Method::POST,
            "/admin/v1/tenants",
            json!({"name": "acme", "limts": {}}),
            "limts",
        ),
        (
            reqwest::Method::PATCH,
            "/admin/v1/tenants/acme",
            json!({"limits": {"requests_per_mintue": 5}}),
            "limits.requests_per_mintue",
        ),
        (
            reqwest::Method::PATCH,
            "/admin/v1/keys/k_1",
            json!({"tenant": "other"}),
            "tenant",
        ),
    ] {
        let response = call(&edge, method, path).json(&body).send().await.unwrap();
        let error = expect_error(response, 400, "invalid_request_error").await;
        assert_eq!(error["param"], param, "{body}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(param.rsplit('.').next().unwrap()),
            "{error}"
        );
    }
    let response = call(&edge, reqwest::Method::GET, "/admin/v1/keys?tenatn=acme")
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request_error").await;
    assert_eq!(error["param"], "tenatn");
    assert!(edge.auth.calls().is_empty());
}

#[tokio::test]
async fn auth_refusals_map_through_the_error_table() {
    let edge = Edge::start().await;
    for (status, http, kind) in [
        (
            Status::not_found("no such key"),
            404,
            "invalid_request_error",
        ),
        (
            Status::permission_denied("admin token required"),
            403,
            "permission_error",
        ),
        (
            Status::invalid_argument("bad tenant name"),
            400,
            "invalid_request_error",
        ),
        (Status::unavailable("auth down"), 503, "api_error"),
    ] {
        edge.auth.fail_next(status);
        let response = call(&edge, reqwest::Method::GET, "/admin/v1/keys/k_404")
            .send()
            .await
            .unwrap();
        expect_error(response, http, kind).await;
    }
}
