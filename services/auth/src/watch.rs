//! `Auth.WatchChanges`: the change stream routers keep their cached principals
//! fresh with.
//!
//! Every admin change that can make a cached principal stale (a key revoked, updated
//! or rotated; a tenant created, updated, disabled or enabled) is published here
//! after its commit, naming the key id or the tenant. A subscriber first gets
//! `ready` — sent only once its subscription is live, so it never misses a change
//! after that — then every change in order. A subscriber that falls more than
//! [`CAPACITY`] changes behind cannot know what it missed: its stream ends with
//! UNAVAILABLE and the router drops its whole cache and subscribes again. Streams
//! also end (UNAVAILABLE) when the service shuts down, so a long-lived watch never
//! holds up the server's graceful drain.

use std::pin::Pin;

use futures::{Stream, StreamExt, stream};
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::auth::v1::Change;
use switchyard_proto::auth::v1::change::Target;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Changes buffered per subscriber before it counts as lagging. Admin changes are
/// rare, so only a stuck subscriber (or a bulk script far outpacing it) gets there.
pub(crate) const CAPACITY: usize = 1024;

/// What a `WatchChanges` call streams.
pub(crate) type ChangeStream = Pin<Box<dyn Stream<Item = Result<Change, tonic::Status>> + Send>>;

/// The broadcaster every `AuthService` clone shares.
pub(crate) struct Changes {
    sender: broadcast::Sender<Change>,
    closing: CancellationToken,
}

impl Changes {
    /// A broadcaster whose streams end when `closing` is cancelled.
    pub(crate) fn new(closing: CancellationToken) -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { sender, closing }
    }

    /// Publishes that the key `id` changed. Call only after the change is committed,
    /// so a router that refetches sees it.
    pub(crate) fn key(&self, id: &str) {
        self.publish(Target::KeyId(id.to_string()));
    }

    /// Publishes that the tenant `name` changed (after the commit, as [`Self::key`]).
    pub(crate) fn tenant(&self, name: &str) {
        self.publish(Target::Tenant(name.to_string()));
    }

    fn publish(&self, target: Target) {
        // No subscriber is not an error: no router caches anything then.
        let _ = self.sender.send(Change {
            target: Some(target),
        });
    }

    /// A new subscription: `ready` once it is live, then every change published
    /// from now on; ends with UNAVAILABLE on lag or shutdown.
    pub(crate) fn watch(&self) -> ChangeStream {
        // Subscribe before saying `ready`: a change published after the subscriber
        // hears `ready` is always delivered.
        let receiver = self.sender.subscribe();
        let ready = Change {
            target: Some(Target::Ready(true)),
        };
        let changes = stream::unfold(Some((receiver, self.closing.clone())), |state| async move {
            let (mut receiver, closing) = state?;
            let next = tokio::select! {
                biased;
                () = closing.cancelled() => Err(unavailable("auth is shutting down")),
                next = receiver.recv() => match next {
                    Ok(change) => Ok(change),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "change subscriber lagged; ending its stream");
                        Err(unavailable("change stream lagged; subscribe again"))
                    }
                    Err(RecvError::Closed) => Err(unavailable("change stream closed")),
                },
            };
            match next {
                Ok(change) => Some((Ok(change), Some((receiver, closing)))),
                // The error is the last item.
                Err(status) => Some((Err(status), None)),
            }
        });
        stream::once(async { Ok(ready) }).chain(changes).boxed()
    }

    /// Subscribers now listening (tests).
    #[cfg(test)]
    pub(crate) fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

