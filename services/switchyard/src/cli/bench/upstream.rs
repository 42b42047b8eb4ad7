//! The emulated OpenAI-compatible upstream the benchmark drives: `POST
//! /v1/chat/completions` in OpenAI's documented shapes (a `chat.completion`, or SSE
//! `chat.completion.chunk` events, the usage chunk when
//! `stream_options.include_usage` is set, then `data: [DONE]`), with a service time
//! chosen by the requested model:
//!
//! | model | behaviour |
//! |---|---|
//! | `fixed-<D>ms` | one content chunk after `D` ms |
//! | `stream-<C>x<P>ms` | `C` content chunks, the first at once, then one every `P` ms |
//!
//! A unary request for either takes the time its stream would take. Any other model
//! gets OpenAI's 404 `model_not_found`. It runs on a runtime and threads of its own,
//! so the load generator's scheduling does not delay its answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// A running emulated upstream; stops when dropped.
pub struct Upstream {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Upstream {
    /// Starts on `127.0.0.1:0` with its own runtime of `threads` worker threads.
    pub fn start(threads: usize) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("emulated upstream: cannot bind 127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("bench-upstream")
            .enable_all()
            .build()
            .context("emulated upstream: cannot start its runtime")?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(Arc::new(AtomicU64::new(0)));
        std::thread::Builder::new()
            .name("bench-upstream".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("emulated upstream: {e}");
                            return;
                        }
                    };
                    // Small frames go out at once (no Nagle delay on streamed chunks).
                    let listener = listener.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    let serve = axum::serve(listener, app).into_future();
                    tokio::select! {
                        result = serve => {
                            if let Err(e) = result {
                                eprintln!("emulated upstream stopped: {e}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels whatever is still in flight.
            })
            .context("emulated upstream: cannot start its thread")?;
        Ok(Self {
            addr,
            stop: Some(stop),
        })
    }

    /// The base URL a provider config uses (`http://127.0.0.1:<port>/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What a model name asks the upstream to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Behaviour {
    /// Before the first chunk.
    delay: Duration,
    /// Content chunks.
    chunks: u32,
    /// Between two content chunks.
    pace: Duration,
}

impl Behaviour {
    /// `fixed-<D>ms` or `stream-<C>x<P>ms`; `None` for anything else.
    fn parse(model: &str) -> Option<Self> {
        let ms = |s: &str| s.strip_suffix("ms")?.parse::<u64>().ok();
        if let Some(rest) = model.strip_prefix("fixed-") {
            return Some(Self {
                delay: Duration::from_millis(ms(rest)?),
                chunks: 1,
                pace: Duration::ZERO,
            });
        }
        let (chunks, pace) = model.strip_prefix("stream-")?.split_once('x')?;
        let chunks = chunks.parse::<u32>().ok().filter(|c| *c > 0)?;
        Some(Self {
            delay: Duration::ZERO,
            chunks,
            pace: Duration::from_millis(ms(pace)?),
        })
    }

    /// When content chunk `k` (from 0) is due, counted from the request's arrival.
    fn due(&self, k: u32) -> Duration {
        self.delay + self.pace * k
    }
}

/// The part of an OpenAI chat request the upstream reads.
#[derive(Debug, Deserialize)]
struct ChatBody {
    model: String,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

const PROMPT_TOKENS: u32 = 12;

fn usage(chunks: u32) -> Value {
    json!({
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": chunks,
        "total_tokens": PROMPT_TOKENS + chunks,
    })
}

fn word(k: u32) -> String {
    format!("tok{k} ")
}

/// Sleeps until `due` unless it has already passed. The runtime's timer rounds every
/// deadline up to its next 1 ms tick, so even a zero sleep would delay the answer
/// by up to a millisecond; "answers at once" must not.
async fn wait_until(due: Instant) {
    if due > Instant::now() {
        tokio::time::sleep_until(due).await;
    }
}

/// A stream's `chat.completion.chunk` events, written from a head rendered once
/// per request (`data: {"id":…,"object":…,"created":…,"model":…,"choices":`), so
/// the emulator spends as little of the shared machine per chunk as it can: a
/// chunk is the head, its `choices` and a closing brace, not a JSON tree built and
/// serialised again. Fields in the order OpenAI's API sends them.
struct Events {
    head: String,
}

impl Events {
    fn new(id: &str, created: u64, model: &str) -> Self {
        let model = Value::from(model);
        Self {
            head: format!(
                r#"data: {{"id":"{id}","object":"chat.completion.chunk","created":{created},"model":{model},"choices":"#
            ),
        }
    }

    /// Appends one event whose `choices` is `choices` (JSON), with `rest` (JSON
    /// members, each led by a comma) after it.
    fn push(&self, out: &mut String, choices: &str, rest: &str) {
        out.push_str(&self.head);
        out.push_str(choices);
        out.push_str(rest);
        out.push_str("}\n\n");
    }

