//! `Gateway.CountTokens`: a request's input tokens, counted where it would be
//! served.
//!
//! The key is admitted as for a chat call (allowlists included), but nothing is
//! charged against its rate limits or budgets and no usage record is written:
//! counting generates nothing and providers do not bill it. The count comes from
//! the deployments the model would route to, in routing order; a retryable
//! failure moves on to the next one, as a chat attempt would.

use switchyard_config::ModelMode;
use switchyard_error::ApiError;
use switchyard_grpc::{outgoing, request_id};
use switchyard_proto::provider::v1::ProviderChatRequest;
use switchyard_proto::types::v1::{ChatRequest, TokenCount};
use tonic::{Request, Response, Status};

use super::{Router, no_deployment_for_tags};
use crate::models::RouteInput;
use crate::validate::validate_chat;

impl Router {
    /// Admits the caller for the model, then asks its deployments in routing
    /// order until one counts.
    pub(super) async fn count(
        &self,
        request: Request<ChatRequest>,
    ) -> Result<Response<TokenCount>, Status> {
        let id = request_id(&request);
        let (metadata, _, req) = request.into_parts();
        validate_chat(&req)?;
        // Counting takes a place under `router.max_in_flight` like any call.
        let _slot = self.slot()?;
        let table = self.inner.models.load_full();
        let principal = self.admit(&metadata, &id, &req.model).await?;
        let route = RouteInput {
            tags: &req.metadata,
            key: &principal.key_id,
            user: req.user.as_deref().unwrap_or_default(),
            // A count is not held to a context window: saying how far over it a
            // prompt is, is one of the things a count is for.
            need: None,
        };
        let (entry, plan) = self.route(&table, &req.model, route)?;
        entry.serves(ModelMode::Chat)?;
        let mut last = no_deployment_for_tags(&req.model);
        let mut provider = self.inner.provider.clone();
        for deployment in plan {
            let call = ProviderChatRequest {
                provider: deployment.provider.clone(),
                upstream_model: deployment.upstream_model,
                request: Some(req.clone()),
            };
            match provider.count_tokens(outgoing(call, &id)).await {
                Ok(answer) => {
                    let mut count = answer.into_inner();
                    count.provider = deployment.provider;
                    return Ok(Response::new(count));
                }
                Err(status) => {
                    let retryable = ApiError::from_status(&status).retryable;
                    last = status;
                    if !retryable {
                        break;
                    }
                }
            }
        }
        Err(last)
    }
}
