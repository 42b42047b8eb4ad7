//! The `KeyAdmin` gRPC service: create, list, get, revoke, update and rotate keys.
//!
//! Every change is written together with its audit record (see `audit`).

use std::time::SystemTime;

use serde_json::json;
use switchyard_proto::auth::v1::key_admin_server::KeyAdmin;
use switchyard_proto::auth::v1::{
    CreateKeyRequest, CreateKeyResponse, GetKeyRequest, Key, ListKeysRequest, ListKeysResponse,
    RevokeKeyRequest, RotateKeyRequest, Tenant, UpdateKeyRequest,
};
use tonic::{Request, Response, Status};

use crate::audit::{
    AdminCall, budget_json, key_field_json, key_target, limits_json, tenant_target, time_json,
    update_json,
};
use crate::key::{display_prefix, generate, hash};
use crate::store::Write;
use crate::{AuthError, AuthService, StoredKey, validate};

const KEY_PATHS: &str = "name, allowed_models, limits, budget, expires_at, labels";

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now())
}

impl AuthService {
    pub(crate) fn check_admin(
        &self,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<(), AuthError> {
        if self.admin.accepts(metadata) {
            Ok(())
        } else {
            Err(AuthError::AdminUnauthenticated)
        }
    }

    /// Checks the admin token of a mutating call and captures who is calling.
    pub(crate) fn admit<T>(&self, request: &Request<T>) -> Result<AdminCall, AuthError> {
        self.check_admin(request.metadata())?;
        Ok(AdminCall::from_request(request))
    }

    pub(crate) fn create_key(
        &self,
        call: &AdminCall,
        req: CreateKeyRequest,
    ) -> Result<CreateKeyResponse, AuthError> {
        validate::name("tenant", &req.tenant)?;
        validate::key_name("name", &req.name)?;
        validate::models("allowed_models", &req.allowed_models)?;
        validate::expiry("expires_at", req.expires_at.as_ref())?;
        validate::limits("limits", req.limits.as_ref())?;
        validate::budget("budget", req.budget.as_ref())?;
        let mut writes = Vec::with_capacity(2);
        if req.create_tenant {
            let tenant = Tenant {
                name: req.tenant.clone(),
                created_at: Some(now()),
                ..Default::default()
            };
            let record = call.record(
                "KeyAdmin.CreateKey",
                tenant_target(&req.tenant),
                json!({ "name": req.tenant, "implicit": true }),
            );
            writes.push(Write::TenantIfAbsent(tenant, record));
        } else if self.store.tenant(&req.tenant)?.is_none() {
            return Err(AuthError::TenantNotFound(req.tenant));
        }
        let (id, secret) = generate();
        let key = Key {
            id: id.clone(),
            tenant: req.tenant,
            name: req.name,
            prefix: display_prefix(&id),
            allowed_models: req.allowed_models,
            created_at: Some(now()),
            expires_at: req.expires_at,
            labels: req.labels,
            limits: req.limits,
            budget: req.budget,
            ..Default::default()
        };
        let record = call.record(
            "KeyAdmin.CreateKey",
            key_target(&id),
            json!({
                "tenant": key.tenant,
                "name": key.name,
                "allowed_models": key.allowed_models,
                "expires_at": time_json(key.expires_at.as_ref()),
                "labels": key.labels,
                "limits": limits_json(key.limits.as_ref()),
                "budget": budget_json(key.budget.as_ref()),
                "create_tenant": req.create_tenant,
            }),
        );
        writes.push(Write::Key(
            id,
            StoredKey {
                key: Some(key.clone()),
                hash: hash(&secret),
            },
        ));
        self.store.commit(&writes, &record)?;
        tracing::info!(key = %key.prefix, tenant = %key.tenant, "key created");
        Ok(CreateKeyResponse {
            key: Some(key),
            secret,
        })
    }

    pub(crate) fn get_key(&self, id: &str) -> Result<StoredKey, AuthError> {
        self.store
            .get(id)?
            .filter(|s| s.key.is_some())
            .ok_or_else(|| AuthError::KeyNotFound(id.to_string()))
    }

    pub(crate) fn revoke_key(&self, call: &AdminCall, id: &str) -> Result<Key, AuthError> {
        let mut stored = self.get_key(id)?;
        let mut key = stored.key.take().unwrap_or_default();
        if key.revoked_at.is_none() {
            key.revoked_at = Some(now());
            stored.key = Some(key.clone());
            let record = call.record(
                "KeyAdmin.RevokeKey",
                key_target(id),
                json!({ "key_id": id }),
            );
            self.store
                .commit(&[Write::Key(id.to_string(), stored)], &record)?;
            self.changes.key(id);
            tracing::info!(key = %key.prefix, "key revoked");
        }
        Ok(key)
    }

    pub(crate) fn update_key(
        &self,
        call: &AdminCall,
        req: UpdateKeyRequest,
    ) -> Result<Key, AuthError> {
        let src = req
            .key
            .ok_or_else(|| AuthError::invalid("key", "is required"))?;
        let paths = validate::mask_paths(req.update_mask.as_ref())?;
        let mut stored = self.get_key(&src.id)?;
        let mut key = stored.key.take().unwrap_or_default();
        for path in paths {
            let (head, sub) = match path.split_once('.') {
                Some((h, s)) => (h, Some(s)),
                None => (path.as_str(), None),
            };
            let known = match (head, sub) {
                ("name", None) => {
                    validate::key_name("key.name", &src.name)?;
                    key.name.clone_from(&src.name);
                    true
                }
                ("allowed_models", None) => {
                    key.allowed_models.clone_from(&src.allowed_models);
                    true
                }
                ("expires_at", None) => {
                    validate::expiry("key.expires_at", src.expires_at.as_ref())?;
                    key.expires_at = src.expires_at;
                    true
                }
                ("labels", None) => {
                    key.labels.clone_from(&src.labels);
                    true
                }
                ("limits", sub) => {
                    validate::apply_limits(&mut key.limits, src.limits.as_ref(), sub)
                }
                ("budget", sub) => {
                    validate::apply_budget(&mut key.budget, src.budget.as_ref(), sub)
                }
                _ => false,
            };
            if !known {
                return Err(validate::unknown_path(path, KEY_PATHS));
            }
        }
        validate::models("key.allowed_models", &key.allowed_models)?;
        validate::limits("key.limits", key.limits.as_ref())?;
        validate::budget("key.budget", key.budget.as_ref())?;
        let record = call.record(
            "KeyAdmin.UpdateKey",
            key_target(&key.id),
            update_json(paths, |p| key_field_json(&key, p)),
        );
        stored.key = Some(key.clone());
        self.store
            .commit(&[Write::Key(key.id.clone(), stored)], &record)?;
        self.changes.key(&key.id);
        tracing::info!(key = %key.prefix, "key updated");
        Ok(key)
    }

    /// Issues a replacement for a key. The old key keeps working until the overlap
    /// ends so clients can move over without an outage.
    pub(crate) fn rotate_key(
        &self,
        call: &AdminCall,
        req: RotateKeyRequest,
    ) -> Result<CreateKeyResponse, AuthError> {
        let overlap = validate::overlap(req.overlap_seconds)?;
        let mut stored = self.get_key(&req.key_id)?;
        let mut old = stored.key.take().unwrap_or_default();
        if old.revoked_at.is_some() {
            return Err(AuthError::invalid("key_id", "the key is revoked"));
        }
        if !old.replaced_by.is_empty() {
            return Err(AuthError::invalid(
                "key_id",
                format!(
                    "the key was already rotated (replaced by `{}`)",
                    old.replaced_by
                ),
            ));
        }
        let (id, secret) = generate();
        let new = Key {
            id: id.clone(),
            tenant: old.tenant.clone(),
            name: old.name.clone(),
            prefix: display_prefix(&id),
            allowed_models: old.allowed_models.clone(),
            created_at: Some(now()),
            // A rotation renews the credential, not its lifetime.
            expires_at: old.expires_at,
            labels: old.labels.clone(),
            limits: old.limits,
            budget: old.budget,
            ..Default::default()
        };
        // `overlap` is at most 30 days, so this cannot overflow.
        let ends = SystemTime::now() + overlap;
        old.replaced_by.clone_from(&id);
        old.overlap_ends_at = Some(prost_types::Timestamp::from(ends));
        let record = call.record(
            "KeyAdmin.RotateKey",
            key_target(&old.id),
            json!({
                "key_id": old.id,
                "new_key_id": id,
                "overlap_seconds": overlap.as_secs(),
            }),
        );
        stored.key = Some(old.clone());
        self.store.commit(
            &[
                Write::Key(old.id.clone(), stored),
                Write::Key(
                    id,
                    StoredKey {
                        key: Some(new.clone()),
                        hash: hash(&secret),
                    },
                ),
            ],
            &record,
        )?;
        self.changes.key(&old.id);
        tracing::info!(old = %old.prefix, new = %new.prefix, "key rotated");
        Ok(CreateKeyResponse {
            key: Some(new),
            secret,
        })
    }
}

#[tonic::async_trait]
impl KeyAdmin for AuthService {
    async fn create_key(
        &self,
        request: Request<CreateKeyRequest>,
    ) -> Result<Response<CreateKeyResponse>, Status> {
        let call = self.admit(&request)?;
        Ok(Response::new(AuthService::create_key(
            self,
            &call,
            request.into_inner(),
        )?))
    }