    /// Appends a one-choice event with `delta` and `finish_reason` (JSON).
    fn choice(&self, out: &mut String, delta: &str, finish: &str) {
        let choices =
            format!(r#"[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]"#);
        self.push(out, &choices, "");
    }

    /// What content chunk `k` of `chunks` sends: the role first (with chunk 0),
    /// and after the last one the finish, the usage chunk if asked for, and
    /// `[DONE]`.
    fn frame(&self, k: u32, chunks: u32, include_usage: bool) -> String {
        let mut frame = String::with_capacity(if k == 0 { 512 } else { 256 });
        if k == 0 {
            self.choice(
                &mut frame,
                r#"{"role":"assistant","content":"","refusal":null}"#,
                "null",
            );
        }
        let content = Value::from(word(k));
        self.choice(&mut frame, &format!(r#"{{"content":{content}}}"#), "null");
        if k + 1 == chunks {
            self.choice(&mut frame, "{}", r#""stop""#);
            if include_usage {
                self.push(&mut frame, "[]", &format!(",\"usage\":{}", usage(chunks)));
            }
            frame.push_str("data: [DONE]\n\n");
        }
        frame
    }
}

async fn chat(State(counter): State<Arc<AtomicU64>>, Json(body): Json<ChatBody>) -> Response {
    let arrived = Instant::now();
    let Some(behaviour) = Behaviour::parse(&body.model) else {
        let error = json!({"error": {
            "message": format!("The model `{}` does not exist or you do not have access to it.", body.model),
            "type": "invalid_request_error", "param": null, "code": "model_not_found"}});
        return (StatusCode::NOT_FOUND, Json(error)).into_response();
    };
    let id = format!("chatcmpl-bench{}", counter.fetch_add(1, Ordering::Relaxed));
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    if !body.stream {
        wait_until(arrived + behaviour.due(behaviour.chunks - 1)).await;
        let content: String = (0..behaviour.chunks).map(word).collect();
        return Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": usage(behaviour.chunks),
        }))
        .into_response();
    }
    let include_usage = body.stream_options.is_some_and(|o| o.include_usage);
    let events = Events::new(&id, created, &body.model);
    let frames = futures::stream::unfold(0u32, move |k| {
        let frame =
            (k < behaviour.chunks).then(|| events.frame(k, behaviour.chunks, include_usage));
        async move {
            let frame = frame?;
            wait_until(arrived + behaviour.due(k)).await;
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(frame)), k + 1))
        }
    });
    let mut response = Body::from_stream(frames).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_select_the_behaviour() {
        assert_eq!(
            Behaviour::parse("fixed-20ms"),
            Some(Behaviour {
                delay: Duration::from_millis(20),
                chunks: 1,
                pace: Duration::ZERO
            })
        );
        let stream = Behaviour::parse("stream-20x5ms");
        assert_eq!(
            stream,
            Some(Behaviour {
                delay: Duration::ZERO,
                chunks: 20,
                pace: Duration::from_millis(5)
            })
        );
        assert_eq!(stream.map(|b| b.due(19)), Some(Duration::from_millis(95)));
        for bad in ["gpt-4o", "fixed-20", "stream-0x5ms", "stream-20x5"] {
            assert_eq!(Behaviour::parse(bad), None, "{bad}");
        }
    }

    /// Every event of a stream is a `chat.completion.chunk` in OpenAI's shape:
    /// the role first, one content delta per chunk, the finish, the usage chunk,
    /// then `[DONE]`; a model name that needs escaping stays valid JSON.
    #[test]
    fn stream_frames_are_openai_chunks() {
        let events = Events::new("chatcmpl-bench7", 1_700_000_000, "stream-\"3\"x5ms");
        let body: String = (0..3).map(|k| events.frame(k, 3, true)).collect();
        let data: Vec<&str> = body
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| e.strip_prefix("data: ").expect("an SSE data line"))
            .collect();
        assert_eq!(data.last(), Some(&"[DONE]"));
        let chunks: Vec<Value> = data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).expect("a JSON chunk"))
            .collect();
        assert_eq!(chunks.len(), 6, "role, three contents, finish, usage");
        for chunk in &chunks {
            assert_eq!(chunk["id"], "chatcmpl-bench7");
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["created"], 1_700_000_000);
            assert_eq!(chunk["model"], "stream-\"3\"x5ms");
        }
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let content: String = chunks[1..4]
            .iter()
            .map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(content, "tok0 tok1 tok2 ");
        assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
        assert_eq!(chunks[5]["choices"], serde_json::json!([]));
        assert_eq!(chunks[5]["usage"]["completion_tokens"], 3);
        assert_eq!(chunks[5]["usage"]["total_tokens"], 15);
    }
}
