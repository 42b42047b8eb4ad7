//! CPU time of child processes, from Linux's `/proc/<pid>/stat` (user plus system
//! time of every thread, living or exited). `None` where there is no `/proc` or a
//! process is gone.
//!
//! Why: on a shared machine a load's p99 moves by milliseconds between runs of the
//! same build, while the CPU time the gateway spends per request barely moves; it
//! is the figure that shows whether a change made the request path cheaper.

/// The kernel's unit for the times in `/proc/<pid>/stat`: `USER_HZ`, which Linux
/// fixes at 100 per second in its user-space ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time spent during one recorded load, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spent {
    /// The gateway processes metered (`None` if none were, or without `/proc`).
    pub gateway_ms: Option<f64>,
    /// This process: the load generator and the emulated upstream. On a 2-core
    /// machine their share bounds the rate the gateway can be driven at.
    pub bench_ms: Option<f64>,
}

/// Reads the CPU time of `gateway_pids` and of this process now; [`Meter::spent`]
/// gives what each used since.
pub struct Meter<'a> {
    gateway_pids: &'a [u32],
    gateway_ms: Option<f64>,
    bench_ms: Option<f64>,
}

impl<'a> Meter<'a> {
    /// Starts measuring.
    pub fn start(gateway_pids: &'a [u32]) -> Self {
        Self {
            gateway_pids,
            gateway_ms: used_ms(gateway_pids),
            bench_ms: used_ms(&[std::process::id()]),
        }
    }

    /// What each used since [`Meter::start`].
    pub fn spent(&self) -> Spent {
        let since = |now: Option<f64>, then: Option<f64>| now.zip(then).map(|(n, t)| n - t);
        Spent {
            gateway_ms: since(used_ms(self.gateway_pids), self.gateway_ms),
            bench_ms: since(used_ms(&[std::process::id()]), self.bench_ms),
        }
    }
}

/// CPU time `pids` used so far, summed, in milliseconds.
pub fn used_ms(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    let mut ticks = 0;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        ticks += parse_ticks(&stat)?;
    }
    Some(ticks as f64 * 1000.0 / TICKS_PER_SECOND)
}

/// `utime + stime` of one `stat` line. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted
/// from the last `)`: state is the first after it, utime the 12th, stime the 13th.
fn parse_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_past_an_awkward_command_name() {
        let stat = "4242 (sw (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 75 0 0 20 0 9 0 100 1000 200 18446744073709551615";
        assert_eq!(parse_ticks(stat), Some(325));
        assert_eq!(parse_ticks("4242 (sw) S 1"), None);
        assert_eq!(parse_ticks("no parenthesis"), None);
    }

    #[test]
    fn reads_this_process() {
        if std::path::Path::new("/proc/self/stat").exists() {
            // A tick is 10 ms, so a young process may read 0: only that it reads.
            assert!(used_ms(&[std::process::id()]).is_some());
        }
        assert_eq!(used_ms(&[]), None);
    }

    #[test]
    fn a_meter_counts_this_process_and_no_gateway_without_pids() {
        let meter = Meter::start(&[]);
        assert_eq!(meter.spent().gateway_ms, None);
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        // Spin until this process's time moves (it counts in 10 ms ticks, and a
        // busy machine may give this thread less than a tick per tick of wall
        // time); bounded, so a meter that never moves fails instead of hanging.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut spins = 0u64;
        let spent = loop {
            for _ in 0..100_000 {
                spins = std::hint::black_box(spins + 1);
            }
            let spent = meter.spent();
            if spent.bench_ms.is_some_and(|ms| ms > 0.0) || std::time::Instant::now() > give_up {
                break spent;
            }
        };
        assert!(spent.bench_ms.is_some_and(|ms| ms > 0.0), "{spent:?}");
        assert_eq!(spent.gateway_ms, None);
    }
}