    async fn list_keys(
        &self,
        request: Request<ListKeysRequest>,
    ) -> Result<Response<ListKeysResponse>, Status> {
        self.check_admin(request.metadata())?;
        let tenant = request.into_inner().tenant;
        let keys = self
            .store
            .list()?
            .into_iter()
            .filter_map(|s| s.key)
            .filter(|k| tenant.is_empty() || k.tenant == tenant)
            .collect();
        Ok(Response::new(ListKeysResponse { keys }))
    }

    async fn get_key(&self, request: Request<GetKeyRequest>) -> Result<Response<Key>, Status> {
        self.check_admin(request.metadata())?;
        let stored = AuthService::get_key(self, &request.into_inner().key_id)?;
        Ok(Response::new(stored.key.unwrap_or_default()))
    }

    async fn revoke_key(
        &self,
        request: Request<RevokeKeyRequest>,
    ) -> Result<Response<Key>, Status> {
        let call = self.admit(&request)?;
        let id = request.into_inner().key_id;
        Ok(Response::new(AuthService::revoke_key(self, &call, &id)?))
    }

    async fn update_key(
        &self,
        request: Request<UpdateKeyRequest>,
    ) -> Result<Response<Key>, Status> {
        let call = self.admit(&request)?;
        Ok(Response::new(AuthService::update_key(
            self,
            &call,
            request.into_inner(),
        )?))
    }

