//! Server-sent events: [`translated`], the one driver of every streamed answer,
//! which turns each Gateway chunk into the events of the caller's API through a
//! [`Translate`]; and OpenAI's chat stream (framing, the usage chunk, `[DONE]`, and
//! errors that arrive after the headers are gone). The Anthropic Messages and
//! OpenAI Responses streams are their own `Translate`s, writing named events with
//! [`push_named`].
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

/// The event that ends an OpenAI stream.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

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
    /// The last event has been written.
    Finished,
}

/// OpenAI's chat stream: one `data:` event per chunk the caller should see, then
/// `[DONE]`.
pub struct ChatEvents {
    include_usage: bool,
}

impl ChatEvents {
    /// The chat stream; its last chunk carries usage if `include_usage`.
    pub fn new(include_usage: bool) -> Self {
        Self { include_usage }
    }
}

impl Translate for ChatEvents {
    fn chunk(&mut self, buf: &mut Vec<u8>, c: &ChatChunk) -> serde_json::Result<()> {
        if let Some(view) = chunk(c, self.include_usage) {
            push_data(buf, &view)?;
        }
        Ok(())
    }

    fn finish(&mut self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        buf.extend_from_slice(DONE);
        Ok(())
    }

    fn fail(&mut self, error: &ApiError) -> Bytes {
        error_event(error)
    }
}

/// Appends one unnamed event: its JSON as `data:`.
pub fn push_data<T: serde::Serialize>(buf: &mut Vec<u8>, event: &T) -> serde_json::Result<()> {
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut *buf, event)?;
    buf.extend_from_slice(b"\n\n");
    Ok(())
}

/// Appends one named event: `event: <name>`, then its JSON as `data:`.
pub fn push_named<T: serde::Serialize>(
    buf: &mut Vec<u8>,
    name: &str,
    event: &T,
) -> serde_json::Result<()> {
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'\n');
    push_data(buf, event)
}

/// A translation of Gateway chunks into SSE events, driven by [`translated`]: it
/// keeps what its format needs across chunks and writes each chunk's events into
/// one buffer.
pub trait Translate: Send + 'static {
    /// Appends the events for one chunk (none is fine).
    fn chunk(&mut self, buf: &mut Vec<u8>, chunk: &ChatChunk) -> serde_json::Result<()>;
    /// Appends the events that end a stream the router finished.
    fn finish(&mut self, buf: &mut Vec<u8>) -> serde_json::Result<()>;
    /// The events that end a stream which failed after the headers.
    fn fail(&mut self, error: &ApiError) -> Bytes;
    /// Work to finish after [`Translate::finish`] and before its events go out:
    /// the Responses API stores its answer here, so a client that has read the
    /// stream to its end can continue from it at once.
    fn before_end(&mut self) -> Option<futures::future::BoxFuture<'static, ()>> {
        None
    }
}

struct Translated<T> {
    grpc: Replies<ChatChunk>,
    next: Next,
    translate: T,
    span: tracing::Span,
}

/// The SSE body of a stream whose first message was `first`. Chunks
/// are translated as they arrive (nothing buffered); dropping the body drops the
/// gRPC stream, so the router sees the cancel.
pub fn translated<T: Translate>(
    first: Option<ChatChunk>,
    grpc: Replies<ChatChunk>,
    translate: T,
    span: tracing::Span,
) -> Body {
    let state = Translated {
        grpc,
        next: Next::First(first),
        translate,
        span,
    };
    Body::from_stream(translated_events(state))
}

fn translated_events<T: Translate>(
    state: Translated<T>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    futures::stream::unfold(state, |mut st| async move {
        loop {
            let message = match std::mem::replace(&mut st.next, Next::Reading) {
                Next::Finished => return None,
                Next::First(first) => Ok(first),
                Next::Reading => st.grpc.message().await,
            };
            let mut buf = Vec::with_capacity(512);
            let written = match message {
                Ok(Some(c)) => st.translate.chunk(&mut buf, &c),
                Ok(None) => {
                    st.next = Next::Finished;
                    let written = st.translate.finish(&mut buf);
                    if let Some(work) = st.translate.before_end() {
                        work.await;
                    }
                    written
                }
                Err(status) => {
                    st.next = Next::Finished;
                    let error = ApiError::from_status(&status);
                    st.span.in_scope(|| {
                        tracing::warn!(code = ?error.code, message = %error.message, "stream failed after headers")
                    });
                    return Some((Ok(st.translate.fail(&error)), st));
                }
            };
            if let Err(e) = written {
                st.next = Next::Finished;
                st.span
                    .in_scope(|| tracing::error!(error = %e, "event encoding failed"));
                return Some((Ok(st.translate.fail(&ApiError::internal())), st));
            }
            if buf.is_empty() {
                continue;
            }
            return Some((Ok(Bytes::from(buf)), st));
        }
    })
}
