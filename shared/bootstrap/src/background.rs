//! A runtime of its own, on a thread at a lower scheduling priority, for work
//! that must not delay answers: shipping usage to metering and, in the
//! all-in-one process, writing it into the ledger.
//!
//! On the serving runtime that work ran in bursts (a batch every 50 ms: read,
//! encode, decode, a sled transaction) on the same worker threads as requests,
//! and a request arriving during a burst waited for it. On a thread of its own
//! at nice [`NICE`] the kernel runs it when the serving threads leave a CPU
//! free, and preempts it as soon as one of them wakes; under full load it still
//! gets about a tenth of a CPU, so usage keeps flowing. Threads it starts (the
//! blocking pool's, for ledger writes) inherit the priority.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The nice value of the background thread: a CFS weight of 110 against the
/// serving threads' 1024.
pub const NICE: i32 = 10;

/// The background runtime; stopping it (or dropping it) waits for its work.
pub struct BackgroundRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundRuntime {
    /// Starts the runtime on a thread named `name`.
    pub fn start(name: &str) -> io::Result<Self> {
        let (ready, handle) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread_name = name.to_string();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                if let Err(e) = rustix::process::setpriority_process(None, NICE) {
                    // Still correct at the normal priority, only less kind to answers.
                    tracing::warn!(error = %e, "cannot lower the background thread's priority");
                }
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name(thread_name)
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(runtime.handle().clone()));
                // Until told to stop, or until the `BackgroundRuntime` is gone.
                let _ = runtime.block_on(stopped);
            })?;
        let handle = handle
            .recv()
            .map_err(|_| io::Error::other("the background thread ended at start"))??;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where to spawn background work.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for BackgroundRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The runtime's shutdown waits for its blocking work (a ledger write
            // under way), so this join is short; a panic there was already logged.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_at_a_lower_priority_and_stops() {
        let background = BackgroundRuntime::start("test-background").unwrap();
        let nice = background
            .handle()
            .spawn(async { rustix::process::getpriority_process(None).unwrap() })
            .await
            .unwrap();
        assert_eq!(nice, NICE);
        let blocking_nice = background
            .handle()
            .spawn(async {
                tokio::task::spawn_blocking(|| rustix::process::getpriority_process(None).unwrap())
                    .await
                    .unwrap()
            })
            .await
            .unwrap();
        assert_eq!(blocking_nice, NICE, "its blocking threads inherit it");
        drop(background);
    }
}
