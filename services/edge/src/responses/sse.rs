//! The Responses API's event stream: `event: <type>` + `data: <json>`, each with a
//! `sequence_number`, in the order response.created, response.in_progress, then per
//! output item output_item.added, (content_part.added, output_text.delta…,
//! output_text.done, content_part.done)… or function_call_arguments.delta…,
//! function_call_arguments.done, or reasoning_text.delta…, reasoning_text.done,
//! and output_item.done; then response.completed
//! (or response.incomplete when cut short by the token limit or a filter). A
//! failure after the headers is a response.failed carrying the error and the
//! output so far.
//!
//! Driven by [`crate::sse::translated`]. The text and arguments are kept as they
//! stream, since the `.done` events and the final response repeat them whole.

use std::borrow::Cow;

use bytes::Bytes;
use switchyard_error::{ApiError, ErrorCode};
use switchyard_proto::types::v1 as pb;

use super::convert::{self, call_ids, message_id, reasoning_id, reasoning_item};
use super::store::Keep;
use super::wire::{self, Event, OutputContent, OutputItem};
use crate::convert::completion::token_logprobs;
use crate::sse::Translate;

/// Appends one named event.
fn push(buf: &mut Vec<u8>, event: &Event<'_>) -> serde_json::Result<()> {
    crate::sse::push_named(buf, event.name(), event)
}

/// What an empty reasoning item shows.
static EMPTY: pb::Reasoning = pb::Reasoning {
    text: String::new(),
    signature: String::new(),
    redacted: false,
};

/// One part of a message item, as streamed so far.
struct Part {
    refusal: bool,
    text: String,
    /// The text's tokens' log probabilities, when asked for.
    logprobs: Vec<pb::TokenLogprob>,
}

impl Part {
    fn view(&self) -> OutputContent<'_> {
        if self.refusal {
            OutputContent::Refusal {
                refusal: Cow::Borrowed(&self.text),
            }
        } else {
            OutputContent::OutputText {
                text: Cow::Borrowed(&self.text),
                annotations: [],
                logprobs: token_logprobs(&self.logprobs),
            }
        }
    }
}

enum Body {
    Reasoning {
        /// The Gateway's index of the reasoning block.
        index: u32,
        block: pb::Reasoning,
    },
    Message(Vec<Part>),
    Call {
        /// The Gateway's index of the tool call.
        index: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// One output item, as streamed so far.
struct Item {
    id: String,
    status: &'static str,
    body: Body,
}

impl Item {
    /// The item; `empty` gives it as `output_item.added` shows it, and
    /// `encrypted` adds a reasoning item's `encrypted_content`.
    fn view(&self, empty: bool, encrypted: bool) -> OutputItem<'_> {
        match &self.body {
            Body::Reasoning { .. } if empty => {
                reasoning_item(Cow::Borrowed(&self.id), self.status, &EMPTY, false)
            }
            Body::Reasoning { block, .. } => {
                reasoning_item(Cow::Borrowed(&self.id), self.status, block, encrypted)
            }
            Body::Message(parts) => OutputItem::Message {
                id: Cow::Borrowed(&self.id),
                status: self.status,
                role: "assistant",
                content: if empty {
                    Vec::new()
                } else {
                    parts.iter().map(Part::view).collect()
                },
            },
            Body::Call {
                call_id,
                name,
                arguments,
                ..
            } => OutputItem::FunctionCall {
                id: Cow::Borrowed(&self.id),
                status: self.status,
                call_id: Cow::Borrowed(call_id),
                name: Cow::Borrowed(name),
                arguments: Cow::Borrowed(if empty { "" } else { arguments }),
            },
        }
    }
}

/// The stream's state between chunks.
pub struct Stream {
    id: String,
    echo: wire::Echo,
    created_at: i64,
    /// The requested model, until a chunk names the one that answered.
    model: String,
    seq: u64,
    started: bool,
    items: Vec<Item>,
    /// Whether the last item is still being written.
    open: bool,
    finish_reason: i32,
    usage: Option<pb::Usage>,
    /// Where the answer is stored, when the caller asked for it.
    keep: Option<Keep>,
    /// The stored answer's `response` and output items, written by `finish`.
    kept: Option<(Vec<u8>, Vec<u8>)>,
}

impl Stream {
    /// A stream for response `id`, echoing `echo`.
    pub fn new(id: String, echo: wire::Echo, model: String, created_at: i64) -> Self {
        Self {
            id,
            echo,
            created_at,
            model,
            seq: 0,
            started: false,
            items: Vec::new(),
            open: false,
            finish_reason: 0,
            usage: None,
            keep: None,
            kept: None,
        }
    }

