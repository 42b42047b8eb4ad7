//! Waiting, boundedly, for something the system promises to do within a stated time.

use std::time::Duration;

use tokio::time::Instant;

/// How soon an admin change (revoke, update, rotate, tenant disable) must reach a
/// router that cached the principal. docs/limits.md states the real bound — one
/// message of auth's change stream, well under a millisecond on loopback; this is
/// a ceiling generous enough for a loaded two-core CI machine, not a latency claim.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(1);

/// Checks `done` every 5 ms until it holds, for at most `bound`; panics naming
/// `what` if it never does. Returns how long it took.
pub async fn within(bound: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if done().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < bound, "not within {bound:?}: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
