//! Plain-HTTP/1.1 upstream connections driven by the request that uses them.
//!
//! hyper's pooled client runs every connection in a task of its own and hands
//! the answer's head and each body chunk to the request's task through
//! channels: every chunk of a stream wakes two tasks, one after the other. For
//! `http://` upstreams without a proxy (self-hosted servers beside the gateway,
//! where a hop's cost shows most) a connection is instead polled by whoever
//! polls its request and then its body, so the upstream socket wakes the task
//! that writes the answer to the client directly. A connection whose answer was
//! read to its end goes back to an idle list; one found closed there is
//! dropped, and a request that a reused connection refused before sending is
//! sent again on a new one. A request or body dropped midway (the client left)
//! drops its connection, which closes it: what tells the provider to stop. As
//! with hyper's pool, a server closing an idle connection at the very moment a
//! request is written on it fails that request (a POST is not sent twice);
//! upstreams keep idle connections far longer than the gap between requests.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::uri::{Authority, Parts as UriParts};
use http::{Request, Uri};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use switchyard_wakes::SelfWakes;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::client::TransportError;

/// Connections kept idle, across all hosts of one provider instance.
const MAX_IDLE: usize = 256;

type Connection = http1::Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One connection: the handle requests are sent through and the connection
/// itself, which only makes progress when polled.
struct Link {
    authority: Authority,
    send: http1::SendRequest<Full<Bytes>>,
    /// `None` once it has ended (closed by the server, or failed).
    conn: Option<Pin<Box<Connection>>>,
    /// The connection hands the answer's head and each chunk to the request
    /// through channels whose both ends are polled by the same task: those
    /// wake-ups are answered in place.
    wakes: SelfWakes,
    idle_since: Instant,
}

/// Polls the connection: reads and writes what it can. False once it has
/// ended; it is dropped then, which fails a request still waiting on it.
fn drive(conn: &mut Option<Pin<Box<Connection>>>, cx: &mut Context<'_>) -> bool {
    let Some(open) = conn else {
        return false;
    };
    if open.as_mut().poll(cx).is_ready() {
        *conn = None;
        return false;
    }
    true
}

/// The idle connections of one provider instance, and how to open new ones.
pub(super) struct Inline {
    /// Oldest first.
    idle: Mutex<VecDeque<Link>>,
    connect_timeout: Duration,
    idle_timeout: Duration,
}

impl std::fmt::Debug for Inline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inline").finish_non_exhaustive()
    }
}

impl Inline {
    /// An empty pool.
    pub(super) fn new(connect_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(VecDeque::new()),
            connect_timeout,
            idle_timeout,
        })
    }

    /// Sends `request` (an absolute `http://` URI) and waits for the answer's
    /// head; the body drives the connection on.
    pub(super) async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(http::response::Parts, InlineBody), TransportError> {
        let mut parts = UriParts::from(std::mem::take(request.uri_mut()));
        let Some(authority) = parts.authority.take() else {
            return Err(TransportError::Url);
        };
        parts.scheme = None;
        *request.uri_mut() = Uri::from_parts(parts).map_err(|_| TransportError::Url)?;
        if !request.headers().contains_key(HOST) {
            let host =
                HeaderValue::from_str(authority.as_str()).map_err(|_| TransportError::Url)?;
            request.headers_mut().insert(HOST, host);
        }
        let (mut link, mut reused) = match self.checkout(&authority) {
            Some(link) => (link, true),
            None => (self.dial(&authority).await?, false),
        };
        loop {
            let mut sent = std::pin::pin!(link.send.try_send_request(request));
            let answer = poll_fn(|cx| {
                link.wakes.poll(cx, |cx| {
                    drive(&mut link.conn, cx);
                    sent.as_mut().poll(cx)
                })
            })
            .await;
            match answer {
                Ok(answer) => {
                    let (head, body) = answer.into_parts();
                    let body = InlineBody {
                        body,
                        link: Some(link),
                        pool: Arc::downgrade(self),
                    };
                    return Ok((head, body));
                }
                Err(mut failed) => match failed.take_message() {
                    // A reused connection closed before the request left: once
                    // more, on a new one.
                    Some(unsent) if reused => {
                        request = unsent;
                        link = self.dial(&authority).await?;
                        reused = false;
                    }
                    _ => return Err(TransportError::Send(failed.into_error())),
                },
            }
        }
    }

    /// The most recently idled connection to `authority` that is still open.
    fn checkout(&self, authority: &Authority) -> Option<Link> {
        let mut noop = Context::from_waker(Waker::noop());
        loop {
            let mut link = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                let at = idle.iter().rposition(|link| link.authority == *authority)?;
                idle.remove(at)?
            };
            // Polling notices a close the server sent while it sat idle.
            if link.idle_since.elapsed() < self.idle_timeout && drive(&mut link.conn, &mut noop) {
                return Some(link);
            }
        }
    }

    /// Opens a new connection to `authority`.
    async fn dial(&self, authority: &Authority) -> Result<Link, TransportError> {
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| {
                TransportError::Dial(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                ))
            })?
            .map_err(TransportError::Dial)?;
        tcp.set_nodelay(true).map_err(TransportError::Dial)?;
        let (send, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(TransportError::Send)?;
        Ok(Link {
            authority: authority.clone(),
            send,
            conn: Some(Box::pin(conn)),
            wakes: SelfWakes::new(),
            idle_since: Instant::now(),
        })
    }

    /// Keeps `link` for the next request, if it is still open and there is room.
    fn put(&self, mut link: Link) {
        if link.conn.is_none() {
            return;
        }
        link.idle_since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // The oldest go first: past the idle timeout, or to make room.
        while idle.front().is_some_and(|old| {
            idle.len() >= MAX_IDLE || old.idle_since.elapsed() >= self.idle_timeout
        }) {
            idle.pop_front();
        }
        idle.push_back(link);
    }

    /// Connections waiting for a request.
    #[cfg(test)]
    pub(super) fn idle_connections(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// An answer's body; polling it drives its connection, which goes back to the
/// pool when the body has been read to its end.
pub(super) struct InlineBody {
    body: Incoming,
    link: Option<Link>,
    pool: Weak<Inline>,
}

impl InlineBody {
    fn ended(
        &mut self,
        frame: Option<Result<Frame<Bytes>, hyper::Error>>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &frame {
            None => {
                if let (Some(link), Some(pool)) = (self.link.take(), self.pool.upgrade()) {
                    pool.put(link);
                }
            }
            // A broken body leaves its connection unusable.
            Some(Err(_)) => self.link = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }
}

impl Body for InlineBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let body = &mut this.body;
        let Some(link) = &mut this.link else {
            // Ended, or broken: nothing left to drive.
            return Pin::new(body).poll_frame(cx);
        };
        let frame = link.wakes.poll(cx, |cx| {
            // A frame already read needs no I/O; polling also asks for the next.
            if let Poll::Ready(frame) = Pin::new(&mut *body).poll_frame(cx) {
                return Poll::Ready(frame);
            }
            drive(&mut link.conn, cx);
            Pin::new(&mut *body).poll_frame(cx)
        });
        match frame {
            Poll::Ready(frame) => this.ended(frame),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
