//! A microsecond-precise sleep that runs on the async runtime itself: a one-shot
//! Linux `timerfd`, armed for the next due time and read through the runtime's own
//! `epoll`.
//!
//! The generator needs both precision and cheapness. The runtime's timer ticks in
//! whole milliseconds (requests would be released in bursts of `rate / 1000`), and
//! a pacing thread that sleeps precisely must hand every request to the runtime
//! from outside it: a wake-up of a parked worker thread, a context switch, per
//! request. A `timerfd` fires on the kernel's high-resolution timer (no timer
//! slack applies to it) and wakes the worker already waiting in `epoll`, which then
//! spawns the request on its own queue.

use std::io;

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::net::unix::pipe;
use tokio::time::Instant;

/// One reusable alarm; one waiter at a time.
pub struct Alarm {
    /// The timerfd, registered with the runtime's `epoll` for reading. Tokio's
    /// generic `AsyncFd` can only be built with `unsafe` (or a deprecated call);
    /// the pipe reader's unchecked constructor takes any owned descriptor and does
    /// exactly what is needed here: wait until readable, read, and clear the
    /// readiness on `WouldBlock`.
    fd: pipe::Receiver,
}

const DISARMED: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

impl Alarm {
    /// A disarmed alarm on `CLOCK_MONOTONIC` (the clock `Instant` reads).
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        Ok(Self {
            fd: pipe::Receiver::from_owned_fd_unchecked(fd)?,
        })
    }

    /// Returns at `due` or just after it; at once if `due` has passed.
    pub async fn sleep_until(&self, due: Instant) -> io::Result<()> {
        let now = Instant::now();
        if due <= now {
            return Ok(());
        }
        let wait = due - now;
        let value = Timespec {
            tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        timerfd_settime(
            &self.fd,
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: DISARMED,
                it_value: value,
            },
        )?;
        loop {
            self.fd.readable().await?;
            // The read returns the expiry count once the timer fired, and
            // `WouldBlock` before (a readiness left from the previous sleep), which
            // clears that readiness so the next `readable()` waits for this one.
            let mut expirations = [0u8; 8];
            match self.fd.try_read(&mut expirations) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn sleeps_until_the_due_time_and_again() {
        let alarm = Alarm::new().unwrap();
        for step in [300u64, 1_500, 50] {
            let due = Instant::now() + Duration::from_micros(step);
            alarm.sleep_until(due).await.unwrap();
            assert!(Instant::now() >= due);
        }
        // A due time already past returns without arming.
        alarm.sleep_until(Instant::now()).await.unwrap();
    }
}
