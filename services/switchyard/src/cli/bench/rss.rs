//! Memory of a child process, from Linux's `/proc/<pid>/status`: `VmRSS` (resident
//! now) and `VmHWM` (the resident high-water mark since start). `None` where there
//! is no `/proc` or the process is gone.

use serde::Serialize;

/// Resident memory of one process, in KiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rss {
    /// `VmRSS`: resident now.
    pub rss_kib: Option<u64>,
    /// `VmHWM`: the peak so far.
    pub peak_kib: Option<u64>,
}

/// Reads `pid`'s memory now.
pub fn read(pid: u32) -> Rss {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => parse(&status),
        Err(_) => Rss::default(),
    }
}

fn parse(status: &str) -> Rss {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Rss {
        rss_kib: field("VmRSS"),
        peak_kib: field("VmHWM"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let status =
            "Name:\tswitchyard\nVmPeak:\t  900000 kB\nVmHWM:\t   24576 kB\nVmRSS:\t   20480 kB\n";
        let rss = parse(status);
        assert_eq!(rss.rss_kib, Some(20480));
        assert_eq!(rss.peak_kib, Some(24576));
        assert_eq!(parse("Name: x\n").rss_kib, None);
    }

    #[test]
    fn reads_this_process() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(read(std::process::id()).rss_kib.is_some_and(|kib| kib > 0));
        }
    }
}