    /// Stores the finished answer with `keep` (`store: true`).
    pub fn keeping(mut self, keep: Option<Keep>) -> Self {
        self.keep = keep;
        self
    }

    fn emit<'a>(
        buf: &mut Vec<u8>,
        seq: &mut u64,
        event: impl FnOnce(u64) -> Event<'a>,
    ) -> serde_json::Result<()> {
        let n = *seq;
        *seq += 1;
        push(buf, &event(n))
    }

    fn response<'a>(
        &'a self,
        status: &'static str,
        output: &'a [OutputItem<'a>],
        error: Option<wire::ResponseError<'a>>,
    ) -> wire::Response<'a> {
        let head = convert::Head {
            id: &self.id,
            created_at: self.created_at,
            echo: &self.echo,
        };
        // Counts are known once the answer ends.
        let usage = (status != "in_progress")
            .then_some(self.usage.as_ref())
            .flatten();
        head.response(
            &self.model,
            status,
            self.finish_reason,
            output,
            usage,
            error,
        )
    }

    fn start(&mut self, buf: &mut Vec<u8>, model: &str) -> serde_json::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        if !model.is_empty() {
            model.clone_into(&mut self.model);
        }
        let mut seq = self.seq;
        Self::emit(buf, &mut seq, |n| Event::Created {
            sequence_number: n,
            response: self.response("in_progress", &[], None),
        })?;
        Self::emit(buf, &mut seq, |n| Event::InProgress {
            sequence_number: n,
            response: self.response("in_progress", &[], None),
        })?;
        self.seq = seq;
        Ok(())
    }

    /// Ends the open item, if any, with `item_status`.
    fn close(&mut self, buf: &mut Vec<u8>, item_status: &'static str) -> serde_json::Result<()> {
        if !std::mem::take(&mut self.open) {
            return Ok(());
        }
        let output_index = self.items.len() - 1;
        let item = &mut self.items[output_index];
        item.status = item_status;
        let item = &self.items[output_index];
        let seq = &mut self.seq;
        let encrypted = self.echo.encrypted_reasoning;
        match &item.body {
            Body::Reasoning { block, .. } => {
                if !block.text.is_empty() {
                    Self::emit(buf, seq, |n| Event::ReasoningDone {
                        sequence_number: n,
                        item_id: &item.id,
                        output_index,
                        content_index: 0,
                        text: &block.text,
                    })?;
                }
            }
            Body::Message(parts) => {
                if let Some(part) = parts.last() {
                    close_part(buf, seq, &item.id, output_index, parts.len() - 1, part)?;
                }
            }
            Body::Call {
                name, arguments, ..
            } => Self::emit(buf, seq, |n| Event::ArgumentsDone {
                sequence_number: n,
                item_id: &item.id,
                output_index,
                name,
                arguments,
            })?,
        }
        Self::emit(buf, seq, |n| Event::ItemDone {
            sequence_number: n,
            output_index,
            item: item.view(false, encrypted),
        })
    }

    /// Opens a new item after closing the open one.
    fn open(&mut self, buf: &mut Vec<u8>, id: String, body: Body) -> serde_json::Result<()> {
        self.close(buf, "completed")?;
        self.items.push(Item {
            id,
            status: "in_progress",
            body,
        });
        self.open = true;
        let output_index = self.items.len() - 1;
        let item = &self.items[output_index];
        Self::emit(buf, &mut self.seq, |n| Event::ItemAdded {
            sequence_number: n,
            output_index,
            item: item.view(true, false),
        })
    }

    /// Appends message text (or refusal text) to the open message's last part,
    /// opening the message or the part as needed.
    fn text(
        &mut self,
        buf: &mut Vec<u8>,
        delta: &str,
        refusal: bool,
        tokens: &[pb::TokenLogprob],
    ) -> serde_json::Result<()> {
        let in_message = self.open
            && matches!(
                self.items.last(),
                Some(Item {
                    body: Body::Message(_),
                    ..
                })
            );
        if !in_message {
            let id = message_id(&self.id, self.items.len());
            self.open(buf, id, Body::Message(Vec::new()))?;
        }
        let output_index = self.items.len() - 1;
        let item = &mut self.items[output_index];
        let Body::Message(parts) = &mut item.body else {
            return Ok(());
        };
        let seq = &mut self.seq;
        if parts.last().is_none_or(|p| p.refusal != refusal) {
            if let Some(last) = parts.last() {
                close_part(buf, seq, &item.id, output_index, parts.len() - 1, last)?;
            }
            parts.push(Part {
                refusal,
                text: String::new(),
                logprobs: Vec::new(),
            });
            let content_index = parts.len() - 1;
            let part = &parts[content_index];
            Self::emit(buf, seq, |n| Event::PartAdded {
                sequence_number: n,
                item_id: &item.id,
                output_index,
                content_index,
                part: part.view(),
            })?;
        }
        let content_index = parts.len() - 1;
        if let Some(part) = parts.last_mut() {
            part.text.push_str(delta);
            part.logprobs.extend_from_slice(tokens);
        }
        let item_id = &item.id;
        Self::emit(buf, seq, |n| {
            if refusal {
                Event::RefusalDelta {
                    sequence_number: n,
                    item_id,
                    output_index,
                    content_index,
                    delta,
                }
            } else {
                Event::TextDelta {
                    sequence_number: n,
                    item_id,
                    output_index,
                    content_index,
                    delta,
                    logprobs: token_logprobs(tokens),
                }
            }
        })
    }

    /// A reasoning fragment: into the open reasoning item of its index, or a new
    /// one.
    fn reasoning(&mut self, buf: &mut Vec<u8>, r: &pb::ReasoningDelta) -> serde_json::Result<()> {
        let same = self.open
            && matches!(self.items.last(), Some(Item { body: Body::Reasoning { index, .. }, .. }) if *index == r.index);
        if !same {
            let id = reasoning_id(&self.id, self.items.len());
            let body = Body::Reasoning {
                index: r.index,
                block: pb::Reasoning::default(),
            };
            self.open(buf, id, body)?;
        }
        let output_index = self.items.len() - 1;
        let item = &mut self.items[output_index];
        let Body::Reasoning { block, .. } = &mut item.body else {
            return Ok(());
        };
        if let Some(signature) = &r.signature {
            block.signature.push_str(signature);
        }
        block.redacted |= r.redacted;
        let Some(delta) = r.text.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        block.text.push_str(delta);
        let item_id = &item.id;
        Self::emit(buf, &mut self.seq, |n| Event::ReasoningDelta {
            sequence_number: n,
            item_id,
            output_index,
            content_index: 0,
            delta,
        })
    }

    fn call(&mut self, buf: &mut Vec<u8>, call: &pb::ToolCallDelta) -> serde_json::Result<()> {
        let same = self.open
            && matches!(self.items.last(), Some(Item { body: Body::Call { index, .. }, .. }) if *index == call.index);
        let f = call.function.as_ref();
        if !same {
            let (call_id, item_id) =
                call_ids(&self.id, call.id.as_deref().unwrap_or(""), self.items.len());
            let body = Body::Call {
                index: call.index,
                call_id,
                name: f.and_then(|f| f.name.clone()).unwrap_or_default(),
                arguments: String::new(),
            };
            self.open(buf, item_id, body)?;
        }
        let Some(delta) = f
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
        else {
            return Ok(());
        };
        let output_index = self.items.len() - 1;
        let item = &mut self.items[output_index];
        if let Body::Call { arguments, .. } = &mut item.body {
            arguments.push_str(delta);
        }
        let item_id = &item.id;
        Self::emit(buf, &mut self.seq, |n| Event::ArgumentsDelta {
            sequence_number: n,
            item_id,
            output_index,
            delta,
        })
    }
}

