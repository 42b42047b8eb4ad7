//! The messages of a server-streaming call, whichever way it was made.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Status};

/// A server's stream handed over in the same process, boxed so callers need not
/// name each server's stream type.
pub type LocalStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The replies of a server-streaming call: decoded from a channel, or taken
/// straight from the server's own stream in the same process.
///
/// Both read the same way a `tonic::Streaming` does: an `Err` whose code is OK is
/// how a server ends its stream with trailers, so it reads as the end; any other
/// `Err` is read once, then the stream is over. A local server's stream is dropped
/// the moment it ends, as the transport would drop it.
pub struct Replies<T> {
    source: Source<T>,
}

enum Source<T> {
    /// Boxed: a `Streaming` is some 230 bytes, a local stream a pointer.
    Remote(Box<tonic::Streaming<T>>),
    Local(LocalStream<T>),
    Ended,
}

impl<T> Replies<T> {
    /// The replies of a call made over a channel.
    pub fn remote(streaming: tonic::Streaming<T>) -> Self {
        Self {
            source: Source::Remote(Box::new(streaming)),
        }
    }

    /// The replies of a call served in this process.
    pub fn local(stream: LocalStream<T>) -> Self {
        Self {
            source: Source::Local(stream),
        }
    }

    /// The next message; `Ok(None)` once the stream has ended normally. The same
    /// contract as `tonic::Streaming::message`.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        self.next().await.transpose()
    }
}

impl<T> std::fmt::Debug for Replies<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match self.source {
            Source::Remote(_) => "remote",
            Source::Local(_) => "local",
            Source::Ended => "ended",
        };
        f.debug_struct("Replies").field("source", &source).finish()
    }
}

impl<T> Stream for Replies<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = match &mut self.source {
            Source::Remote(streaming) => return Pin::new(streaming.as_mut()).poll_next(cx),
            Source::Local(stream) => match stream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(message))) => return Poll::Ready(Some(Ok(message))),
                Poll::Ready(Some(Err(status))) if status.code() != Code::Ok => Some(Err(status)),
                Poll::Ready(_) => None,
            },
            Source::Ended => None,
        };
        self.source = Source::Ended;
        Poll::Ready(item)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Sets its flag when dropped, to see when the server's stream is released.
    struct Dropped(Arc<AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn local(items: Vec<Result<u32, Status>>, dropped: &Arc<AtomicBool>) -> Replies<u32> {
        let guard = Dropped(dropped.clone());
        let stream = tokio_stream::iter(items).map(move |item| {
            let _ = &guard;
            item
        });
        Replies::local(Box::pin(stream))
    }

    #[tokio::test]
    async fn an_ok_status_ends_a_local_stream_and_releases_it() {
        let dropped = Arc::new(AtomicBool::new(false));
        let mut replies = local(vec![Ok(1), Ok(2), Err(Status::ok("")), Ok(3)], &dropped);
        assert_eq!(replies.message().await.ok().flatten(), Some(1));
        assert_eq!(replies.message().await.ok().flatten(), Some(2));
        assert!(!dropped.load(Ordering::SeqCst));
        assert!(matches!(replies.message().await, Ok(None)));
        assert!(
            dropped.load(Ordering::SeqCst),
            "ended, the stream is dropped"
        );
        assert!(matches!(replies.message().await, Ok(None)));
    }

    #[tokio::test]
    async fn an_error_is_read_once_then_the_stream_is_over() {
        let dropped = Arc::new(AtomicBool::new(false));
        let mut replies = local(
            vec![Ok(1), Err(Status::unavailable("gone")), Ok(2)],
            &dropped,
        );
        assert_eq!(replies.message().await.ok().flatten(), Some(1));
        let error = replies.message().await.err().map(|s| s.code());
        assert_eq!(error, Some(Code::Unavailable));
        assert!(dropped.load(Ordering::SeqCst));
        assert!(matches!(replies.message().await, Ok(None)));
    }

    #[tokio::test]
    async fn a_stream_that_just_stops_ends() {
        let dropped = Arc::new(AtomicBool::new(false));
        let mut replies = local(vec![Ok(7)], &dropped);
        assert_eq!(replies.message().await.ok().flatten(), Some(7));
        assert!(matches!(replies.message().await, Ok(None)));
        assert!(dropped.load(Ordering::SeqCst));
    }
}
