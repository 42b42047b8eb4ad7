//! The benchmark's results: one row per case measured, the memory of every gateway
//! process, and the highest rate each shape sustained; printed as tables and
//! written as JSON (the same numbers). Latencies are milliseconds with microsecond
//! resolution; "added" is a case's percentile minus the direct path's same
//! percentile at the same rate and upstream case, in the same run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::cases::{Case, Protocol, Shape};
use super::cpu::Spent;
use super::load::LoadResult;

/// Latency percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Some(Self {
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: h.max() as f64 / 1000.0,
        })
    }

    /// `self - base`, percentile by percentile.
    fn minus(self, base: Self) -> Self {
        Self {
            p50: self.p50 - base.p50,
            p90: self.p90 - base.p90,
            p99: self.p99 - base.p99,
            p999: self.p999 - base.p999,
            max: self.max - base.max,
        }
    }
}

/// One case at one rate.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRow {
    /// `direct`, `all-in-one` or `five-process`.
    pub shape: Shape,
    /// `http` or `grpc`.
    pub protocol: Protocol,
    /// `unary-0ms`, `unary-20ms` or `stream`.
    pub case: Case,
    /// Requests per second scheduled.
    pub rate: u64,
    /// Seconds of schedule.
    pub duration_s: f64,
    /// Whether this run was a step of the max-rate search.
    pub search: bool,
    /// Requests due.
    pub sent: u64,
    /// Requests answered successfully.
    pub ok: u64,
    /// Requests failed (`error_kinds` says how).
    pub errors: u64,
    /// Errors by kind (`status`, `transport`, `stream`, `overflow`, `straggler`, ...).
    pub error_kinds: BTreeMap<String, u64>,
    /// The first few error details.
    pub error_samples: Vec<String>,
    /// Successful answers per second.
    pub achieved_rps: f64,
    /// From due time to the end of the answer.
    pub latency_ms: Option<Percentiles>,
    /// From due time to the first content (streams only).
    pub ttft_ms: Option<Percentiles>,
    /// `latency_ms` minus the direct path's (gateway shapes only).
    pub added_ms: Option<Percentiles>,
    /// `ttft_ms` minus the direct path's (gateway streams only).
    pub added_ttft_ms: Option<Percentiles>,
    /// CPU time (user + system) of every gateway process during the recorded
    /// load, per request sent, in microseconds (gateway shapes on Linux only).
    /// Ledger writes of the warm-up's usage may land in it too.
    pub gateway_cpu_us_per_request: Option<f64>,
    /// CPU time of the bench process itself (load generator and emulated
    /// upstream) during the recorded load, per request sent, in microseconds
    /// (Linux only). On a 2-core machine this is the share the gateway cannot have.
    pub bench_cpu_us_per_request: Option<f64>,
}

impl CaseRow {
    /// The row of `result`; `direct` is the direct path's result at the same rate
    /// and case, for the added latency; `cpu` the CPU time spent during it.
    pub fn new(
        (shape, protocol, case): (Shape, Protocol, Case),
        result: &LoadResult,
        direct: Option<&LoadResult>,
        cpu: Spent,
        search: bool,
    ) -> Self {
        let per_request = |ms: Option<f64>| {
            ms.filter(|_| result.sent > 0)
                .map(|ms| ms * 1000.0 / result.sent as f64)
        };
        let latency = Percentiles::of(&result.total);
        let ttft = result.ttft.as_ref().and_then(Percentiles::of);
        let added = |mine: Option<Percentiles>, base: Option<Percentiles>| match (mine, base) {
            (Some(m), Some(b)) if shape != Shape::Direct => Some(m.minus(b)),
            _ => None,
        };
        let direct_latency = direct.and_then(|d| Percentiles::of(&d.total));
        let direct_ttft = direct.and_then(|d| d.ttft.as_ref().and_then(Percentiles::of));
        Self {
            shape,
            protocol,
            case,
            rate: result.spec.rate,
            duration_s: result.spec.duration.as_secs_f64(),
            search,
            sent: result.sent,
            ok: result.ok,
            errors: result.errors,
            error_kinds: result.error_kinds.clone(),
            error_samples: result.error_samples.clone(),
            achieved_rps: result.achieved_rps,
            latency_ms: latency,
            ttft_ms: ttft,
            added_ms: added(latency, direct_latency),
            added_ttft_ms: added(ttft, direct_ttft),
            gateway_cpu_us_per_request: per_request(cpu.gateway_ms),
            bench_cpu_us_per_request: per_request(cpu.bench_ms),
        }
    }

    /// The larger of the added p99 of the whole answer and of the first token.
    pub fn added_p99(&self) -> Option<f64> {
        let total = self.added_ms.map(|a| a.p99)?;
        Some(self.added_ttft_ms.map_or(total, |t| t.p99.max(total)))
    }
}

/// The memory of one gateway process.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessRow {
    /// The shape it belonged to.
    pub shape: Shape,
    /// `all` or the one service it ran.
    pub services: &'static str,
    /// Its pid during the run.
    pub pid: u32,
    /// Resident memory right after start-up (`VmRSS`), KiB.
    pub idle_rss_kib: Option<u64>,
    /// Peak resident memory after its shape's cases (`VmHWM`), KiB.
    pub peak_rss_kib: Option<u64>,
}

/// One step of the max-rate search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchStep {
    /// Requests per second scheduled.
    pub rate: u64,
    /// Successful answers per second.
    pub achieved_rps: f64,
    /// Failed requests.
    pub errors: u64,
    /// The larger added p99 (whole answer, first token), ms.
    pub added_p99_ms: Option<f64>,
    /// Whether the rate was sustained within the limit.
    pub pass: bool,
}

