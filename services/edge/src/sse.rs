//! Server-sent events for streamed chat: framing, the usage chunk, `[DONE]`, and
//! errors that arrive after the headers are gone.
//!
//! The stream is produced chunk by chunk from the gRPC stream (nothing buffered); when
//! the HTTP client goes away the body is dropped and with it the gRPC stream, so the
//! router sees the cancel.

use std::convert::Infallible;

use axum::body::Body;
use bytes::Bytes;
use futures::Stream;
use switchyard_error::ApiError;
use switchyard_grpc::Replies;
use switchyard_proto::types::v1::ChatChunk;

use crate::convert::completion::chunk;
use crate::error::ErrorBody;

const DONE: &[u8] = b"data: [DONE]\n\n";

/// One `data: <json>\n\n` event.
fn event(json: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) -> serde_json::Result<Bytes> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    json(&mut buf)?;
    buf.extend_from_slice(b"\n\n");
    Ok(Bytes::from(buf))
}

/// The error event that ends a stream which already answered 200. The SDK raises on
/// it; closing without `[DONE]` keeps a cut stream from looking complete.
pub fn error_event(error: &ApiError) -> Bytes {
    let body = ErrorBody::new(error).to_json();
    let mut buf = Vec::with_capacity(body.len() + 8);
    buf.extend_from_slice(b"data: ");
    buf.extend_from_slice(&body);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// Where the event stream is.
enum Next {
    /// The first message, already awaited before the headers were sent.
    First(Option<ChatChunk>),
    /// Reading the gRPC stream.
    Reading,
    /// `[DONE]` or an error event has been written.
    Finished,
}

struct State {
    grpc: Replies<ChatChunk>,
    next: Next,
    include_usage: bool,
    span: tracing::Span,
}

/// The SSE body for a chat stream whose first message was `first`.
pub fn body(
    first: Option<ChatChunk>,
    grpc: Replies<ChatChunk>,
    include_usage: bool,
    span: tracing::Span,
) -> Body {
    let state = State {
        grpc,
        next: Next::First(first),
        include_usage,
        span,
    };
    Body::from_stream(events(state))
}

fn events(state: State) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    futures::stream::unfold(state, |mut st| async move {
        loop {
            let message = match std::mem::replace(&mut st.next, Next::Reading) {
                Next::Finished => return None,
                Next::First(first) => Ok(first),
                Next::Reading => st.grpc.message().await,
            };
            let bytes = match message {
                Ok(Some(c)) => match chunk(&c, st.include_usage) {
                    None => continue,
                    Some(view) => match event(|buf| serde_json::to_writer(buf, &view)) {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            st.next = Next::Finished;
                            st.span
                                .in_scope(|| tracing::error!(error = %e, "chunk encoding failed"));
                            error_event(&ApiError::internal())
                        }
                    },
                },
                Ok(None) => {
                    st.next = Next::Finished;
                    Bytes::from_static(DONE)
                }
                Err(status) => {
                    st.next = Next::Finished;
                    let error = ApiError::from_status(&status);
                    st.span.in_scope(|| {
                        tracing::warn!(code = ?error.code, message = %error.message, "stream failed after headers")
                    });
                    error_event(&error)
                }
            };
            return Some((Ok(bytes), st));
        }
    })
}
