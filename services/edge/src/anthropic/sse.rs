//! The Anthropic event stream: `event: <type>` + `data: <json>` per event, in the
//! order message_start, ping, (content_block_start, content_block_delta…,
//! content_block_stop)…, message_delta, message_stop; a failure after the headers
//! is an `event: error` and the end of the stream.
//!
//! Driven by [`crate::sse::translated`]: chunks are translated as they arrive.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::{Map, Value};
use switchyard_error::ApiError;
use switchyard_proto::types::v1 as pb;

use super::convert::{message_id, stop_reason, usage};
use super::wire::{Block, BlockDelta, Event, Message, MessageDelta};
use crate::error::AnthropicErrorBody;
use crate::sse::Translate;

/// Appends one named event.
fn push(buf: &mut Vec<u8>, event: &Event<'_>) -> serde_json::Result<()> {
    crate::sse::push_named(buf, event.name(), event)
}

/// The `event: error` that ends a stream which already answered 200.
pub fn error_event(error: &ApiError) -> Bytes {
    let body = AnthropicErrorBody::new(error).to_json();
    let mut buf = Vec::with_capacity(body.len() + 24);
    buf.extend_from_slice(b"event: error\ndata: ");
    buf.extend_from_slice(&body);
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// The block being written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    /// Block index and the gateway's tool call index.
    Tool(u32, u32),
    /// Block index and the gateway's reasoning index.
    Thinking(u32, u32),
}

impl Open {
    fn index(self) -> u32 {
        match self {
            Self::Text(i) | Self::Tool(i, _) | Self::Thinking(i, _) => i,
        }
    }
}

/// Anthropic's Messages stream, translated chunk by chunk.
pub struct Events {
    /// The requested model, until a chunk names the one that answered.
    model: String,
    started: bool,
    open: Option<Open>,
    blocks: u32,
    stop_reason: Option<&'static str>,
    usage: Option<pb::Usage>,
}

impl Events {
    fn start(&mut self, buf: &mut Vec<u8>, id: &str, model: &str) -> serde_json::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let model = if model.is_empty() { &self.model } else { model };
        let message = Message {
            id: message_id(id),
            kind: "message",
            role: "assistant",
            model,
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            // The gateway counts tokens at the end: the real counts are in message_delta.
            usage: super::wire::Usage::default(),
        };
        push(buf, &Event::MessageStart { message })?;
        push(buf, &Event::Ping)
    }

    fn close(&mut self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        match self.open.take() {
            Some(open) => push(
                buf,
                &Event::ContentBlockStop {
                    index: open.index(),
                },
            ),
            None => Ok(()),
        }
    }

    fn open(&mut self, buf: &mut Vec<u8>, open: Open, block: Block<'_>) -> serde_json::Result<()> {
        self.close(buf)?;
        self.open = Some(open);
        self.blocks += 1;
        push(
            buf,
            &Event::ContentBlockStart {
                index: open.index(),
                content_block: block,
            },
        )
    }

    fn chunk(&mut self, buf: &mut Vec<u8>, c: &pb::ChatChunk) -> serde_json::Result<()> {
        self.start(buf, &c.id, &c.model)?;
        if let Some(u) = &c.usage {
            self.usage = Some(*u);
        }
        // One answer: Anthropic has no `n`.
        let Some(choice) = c.choices.iter().find(|ch| ch.index == 0) else {
            return Ok(());
        };
        if let Some(d) = &choice.delta {
            for r in &d.reasoning {
                self.reasoning(buf, r)?;
            }
            if let Some(text) = d.content.as_deref().filter(|t| !t.is_empty()) {
                let index = match self.open {
                    Some(Open::Text(i)) => i,
                    _ => {
                        let i = self.blocks;
                        let block = Block::Text {
                            text: Cow::Borrowed(""),
                        };
                        self.open(buf, Open::Text(i), block)?;
                        i
                    }
                };
                let delta = BlockDelta::Text { text };
                push(buf, &Event::ContentBlockDelta { index, delta })?;
            }
            for call in &d.tool_calls {
                let index = match self.open {
                    Some(Open::Tool(i, k)) if k == call.index => i,
                    _ => {
                        let i = self.blocks;
                        let f = call.function.as_ref();
                        let block = Block::ToolUse {
                            id: call.id.as_deref().map_or_else(
                                || Cow::Owned(format!("toolu_{}_{}", c.id, call.index)),
                                Cow::Borrowed,
                            ),
                            name: Cow::Borrowed(f.and_then(|f| f.name.as_deref()).unwrap_or("")),
                            input: Value::Object(Map::new()),
                        };
                        self.open(buf, Open::Tool(i, call.index), block)?;
                        i
                    }
                };
                let args = call.function.as_ref().and_then(|f| f.arguments.as_deref());
                if let Some(partial_json) = args.filter(|a| !a.is_empty()) {
                    let delta = BlockDelta::InputJson { partial_json };
                    push(buf, &Event::ContentBlockDelta { index, delta })?;
                }
            }
        }
        if choice.finish_reason != 0 {
            self.stop_reason = Some(stop_reason(choice.finish_reason));
        }
        Ok(())
    }

    /// A reasoning fragment: into the open thinking block of its index, or a new
    /// one (`thinking` with empty text and signature, as Anthropic starts them; a
    /// redacted block whole).
    fn reasoning(&mut self, buf: &mut Vec<u8>, r: &pb::ReasoningDelta) -> serde_json::Result<()> {
        let index = match self.open {
            Some(Open::Thinking(i, k)) if k == r.index => i,
            _ => {
                let i = self.blocks;
                let block = if r.redacted {
                    Block::RedactedThinking {
                        data: Cow::Borrowed(r.signature.as_deref().unwrap_or_default()),
                    }
                } else {
                    Block::Thinking {
                        thinking: Cow::Borrowed(""),
                        signature: Cow::Borrowed(""),
                    }
                };
                self.open(buf, Open::Thinking(i, r.index), block)?;
                if r.redacted {
                    return Ok(());
                }
                i
            }
        };
        if let Some(thinking) = r.text.as_deref().filter(|t| !t.is_empty()) {
            let delta = BlockDelta::Thinking { thinking };
            push(buf, &Event::ContentBlockDelta { index, delta })?;
        }
        if let Some(signature) = r.signature.as_deref().filter(|s| !s.is_empty()) {
            let delta = BlockDelta::Signature { signature };
            push(buf, &Event::ContentBlockDelta { index, delta })?;
        }
        Ok(())
    }

    fn finish(&mut self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        self.start(buf, "", "")?;
        self.close(buf)?;
        let delta = MessageDelta {
            stop_reason: self.stop_reason.unwrap_or("end_turn"),
            stop_sequence: None,
        };
        let usage = usage(self.usage.as_ref());
        push(buf, &Event::MessageDelta { delta, usage })?;
        push(buf, &Event::MessageStop)
    }
}

impl Translate for Events {
    fn chunk(&mut self, buf: &mut Vec<u8>, c: &pb::ChatChunk) -> serde_json::Result<()> {
        Events::chunk(self, buf, c)
    }

    fn finish(&mut self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        Events::finish(self, buf)
    }

    fn fail(&mut self, error: &ApiError) -> Bytes {
        error_event(error)
    }
}

impl Events {
    /// The Messages stream; `model` is the one requested, used only if no chunk
    /// names one.
    pub fn new(model: String) -> Self {
        Self {
            model,
            started: false,
            open: None,
            blocks: 0,
            stop_reason: None,
            usage: None,
        }
    }
}