fn unavailable(message: &str) -> tonic::Status {
    ApiError::new(ErrorCode::ServiceUnavailable, message).to_status()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use switchyard_proto::auth::v1::auth_client::AuthClient;
    use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
    use switchyard_proto::auth::v1::tenant_admin_client::TenantAdminClient;
    use switchyard_proto::auth::v1::{
        CreateKeyRequest, CreateTenantRequest, DisableTenantRequest, EnableTenantRequest,
        RevokeKeyRequest, RotateKeyRequest, Tenant, UpdateKeyRequest, UpdateTenantRequest,
        WatchChangesRequest,
    };
    use tonic::Streaming;

    use super::*;
    use crate::admin::tests::admin;
    use crate::{AuthService, SledKeyStore};

    /// Every stream item here arrives without waiting on time; the bound only keeps a
    /// bug from hanging the suite.
    const BOUND: Duration = Duration::from_secs(10);

    fn target(item: Option<Result<Change, tonic::Status>>) -> Target {
        item.expect("stream ended")
            .expect("stream failed")
            .target
            .expect("no target")
    }

    async fn next(stream: &mut Streaming<Change>) -> Result<Option<Change>, tonic::Status> {
        tokio::time::timeout(BOUND, stream.message())
            .await
            .expect("no stream message in time")
    }

    #[tokio::test]
    async fn ready_first_then_changes_in_order() {
        let changes = Changes::new(CancellationToken::new());
        changes.key("before");
        let mut stream = changes.watch();
        // Subscribed at `watch`, before `ready` is read: nothing is lost in between.
        changes.key("k1");
        changes.tenant("acme");
        assert_eq!(target(stream.next().await), Target::Ready(true));
        assert_eq!(target(stream.next().await), Target::KeyId("k1".into()));
        assert_eq!(target(stream.next().await), Target::Tenant("acme".into()));
        drop(stream);
        assert_eq!(changes.subscribers(), 0, "a dropped stream unsubscribes");
    }

    #[tokio::test]
    async fn lagging_subscriber_is_ended_unavailable() {
        let changes = Changes::new(CancellationToken::new());
        let mut stream = changes.watch();
        assert_eq!(target(stream.next().await), Target::Ready(true));
        for i in 0..=CAPACITY {
            changes.key(&format!("k{i}"));
        }
        let err = stream.next().await.expect("an item").unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert!(stream.next().await.is_none(), "the error ends the stream");
    }

    #[tokio::test]
    async fn closing_ends_streams_unavailable() {
        let closing = CancellationToken::new();
        let changes = Changes::new(closing.clone());
        let mut stream = changes.watch();
        assert_eq!(target(stream.next().await), Target::Ready(true));
        closing.cancel();
        let err = stream.next().await.expect("an item").unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert!(stream.next().await.is_none());
    }

    /// Every admin change that can make a cached principal stale is published, over
    /// the real generated client and server.
    #[tokio::test]
    async fn admin_changes_are_published_after_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledKeyStore::open(dir.path().to_str().unwrap()).unwrap();
        let svc = AuthService::with_store(
            Arc::new(store),
            Some(switchyard_config::Secret::new("admin")),
        );
        let mut auth = AuthClient::new(switchyard_grpc::in_process(svc.auth_server()));
        let mut keys = KeyAdminClient::new(switchyard_grpc::in_process(svc.admin_server()));
        let mut tenants =
            TenantAdminClient::new(switchyard_grpc::in_process(svc.tenant_admin_server()));
        let mut stream = auth
            .watch_changes(WatchChangesRequest {})
            .await
            .unwrap()
            .into_inner();
        let mut expect = async |want: Target| {
            let got = next(&mut stream).await.unwrap().unwrap().target.unwrap();
            assert_eq!(got, want);
        };
        expect(Target::Ready(true)).await;

        let tenant = |name: &str| Tenant {
            name: name.into(),
            ..Default::default()
        };
        tenants
            .create_tenant(admin(CreateTenantRequest {
                tenant: Some(tenant("acme")),
            }))
            .await
            .unwrap();
        expect(Target::Tenant("acme".into())).await;
        let created = keys
            .create_key(admin(CreateKeyRequest {
                tenant: "acme".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        let id = created.key.unwrap().id;
        // Creating a key changes no principal that could be cached: nothing is sent;
        // the next message proves it.
        let mask = |p: &str| {
            Some(prost_types::FieldMask {
                paths: vec![p.into()],
            })
        };
        keys.update_key(admin(UpdateKeyRequest {
            key: Some(switchyard_proto::auth::v1::Key {
                id: id.clone(),
                allowed_models: vec!["chat-*".into()],
                ..Default::default()
            }),
            update_mask: mask("allowed_models"),
        }))
        .await
        .unwrap();
        expect(Target::KeyId(id.clone())).await;
        let rotated = keys
            .rotate_key(admin(RotateKeyRequest {
                key_id: id.clone(),
                overlap_seconds: Some(0),
            }))
            .await
            .unwrap()
            .into_inner();
        expect(Target::KeyId(id.clone())).await;
        let new_id = rotated.key.unwrap().id;
        keys.revoke_key(admin(RevokeKeyRequest {
            key_id: new_id.clone(),
        }))
        .await
        .unwrap();
        expect(Target::KeyId(new_id)).await;
        tenants
            .update_tenant(admin(UpdateTenantRequest {
                tenant: Some(tenant("acme")),
                update_mask: mask("labels"),
            }))
            .await
            .unwrap();
        expect(Target::Tenant("acme".into())).await;
        tenants
            .disable_tenant(admin(DisableTenantRequest {
                name: "acme".into(),
            }))
            .await
            .unwrap();
        expect(Target::Tenant("acme".into())).await;
        tenants
            .enable_tenant(admin(EnableTenantRequest {
                name: "acme".into(),
            }))
            .await
            .unwrap();
        expect(Target::Tenant("acme".into())).await;
        // A refused change publishes nothing: revoking an unknown key fails, and the
        // next change is the only message.
        assert!(
            keys.revoke_key(admin(RevokeKeyRequest {
                key_id: "nope".into()
            }))
            .await
            .is_err()
        );
        svc.changes.key("marker");
        expect(Target::KeyId("marker".into())).await;
    }

    /// A live watch must not hold up graceful shutdown: `serve` returns and the
    /// stream ends UNAVAILABLE, over a real socket.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serve_shuts_down_with_a_watch_open() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("auth");
        let config = switchyard_config::load_str(&format!(
            "version = 1\n[auth]\ndata_dir = \"{}\"\n",
            data.display()
        ))
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let served = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { crate::serve(listener, &config, shutdown).await }
        });
        let channel = switchyard_grpc::connect_lazy("test", &format!("http://{addr}")).unwrap();
        let mut stream = AuthClient::new(channel)
            .watch_changes(WatchChangesRequest {})
            .await
            .unwrap()
            .into_inner();
        let first = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(first.target, Some(Target::Ready(true)));
        shutdown.cancel();
        let err = next(&mut stream).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        tokio::time::timeout(BOUND, served)
            .await
            .expect("serve did not return with a watch open")
            .unwrap()
            .unwrap();
    }
}