/// The highest rate a shape sustained for one protocol and case.
#[derive(Debug, Clone, Serialize)]
pub struct MaxRateRow {
    /// The shape.
    pub shape: Shape,
    /// The protocol.
    pub protocol: Protocol,
    /// The upstream case.
    pub case: Case,
    /// The highest rate that passed; `None` if none did.
    pub max_rate_rps: Option<u64>,
    /// Whether the search stopped at `--search-max` still passing.
    pub capped: bool,
    /// Every step, in order.
    pub steps: Vec<SearchStep>,
}

/// How the run was set up.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// The command line.
    pub command: String,
    /// Logical CPUs the machine reports.
    pub cpus: usize,
    /// Rates of the fixed-rate cases.
    pub rates: Vec<u64>,
    /// Seconds of schedule per case.
    pub duration_s: f64,
    /// Seconds of warm-up load before each case (not recorded).
    pub warmup_s: f64,
    /// Most requests in flight per case.
    pub max_in_flight: usize,
    /// Seconds waited for stragglers after each case.
    pub grace_s: f64,
    /// The max-rate search's limit on added p99, ms.
    pub overhead_limit_ms: f64,
    /// Content chunks of the stream case.
    pub stream_chunks: u32,
    /// Milliseconds between stream chunks.
    pub stream_pace_ms: u64,
    /// Usage records in each gateway's ledger before it started.
    pub ledger_records: u64,
    /// Bytes of every request's prompt (0: the one-line default).
    pub prompt_bytes: usize,
}

/// Everything one `switchyard bench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Version of this JSON layout.
    pub version: u32,
    /// The run's settings.
    pub settings: Settings,
    /// Every case measured, in run order.
    pub cases: Vec<CaseRow>,
    /// Every gateway process.
    pub processes: Vec<ProcessRow>,
    /// The max-rate search's results.
    pub max_rate: Vec<MaxRateRow>,
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// A per-request CPU figure, on the first line of a row only.
fn micros(line: usize, v: Option<f64>) -> String {
    match (line, v) {
        (0, Some(us)) => format!("{us:.0}"),
        _ => "-".into(),
    }
}

fn added(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:+.2}"))
}

fn kib_to_mib(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}", v as f64 / 1024.0))
}

impl Report {
    /// The tables, as printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:<5} {:<10} {:>6} {:>9} {:>6} {:<6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "shape",
            "proto",
            "case",
            "rate",
            "achieved",
            "errors",
            "metric",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "+p50",
            "+p99",
            "cpu µs",
            "bench µs"
        );
        for row in &self.cases {
            let lines = [
                ("total", row.latency_ms, row.added_ms),
                ("ttft", row.ttft_ms, row.added_ttft_ms),
            ];
            for (i, (metric, p, a)) in lines.into_iter().enumerate() {
                if i == 1 && row.ttft_ms.is_none() {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "{:<12} {:<5} {:<10} {:>6} {:>9.1} {:>6} {:<6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                    row.shape.name(),
                    row.protocol.name(),
                    row.case.name(),
                    if row.search {
                        format!("{}*", row.rate)
                    } else {
                        row.rate.to_string()
                    },
                    row.achieved_rps,
                    row.errors,
                    metric,
                    ms(p.map(|p| p.p50)),
                    ms(p.map(|p| p.p90)),
                    ms(p.map(|p| p.p99)),
                    ms(p.map(|p| p.p999)),
                    added(a.map(|a| a.p50)),
                    added(a.map(|a| a.p99)),
                    micros(i, row.gateway_cpu_us_per_request),
                    micros(i, row.bench_cpu_us_per_request),
                );
            }
        }
        let _ = writeln!(
            out,
            "latency in ms from each request's scheduled time; +p50/+p99: added over direct at the same rate; \
             cpu µs: the gateway processes' CPU time per request; bench µs: the load generator's and \
             emulated upstream's; * = max-rate search step"
        );
        if !self.processes.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<12} {:<17} {:>8} {:>14} {:>14}",
                "shape", "process", "pid", "idle RSS MiB", "peak RSS MiB"
            );
            for p in &self.processes {
                let _ = writeln!(
                    out,
                    "{:<12} {:<17} {:>8} {:>14} {:>14}",
                    p.shape.name(),
                    p.services,
                    p.pid,
                    kib_to_mib(p.idle_rss_kib),
                    kib_to_mib(p.peak_rss_kib)
                );
            }
        }
        if !self.max_rate.is_empty() {
            let _ = writeln!(
                out,
                "\nhighest rate with added p99 < {} ms, no errors, achieved >= 95%:",
                self.settings.overhead_limit_ms
            );
            for m in &self.max_rate {
                let steps: Vec<String> = m
                    .steps
                    .iter()
                    .map(|s| format!("{}{}", s.rate, if s.pass { "✓" } else { "✗" }))
                    .collect();
                let best = m
                    .max_rate_rps
                    .map_or_else(|| "none".to_string(), |r| format!("{r}/s"));
                let _ = writeln!(
                    out,
                    "{:<12} {:<5} {:<10} {:>10}{}  (steps: {})",
                    m.shape.name(),
                    m.protocol.name(),
                    m.case.name(),
                    best,
                    if m.capped { " (capped)" } else { "" },
                    steps.join(" ")
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percentiles_and_added_latency() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let p = Percentiles::of(&h).unwrap();
        assert!((p.p50 - 5.0).abs() < 0.01, "{p:?}");
        assert!((p.p99 - 9.9).abs() < 0.01, "{p:?}");
        let d = p.minus(p);
        assert_eq!(d.p99, 0.0);
        let empty = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        assert!(Percentiles::of(&empty).is_none());
    }
}