/// The `.done` events of a message's part.
fn close_part(
    buf: &mut Vec<u8>,
    seq: &mut u64,
    item_id: &str,
    output_index: usize,
    content_index: usize,
    part: &Part,
) -> serde_json::Result<()> {
    Stream::emit(buf, seq, |n| {
        if part.refusal {
            Event::RefusalDone {
                sequence_number: n,
                item_id,
                output_index,
                content_index,
                refusal: &part.text,
            }
        } else {
            Event::TextDone {
                sequence_number: n,
                item_id,
                output_index,
                content_index,
                text: &part.text,
                logprobs: token_logprobs(&part.logprobs),
            }
        }
    })?;
    Stream::emit(buf, seq, |n| Event::PartDone {
        sequence_number: n,
        item_id,
        output_index,
        content_index,
        part: part.view(),
    })
}

/// The Responses API's error code for a failure after the headers.
fn failure_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::RateLimited | ErrorCode::BudgetExceeded => "rate_limit_exceeded",
        _ => "server_error",
    }
}

impl Translate for Stream {
    fn chunk(&mut self, buf: &mut Vec<u8>, c: &pb::ChatChunk) -> serde_json::Result<()> {
        self.start(buf, &c.model)?;
        if let Some(u) = &c.usage {
            self.usage = Some(*u);
        }
        // One answer: the Responses API has no `n`.
        let Some(choice) = c.choices.iter().find(|ch| ch.index == 0) else {
            return Ok(());
        };
        if let Some(d) = &choice.delta {
            for r in &d.reasoning {
                self.reasoning(buf, r)?;
            }
            let logprobs = choice.logprobs.as_ref();
            if let Some(text) = d.content.as_deref().filter(|t| !t.is_empty()) {
                let tokens = logprobs.map_or(&[][..], |l| &l.content);
                self.text(buf, text, false, tokens)?;
            }
            if let Some(text) = d.refusal.as_deref().filter(|t| !t.is_empty()) {
                self.text(buf, text, true, &[])?;
            }
            for call in &d.tool_calls {
                self.call(buf, call)?;
            }
        }
        if choice.finish_reason != 0 {
            self.finish_reason = choice.finish_reason;
        }
        Ok(())
    }

