//! The `KeyAdmin` gRPC service: create, list, get, revoke keys.

use std::time::SystemTime;

use switchyard_proto::auth::v1::key_admin_server::KeyAdmin;
use switchyard_proto::auth::v1::{
    CreateKeyRequest, CreateKeyResponse, GetKeyRequest, Key, ListKeysRequest, ListKeysResponse,
    RevokeKeyRequest,
};
use tonic::{Request, Response, Status};

use crate::key::{display_prefix, generate, hash};
use crate::{AuthError, AuthService, StoredKey};

fn now() -> prost_types::Timestamp {
    prost_types::Timestamp::from(SystemTime::now())
}

fn valid_name(param: &str, value: &str) -> Result<(), AuthError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::invalid(
            param,
            "must be 1-64 characters of letters, digits, '-', '_' or '.'",
        ))
    }
}

impl AuthService {
    fn check_admin(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), AuthError> {
        if self.admin.accepts(metadata) {
            Ok(())
        } else {
            Err(AuthError::AdminUnauthenticated)
        }
    }

    fn create_key(&self, req: CreateKeyRequest) -> Result<CreateKeyResponse, AuthError> {
        valid_name("tenant", &req.tenant)?;
        if !req.name.is_empty() && req.name.len() > 128 {
            return Err(AuthError::invalid("name", "at most 128 characters"));
        }
        if req
            .allowed_models
            .iter()
            .any(|m| m.is_empty() || m.len() > 256)
        {
            return Err(AuthError::invalid(
                "allowed_models",
                "entries must be 1-256 characters",
            ));
        }
        if let Some(expires) = &req.expires_at
            && SystemTime::try_from(*expires).map_or(true, |e| e <= SystemTime::now())
        {
            return Err(AuthError::invalid("expires_at", "must be in the future"));
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
            revoked_at: None,
            labels: req.labels,
        };
        self.store.put(
            &id,
            &StoredKey {
                key: Some(key.clone()),
                hash: hash(&secret),
            },
        )?;
        tracing::info!(key = %key.prefix, tenant = %key.tenant, "key created");
        Ok(CreateKeyResponse {
            key: Some(key),
            secret,
        })
    }

    fn get_key(&self, id: &str) -> Result<StoredKey, AuthError> {
        self.store
            .get(id)?
            .filter(|s| s.key.is_some())
            .ok_or_else(|| AuthError::KeyNotFound(id.to_string()))
    }
}

#[tonic::async_trait]
impl KeyAdmin for AuthService {
    async fn create_key(
        &self,
        request: Request<CreateKeyRequest>,
    ) -> Result<Response<CreateKeyResponse>, Status> {
        self.check_admin(request.metadata())?;
        Ok(Response::new(AuthService::create_key(
            self,
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
        self.check_admin(request.metadata())?;
        let id = request.into_inner().key_id;
        let mut stored = AuthService::get_key(self, &id)?;
        let mut key = stored.key.take().unwrap_or_default();
        if key.revoked_at.is_none() {
            key.revoked_at = Some(now());
            stored.key = Some(key.clone());
            self.store.put(&id, &stored)?;
            tracing::info!(key = %key.prefix, "key revoked");
        }
        Ok(Response::new(key))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::SledKeyStore;
    use switchyard_config::Secret;

    fn service(dir: &tempfile::TempDir) -> AuthService {
        let store = SledKeyStore::open(dir.path().to_str().unwrap()).unwrap();
        AuthService::with_store(Arc::new(store), Some(Secret::new("admin")))
    }

    fn admin<T>(msg: T) -> Request<T> {
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
                .create_key(CreateKeyRequest {
                    tenant: "t".into(),
                    ..Default::default()
                })
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
            .create_key(CreateKeyRequest {
                tenant: "t".into(),
                expires_at: Some(prost_types::Timestamp::from(
                    SystemTime::now() + std::time::Duration::from_secs(3600),
                )),
                ..Default::default()
            })
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
