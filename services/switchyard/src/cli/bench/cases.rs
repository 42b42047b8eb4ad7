//! What a benchmark case is: the path taken (shape), the wire (protocol) and the
//! upstream behaviour (case), with the names used on the command line, in the table
//! and in the JSON.

use std::time::Duration;

use clap::ValueEnum;
use serde::Serialize;

/// The path a request takes to the emulated upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Straight to the upstream: the baseline every added latency is measured against.
    Direct,
    /// `switchyard serve`: every service in one process.
    AllInOne,
    /// Five `switchyard serve --services <one>` processes talking gRPC over loopback.
    FiveProcess,
}

impl Shape {
    /// The name in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Direct => "direct",
            Shape::AllInOne => "all-in-one",
            Shape::FiveProcess => "five-process",
        }
    }
}

/// The wire the load generator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// OpenAI-compatible HTTP/JSON (`POST /v1/chat/completions`), SSE when streaming.
    Http,
    /// The public gRPC `Gateway` API (`Chat`, `ChatStream`).
    Grpc,
}

impl Protocol {
    /// The name in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
        }
    }
}

/// What the emulated upstream does for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ValueEnum, Serialize)]
pub enum Case {
    /// A unary answer at once (0 ms service time): the gateway's own cost dominates.
    #[value(name = "unary-0ms")]
    #[serde(rename = "unary-0ms")]
    Unary0,
    /// A unary answer after 20 ms: a slow upstream keeps more requests in flight.
    #[value(name = "unary-20ms")]
    #[serde(rename = "unary-20ms")]
    Unary20,
    /// A stream of 20 content chunks 5 ms apart (`STREAM_CHUNKS`, `STREAM_PACE`):
    /// time to first token and to the end are both measured.
    #[value(name = "stream")]
    #[serde(rename = "stream")]
    Stream,
}

/// Content chunks of the streaming case.
pub const STREAM_CHUNKS: u32 = 20;
/// Time between two content chunks of the streaming case.
pub const STREAM_PACE: Duration = Duration::from_millis(5);

impl Case {
    /// Every case, in report order.
    pub const ALL: [Case; 3] = [Case::Unary0, Case::Unary20, Case::Stream];

    /// The name in the table and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Case::Unary0 => "unary-0ms",
            Case::Unary20 => "unary-20ms",
            Case::Stream => "stream",
        }
    }

    /// The model clients ask the gateway for (configured by the bench).
    pub fn gateway_model(self) -> &'static str {
        match self {
            Case::Unary0 => "bench-0ms",
            Case::Unary20 => "bench-20ms",
            Case::Stream => "bench-stream",
        }
    }

    /// The upstream model the gateway model maps to; its name selects the
    /// emulated upstream's behaviour (see `upstream.rs`).
    pub fn upstream_model(self) -> String {
        match self {
            Case::Unary0 => "fixed-0ms".into(),
            Case::Unary20 => "fixed-20ms".into(),
            Case::Stream => format!("stream-{STREAM_CHUNKS}x{}ms", STREAM_PACE.as_millis()),
        }
    }

    /// Whether the request asks for a stream.
    pub fn streaming(self) -> bool {
        matches!(self, Case::Stream)
    }
}
