//! Wake-ups a task gives itself during its own poll, answered in place.
//!
//! A future often wakes its own task while being polled: hyper's HTTP/1 server
//! leaves its task's waker in a request body's channel and the handler that
//! reads the body wakes it; a connection polled by the request that uses it
//! (the provider adapter's plain-HTTP upstreams) hands each body chunk through
//! a channel whose sender and receiver are the same task. Tokio answers such a
//! wake by putting the task at the back of its worker's queue and waking an
//! idle worker thread to come and steal it: a futex call, a thread that wakes
//! and parks again, and a second trip through the scheduler, all for nothing.
//! That was about a sixth of the edge's CPU per request at 2,000 requests/s.
//!
//! [`SelfWakes::poll`] polls with a waker of its own. A wake-up that comes
//! while the poll runs is only noted, and the poll is repeated before it
//! returns, at most [`REPOLLS`] times in a row (after that the wake-up goes to
//! the task, so a future that keeps waking itself still lets other tasks run).
//! A wake-up at any other time, from any thread, goes straight to the task
//! that polled last. [`OwnWakes`] wraps a whole future that way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// How many times in a row a poll woken by itself is repeated before the wake-up
/// is passed to the runtime.
pub const REPOLLS: usize = 4;

/// Not being polled: a wake-up goes to the task.
const IDLE: u8 = 0;
/// Being polled: a wake-up is noted for the poll loop.
const POLLING: u8 = 1;
/// Being polled, and woken since the poll began.
const WOKEN: u8 = 2;

/// A waker that notes wake-ups during [`SelfWakes::poll`] and passes the
/// others on; one per long-lived thing polled (a connection, a task), not per
/// poll.
pub struct SelfWakes {
    hook: Arc<Hook>,
    waker: Waker,
}

impl Default for SelfWakes {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for SelfWakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfWakes").finish_non_exhaustive()
    }
}

impl SelfWakes {
    /// A hook not yet used by any task.
    pub fn new() -> Self {
        let hook = Arc::new(Hook {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        Self {
            waker: Waker::from(hook.clone()),
            hook,
        }
    }

    /// Runs `poll` with this hook's waker, again at once when it woke itself
    /// meanwhile (see the crate docs); `cx` is the task's, which wake-ups at
    /// other times reach.
    pub fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.hook.task.register(cx.waker());
        let mut inner = Context::from_waker(&self.waker);
        for _ in 0..=REPOLLS {
            self.hook.state.store(POLLING, Ordering::SeqCst);
            if let Poll::Ready(output) = poll(&mut inner) {
                self.hook.state.store(IDLE, Ordering::SeqCst);
                return Poll::Ready(output);
            }
            // Not woken while polled: whatever it waits for holds our waker.
            if self
                .hook
                .state
                .compare_exchange(POLLING, IDLE, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        // Still waking itself: let the runtime run others first.
        self.hook.state.store(IDLE, Ordering::SeqCst);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// `F`, polled again in place when it wakes itself; see the crate docs.
pub struct OwnWakes<F> {
    future: Pin<Box<F>>,
    wakes: SelfWakes,
}

impl<F: Future> OwnWakes<F> {
    /// Wraps `future`.
    pub fn new(future: F) -> Self {
        Self {
            future: Box::pin(future),
            wakes: SelfWakes::new(),
        }
    }
}

impl<F: Future> Future for OwnWakes<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let future = &mut this.future;
        this.wakes.poll(cx, |inner| future.as_mut().poll(inner))
    }
}

/// Where the wrapped future's wake-ups go.
struct Hook {
    state: AtomicU8,
    /// The task's own waker, from its latest poll.
    task: AtomicWaker,
}

impl Wake for Hook {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::SeqCst, Ordering::SeqCst)
        {
            // Noted: the poll loop polls again.
            Ok(_) => {}
            // Already noted.
            Err(WOKEN) => {}
            // Idle: the task must run. (A poll starting meanwhile registered the
            // waker first, so this reaches it, at worst as a spare wake-up.)
            Err(_) => self.task.wake(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Counts the wake-ups of the task that polls with it.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn context(count: &Arc<Count>) -> Waker {
        Waker::from(count.clone())
    }

    /// Pending `wakes` times, waking itself each time, then ready.
    fn waking_itself(wakes: usize) -> impl Future<Output = usize> {
        let mut polls = 0;
        std::future::poll_fn(move |cx| {
            polls += 1;
            if polls > wakes {
                return Poll::Ready(polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }

    #[test]
    fn a_wake_during_its_own_poll_is_answered_in_place() {
        let count = Arc::new(Count::default());
        let waker = context(&count);
        let mut cx = Context::from_waker(&waker);
        let mut future = OwnWakes::new(waking_itself(REPOLLS));
        assert_eq!(
            Pin::new(&mut future).poll(&mut cx),
            Poll::Ready(REPOLLS + 1)
        );
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "the task was never woken"
        );
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_to_the_runtime() {
        let count = Arc::new(Count::default());
        let waker = context(&count);
        let mut cx = Context::from_waker(&waker);
        let mut future = OwnWakes::new(waking_itself(3 * REPOLLS));
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "passed on once");
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        assert_eq!(
            Pin::new(&mut future).poll(&mut cx),
            Poll::Ready(3 * REPOLLS + 1)
        );
    }

    #[test]
    fn a_wake_between_polls_reaches_the_task() {
        let count = Arc::new(Count::default());
        let waker = context(&count);
        let mut cx = Context::from_waker(&waker);
        let (tx, mut rx) = futures::channel::oneshot::channel::<u8>();
        let mut future = OwnWakes::new(async move { (&mut rx).await.ok() });
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        tx.send(7).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(Some(7)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_from_other_threads_are_never_lost() {
        // Each round a thread wakes the future while it may be mid-poll; the
        // future must see every value, however the two interleave.
        for _ in 0..200 {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
            let sender = std::thread::spawn(move || {
                for i in 0..50 {
                    tx.send(i).unwrap();
                    std::hint::spin_loop();
                }
            });
            let seen = OwnWakes::new(async move {
                let mut seen = 0;
                while rx.recv().await.is_some() {
                    seen += 1;
                }
                seen
            });
            let seen = tokio::time::timeout(std::time::Duration::from_secs(10), seen).await;
            sender.join().unwrap();
            assert_eq!(seen.ok(), Some(50));
        }
    }
}
