//! The HTTP client every provider kind calls through: hyper's pooled client over
//! rustls (webpki roots; ALPN offers HTTP/2 and HTTP/1.1) for `https` and proxied
//! URLs, connections driven by their own request for plain `http://` ones (see
//! [`super::inline`]); `connect_timeout_ms` per connection, `read_timeout_ms` for
//! the answer's head and for every wait on its body, the environment's proxy, no
//! redirects.
//!
//! It replaced reqwest on the request path. reqwest did work a gateway's fixed,
//! pre-parsed endpoints do not need: its redirect layer parsed the URL twice per
//! request even with redirects off, and each request crossed its layers of boxed
//! services. Here a request is one `http::Request` handed to the pool.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::{HeaderMap, HeaderValue, PROXY_AUTHORIZATION, USER_AGENT};
use http::uri::Scheme;
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, Sleep};

use super::inline::{Inline, InlineBody};
use super::proxy::{self, ProxyConnector};

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Why a call got no (complete) answer: the connection, the clock, or the body.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection, or it failed before the answer's head arrived.
    #[error("request failed")]
    Connect(#[source] hyper_util::client::legacy::Error),
    /// No head, or no more body, within `read_timeout_ms`.
    #[error("no answer within the read timeout")]
    Timeout,
    /// The body broke off (reset, truncated, a malformed chunk).
    #[error("body broke off")]
    Body(#[source] hyper::Error),
    /// No connection to a plain-HTTP upstream.
    #[error("connect failed")]
    Dial(#[source] std::io::Error),
    /// The request failed on its connection before the answer's head arrived.
    #[error("request failed")]
    Send(#[source] hyper::Error),
    /// The URL gives no request target and `Host` header (a plain-HTTP URL
    /// without a host, say).
    #[error("the URL cannot be sent")]
    Url,
}

/// A body stream as the stream parsers read it.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>;

/// One provider instance's connection pool. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct Client {
    pool: Pool<ProxyConnector, Full<Bytes>>,
    inline: Arc<Inline>,
    proxies: Arc<Matcher>,
    read_timeout: Duration,
    user_agent: HeaderValue,
}

impl Client {
    /// A pool with these timeouts, proxied as `proxies` says (the environment's
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` in the service).
    pub fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
        proxies: Matcher,
    ) -> Result<Self, rustls::Error> {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_nodelay(true);
        // The TLS layer decides the scheme; this one only dials.
        tcp.enforce_http(false);
        let proxies = Arc::new(proxies);
        let connector = proxy::connector(tcp, Arc::clone(&proxies))?;
        let pool = Pool::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            pool,
            inline: Inline::new(connect_timeout, POOL_IDLE),
            proxies,
            read_timeout,
            user_agent: HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION"))),
        })
    }

    /// POSTs `body` to `uri` with `headers`; any answer, 2xx or not, is returned.
    pub async fn post(
        &self,
        uri: Uri,
        mut headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Response, TransportError> {
        headers
            .entry(USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        let mut inline = false;
        if uri.scheme() == Some(&Scheme::HTTP) {
            // A plain-HTTP request through a proxy carries the proxy's credentials;
            // HTTPS ones send them in the tunnel's CONNECT instead.
            match self.proxies.intercept(&uri) {
                Some(proxy) => {
                    if let Some(auth) = proxy.basic_auth().cloned() {
                        headers.insert(PROXY_AUTHORIZATION, auth);
                    }
                }
                None => inline = true,
            }
        }
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let (head, body) = if inline {
            let (head, body) = tokio::time::timeout(self.read_timeout, self.inline.send(request))
                .await
                .map_err(|_| TransportError::Timeout)??;
            (head, Source::Inline(body))
        } else {
            let (head, body) = tokio::time::timeout(self.read_timeout, self.pool.request(request))
                .await
                .map_err(|_| TransportError::Timeout)?
                .map_err(TransportError::Connect)?
                .into_parts();
            (head, Source::Pooled(body))
        };
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body: Chunks::new(body, self.read_timeout),
        })
    }
}

#[cfg(test)]
impl Client {
    /// Plain-HTTP connections waiting for a request.
    pub(super) fn idle_connections(&self) -> usize {
        self.inline.idle_connections()
    }
}

/// An answer whose head has arrived; its body is read chunk by chunk, each wait
/// bounded by the read timeout.
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Chunks,
}

impl Response {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The next piece of the body; `None` at its end (trailers are ignored).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, TransportError> {
        self.body.next().await.transpose()
    }

    /// The body as a stream of chunks, ending after the first error.
    pub fn bytes_stream(self) -> BodyStream {
        Box::pin(self.body)
    }
}

/// How long a body dropped before its end may take to end on its own (see
/// [`Chunks`]'s `Drop`).
const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// Data a body dropped before its end may still carry for its connection to be
/// kept: the blank lines after a stream's last event. More means the answer was
/// abandoned midway, and closing the connection is what tells the provider to
/// stop generating.
const DRAIN_SLACK: usize = 64;

/// A body's data chunks. The read timer is armed only when a read has to wait,
/// allocated once per body and re-armed after each chunk.
pub(super) struct Chunks {
    /// Taken only when dropped.
    body: Option<Source>,
    read_timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// A chunk arrived since the timer was last armed.
    progressed: bool,
    done: bool,
}

impl std::fmt::Debug for Chunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunks").field("done", &self.done).finish()
    }
}

impl Chunks {
    /// Reads `body`, waiting at most `read_timeout` each time.
    pub(super) fn new(body: Source, read_timeout: Duration) -> Self {
        Self {
            body: Some(body),
            read_timeout,
            timer: None,
            progressed: true,
            done: false,
        }
    }
}

impl Stream for Chunks {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(body) = this.body.as_mut().filter(|_| !this.done) else {
            return Poll::Ready(None);
        };
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.progressed = true;
                    match frame.into_data() {
                        Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                        _ => continue,
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(TransportError::Body(e))));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => break,
            }
        }
        let timer = match &mut this.timer {
            Some(timer) if this.progressed => {
                timer.as_mut().reset(Instant::now() + this.read_timeout);
                timer
            }
            Some(timer) => timer,
            None => this
                .timer
                .insert(Box::pin(tokio::time::sleep(this.read_timeout))),
        };
        this.progressed = false;
        if timer.as_mut().poll(cx).is_ready() {
            this.done = true;
            return Poll::Ready(Some(Err(TransportError::Timeout)));
        }
        Poll::Pending
    }
}

/// A stream's reader stops at its last event (`data: [DONE]`, `message_stop`),
/// before the body's end (HTTP/1.1's terminating chunk) is read; hyper closes a
/// connection whose body was dropped unfinished, so every such stream cost the
/// next request a new connection (a TLS handshake, with a real provider). So a
/// body dropped before its end is read to it first, when nothing but its end
/// follows: at once if that is already here, else on a task of its own within
/// [`DRAIN_WAIT`]. A body with more data to come (a stream abandoned midway) is
/// dropped, closing its connection.
impl Drop for Chunks {
    fn drop(&mut self) {
        let Some(mut body) = self.body.take().filter(|_| !self.done) else {
            return;
        };
        let mut slack = DRAIN_SLACK;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) if within(&mut slack, &frame) => {}
                Poll::Pending => break,
                // Its end (the connection goes back to the pool), an error, or
                // more data than an end.
                _ => return,
            }
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(DRAIN_WAIT, async {
                    while let Some(Ok(frame)) = body.frame().await {
                        if !within(&mut slack, &frame) {
                            return;
                        }
                    }
                })
                .await;
            });
        }
    }
}

/// Takes `frame`'s data from `slack`; false once it is spent.
fn within(slack: &mut usize, frame: &hyper::body::Frame<Bytes>) -> bool {
    let len = frame.data_ref().map_or(0, Bytes::len);
    match slack.checked_sub(len) {
        Some(left) => {
            *slack = left;
            true
        }
        None => false,
    }
}

/// Where a body comes from: hyper's pool (its connection in a task of its own),
/// or a connection the body drives itself.
pub(super) enum Source {
    Pooled(Incoming),
    Inline(InlineBody),
}

impl hyper::body::Body for Source {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Pooled(body) => Pin::new(body).poll_frame(cx),
            Self::Inline(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Pooled(body) => body.is_end_stream(),
            Self::Inline(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Self::Pooled(body) => body.size_hint(),
            Self::Inline(body) => body.size_hint(),
        }
    }
}
