//! An in-memory fake of metering's `ResponseStore`: responses kept by id, owned by
//! the bearer token that stored them (standing for its tenant); `Bearer sk-bad` is
//! refused as an unknown key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchyard_proto::metering::v1::response_store_server::{ResponseStore, ResponseStoreServer};
use switchyard_proto::metering::v1::{
    DeleteResponseRequest, DeleteResponseResponse, GetResponseRequest, PutResponseRequest,
    PutResponseResponse, StoredResponse,
};
use tonic::{Request, Response, Status};

/// The fake; clones share the store.
#[derive(Clone, Default)]
pub struct FakeResponses {
    stored: Arc<Mutex<HashMap<String, StoredResponse>>>,
}

impl FakeResponses {
    pub fn server(&self) -> ResponseStoreServer<Self> {
        ResponseStoreServer::new(self.clone())
    }
    /// The response stored under `id`.
    pub fn get(&self, id: &str) -> Option<StoredResponse> {
        self.stored.lock().unwrap().get(id).cloned()
    }
}

fn tenant<T>(request: &Request<T>) -> Result<String, Status> {
    match request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        Some("Bearer sk-bad") | None => Err(Status::unauthenticated("invalid API key")),
        Some(token) => Ok(token.to_string()),
    }
}

fn not_found(id: &str) -> Status {
    Status::not_found(format!("Response with id '{id}' not found."))
}

#[tonic::async_trait]
impl ResponseStore for FakeResponses {
    async fn put_response(
        &self,
        request: Request<PutResponseRequest>,
    ) -> Result<Response<PutResponseResponse>, Status> {
        let tenant = tenant(&request)?;
        let mut stored = request.into_inner().response.unwrap();
        stored.tenant = tenant;
        self.stored
            .lock()
            .unwrap()
            .insert(stored.id.clone(), stored);
        Ok(Response::new(PutResponseResponse {}))
    }

    async fn get_response(
        &self,
        request: Request<GetResponseRequest>,
    ) -> Result<Response<StoredResponse>, Status> {
        let tenant = tenant(&request)?;
        let id = request.into_inner().id;
        self.get(&id)
            .filter(|s| s.tenant == tenant)
            .map(Response::new)
            .ok_or_else(|| not_found(&id))
    }

    async fn delete_response(
        &self,
        request: Request<DeleteResponseRequest>,
    ) -> Result<Response<DeleteResponseResponse>, Status> {
        let tenant = tenant(&request)?;
        let id = request.into_inner().id;
        let mut stored = self.stored.lock().unwrap();
        match stored.get(&id) {
            Some(s) if s.tenant == tenant => {
                stored.remove(&id);
                Ok(Response::new(DeleteResponseResponse {}))
            }
            _ => Err(not_found(&id)),
        }
    }
}
