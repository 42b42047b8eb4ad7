//! Cross-cutting tests: tenants, masks, rotation, allowlists, disabled tenants and
//! the audit trail.

use std::time::SystemTime;

use switchyard_proto::auth::v1::audit_log_server::AuditLog;
use switchyard_proto::auth::v1::key_admin_server::KeyAdmin;
use switchyard_proto::auth::v1::tenant_admin_server::TenantAdmin;
use switchyard_proto::auth::v1::{
    Budget, BudgetPeriod, CreateKeyRequest, CreateTenantRequest, DisableTenantRequest,
    EnableTenantRequest, GetTenantRequest, Key, Limits, ListAuditRequest, ListTenantsRequest,
    RevokeKeyRequest, RotateKeyRequest, Tenant, UpdateKeyRequest, UpdateTenantRequest,
};
use tonic::Request;

use crate::admin::tests::{admin, service};
use crate::{AuthError, AuthService};

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

fn param(status: &tonic::Status) -> String {
    switchyard_error::ApiError::from_status(status)
        .param
        .unwrap_or_default()
}

async fn create_tenant(svc: &AuthService, tenant: Tenant) -> Result<Tenant, tonic::Status> {
    TenantAdmin::create_tenant(
        svc,
        admin(CreateTenantRequest {
            tenant: Some(tenant),
        }),
    )
    .await
    .map(|r| r.into_inner())
}

async fn create_key(svc: &AuthService, req: CreateKeyRequest) -> (Key, String) {
    let r = KeyAdmin::create_key(svc, admin(req))
        .await
        .unwrap()
        .into_inner();
    (r.key.unwrap(), r.secret)
}

