//! Server-sent events: response body bytes to events, as providers stream them.
//!
//! Follows the WHATWG event-stream rules that matter in practice: LF, CRLF and CR
//! line endings (a CRLF split across two reads is one line ending), `:` comment and
//! keep-alive lines ignored, several `data:` lines joined with `\n`, events split
//! across reads at any byte. One event is bounded ([`MAX_EVENT_BYTES`]) so a broken
//! upstream cannot grow memory without limit. [`data_events`] adds OpenAI's
//! framing: `data: [DONE]` ends the stream normally, and an end of body before it is
//! an error, because a cut stream must never look complete.

use std::collections::VecDeque;

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// Largest single event accepted.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The data marking the normal end of an OpenAI-style stream.
const DONE: &str = "[DONE]";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when present (OpenAI sends none; some servers send `error`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Why the bytes are not a usable event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event grew beyond the bound.
    #[error("event larger than {0} bytes")]
    TooLarge(usize),
    /// An event's data is not UTF-8.
    #[error("event data is not UTF-8")]
    NotUtf8,
}

/// Incremental parser: [`push`](Self::push) bytes as they arrive, then take events
/// with [`next_event`](Self::next_event).
#[derive(Debug)]
pub struct SseParser {
    /// The current line, not yet terminated.
    line: Vec<u8>,
    /// The current event's data.
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    /// The last read ended in CR: a LF opening the next read belongs to it.
    skip_lf: bool,
    /// Whether any byte has been seen (a leading BOM is dropped).
    started: bool,
    limit: usize,
    ready: VecDeque<SseEvent>,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser rejecting events larger than `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event: None,
            skip_lf: false,
            started: false,
            limit,
            ready: VecDeque::new(),
        }
    }

    /// Feeds the next bytes of the body.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), SseError> {
        let mut rest = chunk;
        if !self.started && !rest.is_empty() {
            self.started = true;
            rest = rest
                .strip_prefix(b"\xEF\xBB\xBF".as_slice())
                .unwrap_or(rest);
        }
        if self.skip_lf && !rest.is_empty() {
            self.skip_lf = false;
            rest = rest.strip_prefix(b"\n".as_slice()).unwrap_or(rest);
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            if self.line.is_empty() {
                self.on_line(&rest[..i])?;
            } else {
                self.line.extend_from_slice(&rest[..i]);
                let line = std::mem::take(&mut self.line);
                self.on_line(&line)?;
                self.line = line;
                self.line.clear();
            }
            let cr = rest[i] == b'\r';
            rest = &rest[i + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
        if self.line.len() + self.data.len() > self.limit {
            return Err(SseError::TooLarge(self.limit));
        }
        Ok(())
    }

    /// The next complete event, if one is ready.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    /// The data of the undispatched event at end of body, if it has a complete
    /// `data:` line (a server that omits the final blank line after `[DONE]`).
    fn pending_data(&mut self) -> Option<String> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.on_line(&line).ok()?;
        }
        self.has_data
            .then(|| String::from_utf8(std::mem::take(&mut self.data)).ok())
            .flatten()
    }

    fn on_line(&mut self, line: &[u8]) -> Result<(), SseError> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (
                    &line[..i],
                    value.strip_prefix(b" ".as_slice()).unwrap_or(value),
                )
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                if self.data.len() > self.limit {
                    return Err(SseError::TooLarge(self.limit));
                }
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields mean nothing to a one-shot stream.
        }
        Ok(())
    }

    fn dispatch(&mut self) -> Result<(), SseError> {
        let event = self.event.take();
        if !self.has_data {
            return Ok(());
        }
        self.has_data = false;
        let data =
            String::from_utf8(std::mem::take(&mut self.data)).map_err(|_| SseError::NotUtf8)?;
        self.ready.push_back(SseEvent { event, data });
        Ok(())
    }
}

/// Why an OpenAI-style event stream failed.
#[derive(Debug)]
pub enum StreamFailure<E> {
    /// The body could not be read (connection reset, read timeout).
    Transport(E),
    /// The bytes are not a usable event stream.
    Sse(SseError),
    /// The body ended before `data: [DONE]`.
    EndedEarly,
}

/// The events of an OpenAI-style stream body. Ends (`None`) after `data: [DONE]`;
/// yields one error and ends on a transport failure, a bad event, or a body that
/// ends without `[DONE]`.
pub fn data_events<S, E>(body: S) -> impl Stream<Item = Result<SseEvent, StreamFailure<E>>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    struct State<S> {
        body: S,
        parser: SseParser,
        finished: bool,
    }
    let state = State {
        body,
        parser: SseParser::default(),
        finished: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            if let Some(event) = st.parser.next_event() {
                if event.data.trim() == DONE {
                    return None;
                }
                return Some((Ok(event), st));
            }
            let failure = match st.body.next().await {
                Some(Ok(bytes)) => match st.parser.push(&bytes) {
                    Ok(()) => continue,
                    Err(e) => StreamFailure::Sse(e),
                },
                Some(Err(e)) => StreamFailure::Transport(e),
                None if st.parser.pending_data().is_some_and(|d| d.trim() == DONE) => {
                    return None;
                }
                None => StreamFailure::EndedEarly,
            };
            st.finished = true;
            return Some((Err(failure), st));
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LLAMA: &[u8] = include_bytes!("../tests/fixtures/llama_cpp_stream.sse");

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c).unwrap();
            while let Some(e) = p.next_event() {
                out.push(e);
            }
        }
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn llama_cpp_capture_splits_at_every_byte() {
        let whole = parse_all(&[LLAMA]);
        assert_eq!(whole.len(), 11);
        assert_eq!(whole.last().unwrap().data, "[DONE]");
        assert!(whole[1].data.contains("\"Name\""));
        for cut in 0..=LLAMA.len() {
            let (a, b) = LLAMA.split_at(cut);
            assert_eq!(parse_all(&[a, b]), whole, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = LLAMA.chunks(1).collect();
        assert_eq!(parse_all(&bytes), whole);
    }

    #[test]
    fn every_line_ending_and_split_crlf() {
        let lf = parse_all(&[b"data: a\n\ndata: b\n\n"]);
        let crlf_text: &[u8] = b"data: a\r\n\r\ndata: b\r\n\r\n";
        assert_eq!(parse_all(&[crlf_text]), lf);
        assert_eq!(parse_all(&[b"data: a\r\rdata: b\r\r"]), lf);
        for cut in 0..=crlf_text.len() {
            let (x, y) = crlf_text.split_at(cut);
            assert_eq!(parse_all(&[x, y]), lf, "split at {cut}");
        }
        assert_eq!(data(&lf), ["a", "b"]);
    }

    #[test]
    fn comments_fields_and_multiline_data() {
        let events = parse_all(&[
            b": ping\n\n:keep-alive\nevent: error\nid: 3\nretry: 10\ndata: line1\ndata:line2\ndata\n\n",
            b"data: {\"x\": 1}\n\n",
        ]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event.as_deref(), Some("error"));
        assert_eq!(events[0].data, "line1\nline2\n");
        assert_eq!(events[1].event, None);
        assert_eq!(events[1].data, "{\"x\": 1}");
        // A leading BOM and a blank line without data dispatch nothing extra.
        assert_eq!(data(&parse_all(&[b"\xEF\xBB\xBFdata: z\n\n\n\n"])), ["z"]);
    }

    #[test]
    fn bounded_event_size() {
        let mut p = SseParser::with_limit(16);
        assert_eq!(
            p.push(b"data: 0123456789abcdefXYZ"),
            Err(SseError::TooLarge(16))
        );
        let mut p = SseParser::with_limit(16);
        p.push(b"data: 0123456789\n").unwrap();
        assert_eq!(p.push(b"data: 0123456789\n"), Err(SseError::TooLarge(16)));
        let mut p = SseParser::default();
        assert_eq!(p.push(b"data: \xFF\xFE\n\n"), Err(SseError::NotUtf8));
    }

    fn body(chunks: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, &'static str>> + Unpin {
        futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))))
    }

    async fn collect(chunks: Vec<&'static [u8]>) -> Vec<Result<String, String>> {
        data_events(body(chunks))
            .map(|r| {
                r.map(|e| e.data).map_err(|e| match e {
                    StreamFailure::Transport(t) => format!("transport {t}"),
                    StreamFailure::Sse(s) => format!("sse {s}"),
                    StreamFailure::EndedEarly => "ended early".into(),
                })
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn done_ends_the_stream_and_eof_without_done_is_an_error() {
        let ok = collect(vec![
            b"data: a\n\n",
            b"data: [DONE]\n\n",
            b"data: after\n\n",
        ])
        .await;
        assert_eq!(ok, vec![Ok("a".to_string())]);
        let ok = collect(vec![b"data: a\n\ndata: [DONE]"]).await;
        assert_eq!(
            ok,
            vec![Ok("a".to_string())],
            "DONE without final blank line"
        );
        let cut = collect(vec![b"data: a\n\ndata: {\"trunc"]).await;
        assert_eq!(
            cut,
            vec![Ok("a".to_string()), Err("ended early".to_string())]
        );
        let empty = collect(vec![]).await;
        assert_eq!(empty, vec![Err("ended early".to_string())]);
        let llama = collect(vec![LLAMA]).await;
        assert_eq!(llama.len(), 10);
        assert!(llama.iter().all(Result::is_ok));
    }

    #[tokio::test]
    async fn transport_errors_end_the_stream() {
        let chunks: Vec<Result<Bytes, &str>> =
            vec![Ok(Bytes::from_static(b"data: a\n\n")), Err("reset")];
        let out: Vec<_> = data_events(futures::stream::iter(chunks)).collect().await;
        assert_eq!(out.len(), 2);
        assert!(matches!(out[1], Err(StreamFailure::Transport("reset"))));
    }
}
