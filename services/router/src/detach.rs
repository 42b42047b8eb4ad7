//! Work that belongs to one request but must outlive its handler.
//!
//! A routed request's usage record has to be written however the request ends,
//! including when the client goes away and tonic drops the handler (or the
//! response stream). Spawning a task per request for that costs, on every call, a
//! copy of the future into the task, a wake-up across worker threads and a channel
//! back; [`Detach`] instead polls the work in place, in the caller's task, and
//! spawns it only if it is dropped before it finished. [`Driven`] does the same for
//! a response stream whose items a producer sends through a channel.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type Work<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A future polled in place that, if dropped before it finishes, cancels `gone`
/// (so the work knows its caller left) and finishes in a task of its own.
pub(crate) struct Detach<T: Send + 'static> {
    work: Option<Work<T>>,
    gone: Option<CancellationToken>,
}

impl<T: Send + 'static> Detach<T> {
    /// `work`, told through `gone` (if given) when its caller drops it.
    pub(crate) fn new(
        work: impl Future<Output = T> + Send + 'static,
        gone: Option<CancellationToken>,
    ) -> Self {
        Self {
            work: Some(Box::pin(work)),
            gone,
        }
    }
}

impl<T: Send + 'static> Future for Detach<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(work) = self.work.as_mut() else {
            // Finished before: nothing will ever be ready again.
            return Poll::Pending;
        };
        let output = ready!(work.as_mut().poll(cx));
        self.work = None;
        Poll::Ready(output)
    }
}

impl<T: Send + 'static> Drop for Detach<T> {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        if let Some(gone) = &self.gone {
            gone.cancel();
        }
        // Outside a runtime (the process is shutting down) there is nowhere left
        // to finish; the outbox's journal replay covers what was already written.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                work.await;
            });
        }
    }
}

/// A response stream that drives its own producer: each poll first lets the
/// producer run (it sends into the channel whose receiving end this is), then
/// takes the next item. Dropped early, the producer finishes in a task and sees
/// the channel closed, which is how it learns the client went away.
pub struct Driven<T: Send + 'static> {
    producer: Detach<()>,
    items: mpsc::Receiver<T>,
}

impl<T: Send + 'static> Driven<T> {
    /// The items `producer` sends to the sender of `items`.
    pub(crate) fn new(
        producer: impl Future<Output = ()> + Send + 'static,
        items: mpsc::Receiver<T>,
    ) -> Self {
        Self {
            producer: Detach::new(producer, None),
            items,
        }
    }
}

impl<T: Send + 'static> Stream for Driven<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Items already sent are taken without running the producer.
        if let Some(taken) = take(&mut self.items) {
            return Poll::Ready(taken);
        }
        // Ready or not (a finished producer stays pending), what it sends, and the
        // channel's end once it dropped its sender, come through `items`.
        let _ = Pin::new(&mut self.producer).poll(cx);
        match take(&mut self.items) {
            Some(taken) => Poll::Ready(taken),
            // Nothing sent: the producer is waiting for something (the upstream, a
            // timer, the client's side of the channel) and registered this task's
            // waker with it; only its next poll, which is ours, can send. The
            // channel gets no waker of its own: with one, every send would wake
            // the very task that is sending, which tokio answers by re-queueing
            // the task after its poll and waking an idle worker thread to steal
            // it, once per chunk.
            None => Poll::Pending,
        }
    }
}

/// The next item, or `Some(None)` once the channel is closed and empty, without
/// registering a waker; `None` while it is empty and open.
fn take<T>(items: &mut mpsc::Receiver<T>) -> Option<Option<T>> {
    match items.try_recv() {
        Ok(item) => Some(Some(item)),
        Err(mpsc::error::TryRecvError::Disconnected) => Some(None),
        Err(mpsc::error::TryRecvError::Empty) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::StreamExt;
    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn finished_in_place_nothing_is_spawned_and_the_token_stays() {
        let gone = CancellationToken::new();
        let output = Detach::new(async { 7 }, Some(gone.clone())).await;
        assert_eq!(output, 7);
        assert!(!gone.is_cancelled());
    }

    #[tokio::test]
    async fn dropped_early_it_finishes_in_a_task_and_knows_why() {
        let gone = CancellationToken::new();
        let (release, wait) = oneshot::channel::<()>();
        let (done_tx, done) = oneshot::channel::<bool>();
        let watched = gone.clone();
        let work = Detach::new(
            async move {
                let _ = wait.await;
                let _ = done_tx.send(watched.is_cancelled());
            },
            Some(gone.clone()),
        );
        // The caller polls once, then goes away.
        let mut work = Box::pin(work);
        assert!(futures::poll!(work.as_mut()).is_pending());
        drop(work);
        assert!(gone.is_cancelled());
        release.send(()).unwrap();
        assert!(done.await.unwrap(), "the work ran on and saw the token");
    }

    #[tokio::test]
    async fn a_driven_stream_yields_what_its_producer_sends_then_ends() {
        let (tx, rx) = mpsc::channel(1);
        let producer = async move {
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
        };
        let items: Vec<i32> = Driven::new(producer, rx).collect().await;
        assert_eq!(items, [0, 1, 2, 3, 4]);
    }

    /// Counts the wake-ups of the task that polls with it.
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn what_the_producer_sends_does_not_wake_the_task_that_drives_it() {
        let (tx, rx) = mpsc::channel(4);
        let (go, mut went) = mpsc::unbounded_channel::<()>();
        let producer = async move {
            while went.recv().await.is_some() {
                if tx.send(1).await.is_err() {
                    return;
                }
            }
        };
        let mut stream = Box::pin(Driven::new(producer, rx));
        let wakes = Arc::new(Wakes(Default::default()));
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(stream.as_mut().poll_next(&mut cx).is_pending());
        for round in 1..=3 {
            // The producer's own wait wakes the task once...
            go.send(()).unwrap();
            assert_eq!(wakes.0.load(Ordering::SeqCst), round);
            // ...and what it then sends, in that poll, wakes it no more.
            assert_eq!(stream.as_mut().poll_next(&mut cx), Poll::Ready(Some(1)));
            assert!(stream.as_mut().poll_next(&mut cx).is_pending());
            assert_eq!(wakes.0.load(Ordering::SeqCst), round);
        }
        drop(go);
        assert_eq!(stream.as_mut().poll_next(&mut cx), Poll::Ready(None));
    }

    #[tokio::test]
    async fn a_driven_stream_dropped_early_lets_its_producer_see_the_client_leave() {
        let (tx, rx) = mpsc::channel(1);
        let saw_closed = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = oneshot::channel::<()>();
        let flag = saw_closed.clone();
        let producer = async move {
            tx.send(1).await.unwrap();
            tx.closed().await;
            flag.store(true, Ordering::SeqCst);
            let _ = done_tx.send(());
        };
        let mut stream = Driven::new(producer, rx);
        assert_eq!(stream.next().await, Some(1));
        drop(stream);
        done.await.unwrap();
        assert!(saw_closed.load(Ordering::SeqCst));
    }
}
