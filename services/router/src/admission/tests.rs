use std::sync::atomic::{AtomicUsize, Ordering};

use switchyard_grpc::in_process;
use switchyard_proto::auth::v1::quota_server::{Quota, QuotaServer};
use switchyard_proto::auth::v1::{
    AcquireRequest, AcquireResponse, Principal, ReportRequest, ReportResponse,
};
use tokio::sync::{Notify, Semaphore};
use tonic::{Request, Response, Status};

use super::*;

/// A quota shard that holds each `Acquire` until the test releases it, then
/// grants all that was asked (need and extra).
struct Held {
    asks: AtomicUsize,
    arrived: Notify,
    release: Semaphore,
}

struct Shard(Arc<Held>);

#[tonic::async_trait]
impl Quota for Shard {
    async fn acquire(
        &self,
        request: Request<AcquireRequest>,
    ) -> Result<Response<AcquireResponse>, Status> {
        self.0.asks.fetch_add(1, Ordering::SeqCst);
        self.0.arrived.notify_one();
        self.0.release.acquire().await.unwrap().forget();
        let ask = request.into_inner();
        let (need, extra) = (ask.need.unwrap(), ask.extra.unwrap());
        Ok(Response::new(AcquireResponse {
            granted: Some(Amounts {
                requests: need.requests + extra.requests,
                tokens: need.tokens + extra.tokens,
                micros: need.micros + extra.micros,
                slots: need.slots + extra.slots,
            }),
            lease_ms: 60_000,
            ..Default::default()
        }))
    }

    async fn report(&self, _: Request<ReportRequest>) -> Result<Response<ReportResponse>, Status> {
        Ok(Response::new(ReportResponse::default()))
    }
}

fn principal() -> Principal {
    Principal {
        key_id: "k1".into(),
        tenant: "t1".into(),
        key_limits: Some(Limits {
            requests_per_minute: Some(100),
            ..Default::default()
        }),
        ..Default::default()
    }
}

const ESTIMATE: Estimate = Estimate {
    tokens: 10,
    micros: 0,
};

#[tokio::test]
async fn a_grant_whose_request_left_is_booked_for_the_next_request() {
    let held = Arc::new(Held {
        asks: AtomicUsize::new(0),
        arrived: Notify::new(),
        release: Semaphore::new(0),
    });
    let admission = Admission::new(
        "router-1".into(),
        vec![(
            "shard".into(),
            in_process(QuotaServer::new(Shard(held.clone()))),
        )],
    );
    let first = tokio::spawn({
        let admission = admission.clone();
        async move { admission.admit(&principal(), ESTIMATE, "r-1").await }
    });
    held.arrived.notified().await;
    // The caller leaves while the shard is granting: the shard has charged the
    // grant, so the router must still book it.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    held.release.add_permits(1);
    // The next request waits its turn behind that ask and takes from its grant,
    // without asking the shard again.
    held.release.add_permits(8);
    let ticket = admission
        .admit(&principal(), ESTIMATE, "r-2")
        .await
        .unwrap();
    assert_eq!(held.asks.load(Ordering::SeqCst), 1);
    drop(ticket);
}