#[tokio::test]
async fn tenant_crud_and_masks() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(&dir);
    let created = create_tenant(
        &svc,
        Tenant {
            name: "acme".into(),
            limits: Some(Limits {
                requests_per_minute: Some(60),
                tokens_per_minute: Some(1000),
                max_concurrent: None,
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(created.created_at.is_some());
    // Duplicate: invalid request naming tenant.name.
    let dup = create_tenant(
        &svc,
        Tenant {
            name: "acme".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(dup.code(), tonic::Code::InvalidArgument);
    assert_eq!(param(&dup), "tenant.name");
    assert!(dup.message().contains("already exists"));
    // Bad name.
    let bad = create_tenant(
        &svc,
        Tenant {
            name: "no spaces".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(param(&bad), "tenant.name");

    // Update one limit by sub-path and the models; the other limit stays.
    let updated = TenantAdmin::update_tenant(
        &svc,
        admin(UpdateTenantRequest {
            tenant: Some(Tenant {
                name: "acme".into(),
                allowed_models: vec!["chat-*".into()],
                limits: Some(Limits {
                    requests_per_minute: Some(120),
                    ..Default::default()
                }),
                labels: [("team".to_string(), "ml".to_string())].into(),
                ..Default::default()
            }),
            update_mask: mask(&["allowed_models", "limits.requests_per_minute"]),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(updated.allowed_models, vec!["chat-*"]);
    let limits = updated.limits.unwrap();
    assert_eq!(limits.requests_per_minute, Some(120));
    assert_eq!(limits.tokens_per_minute, Some(1000));
    assert!(updated.labels.is_empty(), "labels were not in the mask");

    // Unknown path and empty mask name update_mask.
    for m in [mask(&["name"]), mask(&["limits.bogus"]), None] {
        let err = TenantAdmin::update_tenant(
            &svc,
            admin(UpdateTenantRequest {
                tenant: Some(Tenant {
                    name: "acme".into(),
                    ..Default::default()
                }),
                update_mask: m,
            }),
        )
        .await
        .unwrap_err();
        assert_eq!(param(&err), "update_mask");
    }
    // A budget without a period names the field.
    let err = TenantAdmin::update_tenant(
        &svc,
        admin(UpdateTenantRequest {
            tenant: Some(Tenant {
                name: "acme".into(),
                budget: Some(Budget {
                    limit_micros: 5,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: mask(&["budget"]),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(param(&err), "tenant.budget.period");

    let got = TenantAdmin::get_tenant(
        &svc,
        admin(GetTenantRequest {
            name: "acme".into(),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(got, updated);
    let missing = TenantAdmin::get_tenant(
        &svc,
        admin(GetTenantRequest {
            name: "nobody".into(),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let list = TenantAdmin::list_tenants(&svc, admin(ListTenantsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .tenants;
    assert_eq!(list.len(), 1);
    // Admin token required.
    let err = TenantAdmin::list_tenants(&svc, Request::new(ListTenantsRequest {}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn keys_need_a_tenant_unless_asked_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(&dir);
    let err = KeyAdmin::create_key(
        &svc,
        admin(CreateKeyRequest {
            tenant: "ghost".into(),
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let (key, _) = create_key(
        &svc,
        CreateKeyRequest {
            tenant: "ghost".into(),
            create_tenant: true,
            limits: Some(Limits {
                max_concurrent: Some(4),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(key.limits.unwrap().max_concurrent, Some(4));
    let tenant = svc.tenant("ghost").unwrap();
    assert!(tenant.limits.is_none());
    // create_tenant on an existing tenant leaves it alone.
    create_key(
        &svc,
        CreateKeyRequest {
            tenant: "ghost".into(),
            create_tenant: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(svc.tenant("ghost").unwrap(), tenant);
    // Validation names the request field.
    let err = KeyAdmin::create_key(
        &svc,
        admin(CreateKeyRequest {
            tenant: "ghost".into(),
            limits: Some(Limits {
                requests_per_minute: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(param(&err), "limits.requests_per_minute");
    let err = KeyAdmin::create_key(
        &svc,
        admin(CreateKeyRequest {
            tenant: "ghost".into(),
            budget: Some(Budget {
                limit_micros: 1,
                period: BudgetPeriod::Daily as i32,
                alert_percent: Some(0),
            }),
            ..Default::default()
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(param(&err), "budget.alert_percent");
}

#[tokio::test]
async fn allowlists_intersect_and_principal_carries_limits() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(&dir);
    let budget = Budget {
        limit_micros: 12_500_000,
        period: BudgetPeriod::Monthly as i32,
        alert_percent: Some(80),
    };
    create_tenant(
        &svc,
        Tenant {
            name: "acme".into(),
            allowed_models: vec!["chat-*".into(), "embed".into()],
            budget: Some(budget),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (_, narrow) = create_key(
        &svc,
        CreateKeyRequest {
            tenant: "acme".into(),
            allowed_models: vec!["chat-fast".into(), "other".into()],
            limits: Some(Limits {
                requests_per_minute: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let p = svc.authenticate(&narrow, "chat-fast").unwrap();
    assert_eq!(p.key_limits.unwrap().requests_per_minute, Some(10));
    assert_eq!(p.tenant_budget, Some(budget));
    assert_eq!(p.tenant_allowed_models, vec!["chat-*", "embed"]);
    // The key allows `other` but the tenant does not; the tenant allows `embed`
    // but the key does not.
    for model in ["other", "embed", "chat-strong"] {
        assert!(matches!(
            svc.authenticate(&narrow, model),
            Err(AuthError::ModelNotAllowed { .. })
        ));
    }
    // An empty key list means "whatever the tenant allows".
    let (_, wide) = create_key(
        &svc,
        CreateKeyRequest {
            tenant: "acme".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(svc.authenticate(&wide, "embed").is_ok());
    assert!(svc.authenticate(&wide, "chat-strong").is_ok());
    assert!(svc.authenticate(&wide, "gpt-4o").is_err());
}

#[tokio::test]
async fn disabled_tenant_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(&dir);
    let (_, secret) = create_key(
        &svc,
        CreateKeyRequest {
            tenant: "acme".into(),
            create_tenant: true,
            ..Default::default()
        },
    )
    .await;
    let disabled = TenantAdmin::disable_tenant(
        &svc,
        admin(DisableTenantRequest {
            name: "acme".into(),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert!(disabled.disabled_at.is_some());
    let err = svc.authenticate(&secret, "").unwrap_err();
    assert!(matches!(err, AuthError::TenantDisabled(_)));
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(status.message().contains("tenant disabled"));
    TenantAdmin::enable_tenant(
        &svc,
        admin(EnableTenantRequest {
            name: "acme".into(),
        }),
    )
    .await
    .unwrap();
    assert!(svc.authenticate(&secret, "").is_ok());
}

#[tokio::test]
async fn update_key_by_mask() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(&dir);
    let (key, secret) = create_key(
        &svc,
        CreateKeyRequest {
            tenant: "acme".into(),
            name: "old".into(),
            create_tenant: true,
            ..Default::default()
        },
    )
    .await;
    let updated = KeyAdmin::update_key(
        &svc,
        admin(UpdateKeyRequest {
            key: Some(Key {
                id: key.id.clone(),
                name: "new".into(),
                tenant: "ignored".into(),
                allowed_models: vec!["chat-*".into()],
                budget: Some(Budget {
                    limit_micros: 0,
                    period: BudgetPeriod::Lifetime as i32,
                    alert_percent: None,
                }),
                ..Default::default()
            }),
            update_mask: mask(&["name", "budget"]),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(updated.name, "new");
    assert_eq!(updated.tenant, "acme");
    assert!(updated.allowed_models.is_empty(), "not in the mask");
    assert_eq!(updated.budget.unwrap().limit_micros, 0);
    assert_eq!(
        svc.authenticate(&secret, "").unwrap().key_budget,
        updated.budget
    );
    let err = KeyAdmin::update_key(
        &svc,
        admin(UpdateKeyRequest {
            key: Some(Key {
                id: key.id.clone(),
                ..Default::default()
            }),
            update_mask: mask(&["tenant"]),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(param(&err), "update_mask");
    let err = KeyAdmin::update_key(
        &svc,
        admin(UpdateKeyRequest {
            key: Some(Key {
                id: key.id.clone(),
                expires_at: Some(prost_types::Timestamp::from(SystemTime::UNIX_EPOCH)),
                ..Default::default()
            }),
            update_mask: mask(&["expires_at"]),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(param(&err), "key.expires_at");
}

#[tokio::test]
async fn rotation_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(&dir);
    let (old, old_secret) = create_key(
        &svc,
        CreateKeyRequest {
            tenant: "acme".into(),
            name: "svc".into(),
            allowed_models: vec!["chat-*".into()],
            labels: [("env".to_string(), "prod".to_string())].into(),
            create_tenant: true,
            ..Default::default()
        },
    )
    .await;
    let too_long = KeyAdmin::rotate_key(
        &svc,
        admin(RotateKeyRequest {
            key_id: old.id.clone(),
            overlap_seconds: Some(31 * 86_400),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(param(&too_long), "overlap_seconds");
    let rotated = KeyAdmin::rotate_key(
        &svc,
        admin(RotateKeyRequest {
            key_id: old.id.clone(),
            overlap_seconds: None,
        }),
    )
    .await
    .unwrap()
    .into_inner();
    let new = rotated.key.unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!(
        (&new.tenant, &new.name, &new.allowed_models, &new.labels),
        (&old.tenant, &old.name, &old.allowed_models, &old.labels)
    );
    // Both work during the overlap (default 24 h).
    assert!(svc.authenticate(&old_secret, "chat-x").is_ok());
    assert!(svc.authenticate(&rotated.secret, "chat-x").is_ok());
    let stored = svc.store.get(&old.id).unwrap().unwrap();
    let record = stored.key.clone().unwrap();
    assert_eq!(record.replaced_by, new.id);
    let ends = SystemTime::try_from(record.overlap_ends_at.unwrap()).unwrap();
    let day = std::time::Duration::from_secs(86_400);
    assert!(ends > SystemTime::now() + day - std::time::Duration::from_secs(60));
    // A second rotation of the old key is refused.
    let again = KeyAdmin::rotate_key(
        &svc,
        admin(RotateKeyRequest {
            key_id: old.id.clone(),
            overlap_seconds: Some(0),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(param(&again), "key_id");
    // End the overlap in the store: the old key is refused, the new one works.
    let mut ended = stored;
    ended.key.as_mut().unwrap().overlap_ends_at =
        Some(prost_types::Timestamp::from(SystemTime::UNIX_EPOCH));
    svc.store.put(&old.id, &ended).unwrap();
    let err = svc.authenticate(&old_secret, "").unwrap_err();
    assert!(matches!(err, AuthError::Rotated(_)));
    assert!(
        tonic::Status::from(err)
            .message()
            .contains("API key rotated")
    );
    assert!(svc.authenticate(&rotated.secret, "").is_ok());
    // overlap 0 ends the old key at once.
    let r0 = KeyAdmin::rotate_key(
        &svc,
        admin(RotateKeyRequest {
            key_id: new.id.clone(),
            overlap_seconds: Some(0),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    assert!(matches!(
        svc.authenticate(&rotated.secret, ""),
        Err(AuthError::Rotated(_))
    ));
    assert!(svc.authenticate(&r0.secret, "").is_ok());
}

#[tokio::test]
async fn every_mutation_is_audited_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(&dir);
    let with_actor = |mut r: Request<_>| {
        r.metadata_mut()
            .insert(crate::ACTOR_HEADER, "alice@example.com".parse().unwrap());
        r.metadata_mut()
            .insert("x-request-id", "req-42".parse().unwrap());
        r
    };
    create_tenant(
        &svc,
        Tenant {
            name: "acme".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let created = KeyAdmin::create_key(
        &svc,
        with_actor(admin(CreateKeyRequest {
            tenant: "acme".into(),
            ..Default::default()
        })),
    )
    .await
    .unwrap()
    .into_inner();
    let id = created.key.unwrap().id;
    KeyAdmin::update_key(
        &svc,
        admin(UpdateKeyRequest {
            key: Some(Key {
                id: id.clone(),
                name: "renamed".into(),
                ..Default::default()
            }),
            update_mask: mask(&["name"]),
        }),
    )
    .await
    .unwrap();
    let rotated = KeyAdmin::rotate_key(
        &svc,
        admin(RotateKeyRequest {
            key_id: id.clone(),
            overlap_seconds: Some(60),
        }),
    )
    .await
    .unwrap()
    .into_inner();
    KeyAdmin::revoke_key(&svc, admin(RevokeKeyRequest { key_id: id.clone() }))
        .await
        .unwrap();
    TenantAdmin::update_tenant(
        &svc,
        admin(UpdateTenantRequest {
            tenant: Some(Tenant {
                name: "acme".into(),
                ..Default::default()
            }),
            update_mask: mask(&["labels"]),
        }),
    )
    .await
    .unwrap();
    for disable in [true, false] {
        if disable {
            TenantAdmin::disable_tenant(
                &svc,
                admin(DisableTenantRequest {
                    name: "acme".into(),
                }),
            )
            .await
            .unwrap();
        } else {
            TenantAdmin::enable_tenant(
                &svc,
                admin(EnableTenantRequest {
                    name: "acme".into(),
                }),
            )
            .await
            .unwrap();
        }
    }
    // A failed mutation writes nothing.
    assert!(
        create_tenant(
            &svc,
            Tenant {
                name: "acme".into(),
                ..Default::default()
            }
        )
        .await
        .is_err()
    );

    let all = AuditLog::list_audit(&svc, admin(ListAuditRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .records;
    let actions: Vec<&str> = all.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "TenantAdmin.EnableTenant",
            "TenantAdmin.DisableTenant",
            "TenantAdmin.UpdateTenant",
            "KeyAdmin.RevokeKey",
            "KeyAdmin.RotateKey",
            "KeyAdmin.UpdateKey",
            "KeyAdmin.CreateKey",
            "TenantAdmin.CreateTenant",
        ],
        "newest first"
    );
    // The fingerprint of "admin" is 8c6976e5…; the caller's actor is appended.
    let create = &all[6];
    assert_eq!(create.actor, "admin:8c6976e5 as alice@example.com");
    assert_eq!(create.request_id, "req-42");
    assert_eq!(all[5].actor, "admin:8c6976e5");
    for record in &all {
        assert!(!record.detail.contains(&created.secret));
        assert!(!record.detail.contains(&rotated.secret));
        assert!(serde_json::from_str::<serde_json::Value>(&record.detail).is_ok());
        assert!(record.time.is_some() && !record.request_id.is_empty());
    }
    let for_key = AuditLog::list_audit(
        &svc,
        admin(ListAuditRequest {
            target: format!("key:{id}"),
            limit: 2,
        }),
    )
    .await
    .unwrap()
    .into_inner()
    .records;
    assert_eq!(for_key.len(), 2);
    assert_eq!(for_key[0].action, "KeyAdmin.RevokeKey");
    let err = AuditLog::list_audit(&svc, Request::new(ListAuditRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}
