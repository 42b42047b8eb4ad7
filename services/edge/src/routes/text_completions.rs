//! `POST /v1/completions`: OpenAI's legacy text completions, unary and streamed,
//! over the same Chat / ChatStream calls as chat (the prompt travels as
//! `text_prompt`).

use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use switchyard_error::ApiError;
use switchyard_proto::types::v1::{ChatChunk, ChatRequest};

use super::{AppState, answer, encode};
use crate::body::read_json;
use crate::context::Caller;
use crate::convert::text_completion::{self as convert, Offsets};
use crate::error::HttpError;
use crate::sse::{self, Translate};
use crate::wire::text_completion::CompletionRequest;

/// Translates the request, calls Chat or ChatStream, and answers in OpenAI's
/// `text_completion` shape.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, HttpError> {
    let (parts, body) = request.into_parts();
    let wire: CompletionRequest = read_json(&parts.headers, body, state.max_body_bytes).await?;
    let stream = wire.stream.unwrap_or(false);
    let mut message = ChatRequest::try_from(wire)?;
    message.timeouts = crate::context::timeouts(&parts.headers)?;
    caller.add_tags(&mut message.metadata);
    let answered = if stream {
        let events = TextEvents {
            include_usage: message.include_usage,
            offsets: Offsets::default(),
        };
        answer::streamed(state.gateway, &caller, message, events).await
    } else {
        answer::unary(state.gateway, &caller, message, |r| {
            encode(&convert::answer(r))
        })
        .await
    };
    // A provider without a completions API refuses the Gateway's `text_prompt`.
    answered.map_err(|e| e.param_renamed("text_prompt", "prompt"))
}

/// The legacy stream: one `data:` event per chunk with something for the caller,
/// then `[DONE]`, as the chat stream.
struct TextEvents {
    include_usage: bool,
    offsets: Offsets,
}

impl Translate for TextEvents {
    fn chunk(&mut self, buf: &mut Vec<u8>, c: &ChatChunk) -> serde_json::Result<()> {
        if let Some(view) = convert::chunk(c, self.include_usage, &mut self.offsets) {
            sse::push_data(buf, &view)?;
        }
        Ok(())
    }

    fn finish(&mut self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        buf.extend_from_slice(sse::DONE);
        Ok(())
    }

    fn fail(&mut self, error: &ApiError) -> Bytes {
        sse::error_event(error)
    }
}