    fn finish(&mut self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        self.start(buf, "")?;
        let status = convert::status(self.finish_reason);
        self.close(buf, status)?;
        let output: Vec<OutputItem<'_>> = self
            .items
            .iter()
            .map(|i| i.view(false, self.echo.encrypted_reasoning))
            .collect();
        let response = self.response(status, &output, None);
        let kept = if self.keep.is_some() {
            // Stored with signatures, whether or not the caller asked to see them.
            let stored_output = if self.echo.encrypted_reasoning {
                serde_json::to_vec(&response.output)?
            } else {
                let with_signatures: Vec<OutputItem<'_>> =
                    self.items.iter().map(|i| i.view(false, true)).collect();
                serde_json::to_vec(&with_signatures)?
            };
            Some((serde_json::to_vec(&response)?, stored_output))
        } else {
            None
        };
        let sequence_number = self.seq;
        let event = if status == "completed" {
            Event::Completed {
                sequence_number,
                response,
            }
        } else {
            Event::Incomplete {
                sequence_number,
                response,
            }
        };
        push(buf, &event)?;
        self.kept = kept;
        Ok(())
    }

    fn before_end(&mut self) -> Option<futures::future::BoxFuture<'static, ()>> {
        let keep = self.keep.take()?;
        let (response, output) = self.kept.take()?;
        Some(Box::pin(keep.store(self.id.clone(), response, output)))
    }

    fn fail(&mut self, error: &ApiError) -> Bytes {
        let mut buf = Vec::with_capacity(1024);
        let written = self.start(&mut buf, "").and_then(|()| {
            let output: Vec<OutputItem<'_>> = self
                .items
                .iter()
                .map(|i| i.view(false, self.echo.encrypted_reasoning))
                .collect();
            let error = wire::ResponseError {
                code: failure_code(error.code),
                message: &error.message,
            };
            let response = self.response("failed", &output, Some(error));
            push(
                &mut buf,
                &Event::Failed {
                    sequence_number: self.seq,
                    response,
                },
            )
        });
        if written.is_err() {
            // Nothing here fails to encode; keep the stream's end visible anyway.
            return Bytes::from_static(
                b"event: response.failed\ndata: {\"type\":\"response.failed\"}\n\n",
            );
        }
        Bytes::from(buf)
    }
}
