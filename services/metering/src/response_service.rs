//! The `ResponseStore` gRPC service: stored Responses API answers, each owned by
//! the tenant of the key that stored it.

use prost_types::Timestamp;
use switchyard_proto::metering::v1::response_store_server::ResponseStore;
use switchyard_proto::metering::v1::{
    DeleteResponseRequest, DeleteResponseResponse, GetResponseRequest, PutResponseRequest,
    PutResponseResponse, StoredResponse,
};
use tonic::{Request, Response, Status};

use crate::access::Caller;
use crate::service::blocking;
use crate::{MeteringError, MeteringService};

/// The longest response id accepted (`resp_` and a request id of up to 128).
const MAX_ID: usize = 160;

fn check_id(id: &str) -> Result<(), MeteringError> {
    if id.is_empty() || id.len() > MAX_ID {
        return Err(MeteringError::invalid(
            "id",
            format!("must be 1 to {MAX_ID} bytes"),
        ));
    }
    Ok(())
}

impl MeteringService {
    /// The response `id`, if `caller` may see it; another tenant's is "not found".
    async fn visible(&self, caller: &Caller, id: String) -> Result<StoredResponse, MeteringError> {
        check_id(&id)?;
        let store = self.responses.clone();
        let lookup = id.clone();
        blocking(move || store.get(&lookup))
            .await?
            .filter(|stored| caller.owns(&stored.tenant))
            .ok_or(MeteringError::ResponseNotFound(id))
    }
}

#[tonic::async_trait]
impl ResponseStore for MeteringService {
    async fn put_response(
        &self,
        request: Request<PutResponseRequest>,
    ) -> Result<Response<PutResponseResponse>, Status> {
        let Caller::Tenant(tenant) = self.caller(&request).await? else {
            return Err(MeteringError::PermissionDenied(
                "storing a response needs a virtual key: its tenant owns the response".into(),
            )
            .into());
        };
        let mut stored = request
            .into_inner()
            .response
            .ok_or_else(|| MeteringError::invalid("response", "is required"))?;
        check_id(&stored.id)?;
        stored.tenant = tenant;
        // Retention counts from metering's own clock.
        stored.created = Some(Timestamp::from(std::time::SystemTime::now()));
        let store = self.responses.clone();
        blocking(move || store.put(&stored)).await?;
        Ok(Response::new(PutResponseResponse {}))
    }

    async fn get_response(
        &self,
        request: Request<GetResponseRequest>,
    ) -> Result<Response<StoredResponse>, Status> {
        let caller = self.caller(&request).await?;
        let stored = self.visible(&caller, request.into_inner().id).await?;
        Ok(Response::new(stored))
    }

    async fn delete_response(
        &self,
        request: Request<DeleteResponseRequest>,
    ) -> Result<Response<DeleteResponseResponse>, Status> {
        let caller = self.caller(&request).await?;
        let id = request.into_inner().id;
        self.visible(&caller, id.clone()).await?;
        let store = self.responses.clone();
        let lookup = id.clone();
        if !blocking(move || store.delete(&lookup)).await? {
            return Err(MeteringError::ResponseNotFound(id).into());
        }
        Ok(Response::new(DeleteResponseResponse {}))
    }
}