    async fn rotate_key(
        &self,
        request: Request<RotateKeyRequest>,
    ) -> Result<Response<CreateKeyResponse>, Status> {
        let call = self.admit(&request)?;
        Ok(Response::new(AuthService::rotate_key(
            self,
            &call,
            request.into_inner(),
        )?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::SledKeyStore;
    use switchyard_config::Secret;

    pub(crate) fn service(dir: &tempfile::TempDir) -> AuthService {
        let store = SledKeyStore::open(dir.path().to_str().unwrap()).unwrap();
        AuthService::with_store(Arc::new(store), Some(Secret::new("admin")))
    }

    pub(crate) fn call() -> AdminCall {
        AdminCall {
            actor: "admin:test".into(),
            request_id: "req-test".into(),
        }
    }

    pub(crate) fn admin<T>(msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        r.metadata_mut()
            .insert("authorization", "Bearer admin".parse().unwrap());
        r
    }

    #[tokio::test]
    async fn create_authenticate_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(&dir);
        let created = KeyAdmin::create_key(
            &svc,
            admin(CreateKeyRequest {
                tenant: "acme".into(),
                allowed_models: vec!["chat-*".into()],
                create_tenant: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_inner();
        let key = created.key.unwrap();
        let p = svc.authenticate(&created.secret, "chat-fast").unwrap();
        assert_eq!(p.tenant, "acme");
        assert_eq!(p.key_id, key.id);
        assert!(matches!(
            svc.authenticate(&created.secret, "embed"),
            Err(AuthError::ModelNotAllowed { .. })
        ));
        // One character off: same id, different hash.
        let mut wrong = created.secret.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == 'a' { 'b' } else { 'a' });
        assert!(matches!(
            svc.authenticate(&wrong, ""),
            Err(AuthError::InvalidKey)
        ));
        KeyAdmin::revoke_key(
            &svc,
            admin(RevokeKeyRequest {
                key_id: key.id.clone(),
            }),
        )
        .await
        .unwrap();
        assert!(matches!(
            svc.authenticate(&created.secret, ""),
            Err(AuthError::Revoked(_))
        ));
        // The secret is not stored anywhere in the record.
        let stored = svc.store.get(&key.id).unwrap().unwrap();
        assert!(!format!("{stored:?}").contains(&created.secret));
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let secret = {
            let svc = service(&dir);
            let r = svc
                .create_key(
                    &call(),
                    CreateKeyRequest {
                        tenant: "t".into(),
                        create_tenant: true,
                        ..Default::default()
                    },
                )
                .unwrap();
            svc.flush().await.unwrap();
            r.secret
        };
        let svc = service(&dir);
        assert_eq!(svc.authenticate(&secret, "any").unwrap().tenant, "t");
    }

    #[tokio::test]
    async fn admin_token_required() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(&dir);
        let err = KeyAdmin::list_keys(&svc, Request::new(ListKeysRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated);
        let mut bad = Request::new(ListKeysRequest::default());
        bad.metadata_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        assert!(KeyAdmin::list_keys(&svc, bad).await.is_err());
        assert!(
            KeyAdmin::list_keys(&svc, admin(ListKeysRequest::default()))
                .await
                .is_ok()
        );
        let err = KeyAdmin::create_key(&svc, admin(CreateKeyRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    #[tokio::test]
    async fn expired_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let svc = service(&dir);
        let r = svc
            .create_key(
                &call(),
                CreateKeyRequest {
                    tenant: "t".into(),
                    create_tenant: true,
                    expires_at: Some(prost_types::Timestamp::from(
                        SystemTime::now() + std::time::Duration::from_secs(3600),
                    )),
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(svc.authenticate(&r.secret, "").is_ok());
        // Move the stored expiry into the past.
        let id = r.key.unwrap().id;
        let mut stored = svc.store.get(&id).unwrap().unwrap();
        stored.key.as_mut().unwrap().expires_at =
            Some(prost_types::Timestamp::from(SystemTime::UNIX_EPOCH));
        svc.store.put(&id, &stored).unwrap();
        assert!(matches!(
            svc.authenticate(&r.secret, ""),
            Err(AuthError::Expired(_))
        ));
    }
}
