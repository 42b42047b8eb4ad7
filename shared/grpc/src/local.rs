//! Calls served in the same process without the transport.
//!
//! In the all-in-one shape the edge calls the router and the router calls the
//! provider adapter on every request. Through [`in_process`](crate::in_process)
//! each of those calls still encodes its message, frames it in an HTTP body and
//! decodes it again, twice per hop. A handle ([`GatewayHandle`](crate::GatewayHandle),
//! [`ProviderHandle`](crate::ProviderHandle)) made `local` hands the message to the
//! server's trait implementation instead, through [`call`], which gives the server
//! what [`ContextLayer`](crate::context::ContextLayer) would: the caller's request id
//! accepted (or a new one), a [`RequestId`] in the extensions, and the call inside a
//! `grpc` span. Metadata, extensions, statuses and cancellation (dropping the call)
//! pass unchanged, as they do over a channel.

use std::future::Future;

use tonic::{Request, Status};
use tracing::Instrument;

use crate::context::{REQUEST_ID_HEADER, RequestId, accept_id};

/// Serves `request` with `serve` (a server's trait method) as the named gRPC
/// `method`; see the module docs.
pub(crate) async fn call<T, R, F, Fut>(
    method: &'static str,
    mut request: Request<T>,
    serve: F,
) -> Result<R, Status>
where
    F: FnOnce(Request<T>) -> Fut,
    Fut: Future<Output = Result<R, Status>>,
{
    let id = accept_id(
        request
            .metadata()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    if let Ok(value) = id.parse() {
        request.metadata_mut().insert(REQUEST_ID_HEADER, value);
    }
    let span = tracing::info_span!("grpc", method, request_id = %id);
    request.extensions_mut().insert(RequestId(id));
    serve(request).instrument(span).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::request_id;

    #[tokio::test]
    async fn the_server_sees_the_callers_id_in_extensions_and_metadata() {
        let request = crate::outgoing((), "caller-id-1");
        let seen = call("/t.T/M", request, |r| async move {
            let extension = r.extensions().get::<RequestId>().cloned();
            Ok((request_id(&r), extension))
        })
        .await;
        let (id, extension) = seen.unwrap_or_default();
        assert_eq!(id, "caller-id-1");
        assert_eq!(extension, Some(RequestId("caller-id-1".into())));
    }

    #[tokio::test]
    async fn an_unacceptable_id_is_replaced_as_over_the_network() {
        let mut request = Request::new(());
        if let Ok(bad) = "has space".parse() {
            request.metadata_mut().insert(REQUEST_ID_HEADER, bad);
        }
        let seen = call("/t.T/M", request, |r| async move {
            let header = r
                .metadata()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            Ok((request_id(&r), header))
        })
        .await;
        let (id, header) = seen.unwrap_or_default();
        assert_ne!(id, "has space");
        assert_eq!(header.as_deref(), Some(id.as_str()));
    }

    #[tokio::test]
    async fn a_status_passes_unchanged() {
        let result: Result<(), Status> = call("/t.T/M", Request::new(()), |_| async {
            Err(Status::resource_exhausted("budget"))
        })
        .await;
        let status = result.err();
        assert_eq!(
            status.as_ref().map(|s| (s.code(), s.message())),
            Some((tonic::Code::ResourceExhausted, "budget"))
        );
    }
}
