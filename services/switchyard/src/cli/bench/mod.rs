//! `switchyard bench`: what Switchyard adds to a request, measured.
//!
//! Starts an emulated OpenAI-compatible upstream with fixed service times, then
//! drives open-loop load at fixed rates through the upstream directly and through
//! each gateway shape (all-in-one, five processes), over HTTP and gRPC, unary and
//! streaming; reports latency percentiles, the latency added over the direct path
//! in the same run, each gateway process's memory, and the highest rate each shape
//! sustains with p99 overhead under a limit. Everything runs on loopback, every
//! load is bounded in count and time, and nothing here asserts a speed: the
//! numbers are the output.
//!
//! The pieces: [`upstream`] (the emulated provider), [`gateway`] (the shapes as
//! child processes, with [`config`]), [`client`] (one request), [`load`] (the
//! open-loop generator), [`search`] (the max-rate search), [`rss`] (memory) and
//! [`report`] (table and JSON).

mod alarm;
mod cases;
mod client;
mod config;
mod cpu;
mod gateway;
mod ledger;
mod load;
mod report;
mod rss;
mod search;
mod upstream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tokio::time::Instant;

use cases::{Case, Protocol, STREAM_CHUNKS, STREAM_PACE, Shape};
use client::Target;
use gateway::Gateway;
use load::{LoadResult, LoadSpec};
use report::{CaseRow, MaxRateRow, ProcessRow, Report, SearchStep, Settings};
use search::Search;
use upstream::Upstream;

/// The key the gateway sends upstream (the emulated upstream accepts any).
const UPSTREAM_KEY: &str = "bench-upstream-key";
/// Longest wait, before a load, for the usage of earlier loads to reach the
/// ledger (an overload's backlog); the load then runs anyway.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// Options of `switchyard bench`. The global `--config` is not used: the bench
/// writes its own config for the gateways it starts.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Request rates (per second) every case runs at.
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000")]
    rates: Vec<u64>,
    /// Seconds of load per case and rate.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of unrecorded load at the same rate before each case.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds of quiet before each load (warm-up included), so what an earlier
    /// load left behind (usage still being shipped and written to the ledger, an
    /// overload's backlog) does not land in the next one's figures.
    #[arg(long, default_value_t = 2.0)]
    cooldown: f64,
    /// Paths measured. The direct path is measured whenever a gateway case needs
    /// its baseline, even if not listed.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "direct,all-in-one,five-process"
    )]
    shapes: Vec<Shape>,
    /// Protocols for the gateway shapes (the direct path is HTTP only).
    #[arg(long, value_delimiter = ',', default_value = "http,grpc")]
    protocols: Vec<Protocol>,
    /// Upstream cases.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "unary-0ms,unary-20ms,stream"
    )]
    cases: Vec<Case>,
    /// A tiny smoke run: one rate of 50/s for 1 s per case, no warm-up, no search.
    #[arg(long)]
    quick: bool,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Skip the max-rate search.
    #[arg(long)]
    no_search: bool,
    /// Cases the max-rate search runs for (each gateway shape and protocol).
    #[arg(long, value_delimiter = ',', default_value = "unary-0ms")]
    search_cases: Vec<Case>,
    /// First rate of the max-rate search (it doubles from here, then bisects).
    #[arg(long, default_value_t = 1000)]
    search_start: u64,
    /// Highest rate the max-rate search tries.
    #[arg(long, default_value_t = 64_000)]
    search_max: u64,
    /// Most steps of one max-rate search.
    #[arg(long, default_value_t = 8)]
    search_steps: usize,
    /// The max-rate search's limit on added p99, in milliseconds.
    #[arg(long, default_value_t = 5.0)]
    overhead_limit_ms: f64,
    /// Most requests in flight per case; more are counted as errors.
    #[arg(long, default_value_t = 10_000)]
    max_in_flight: usize,
    /// Seconds to wait for the last answers of a case; later ones are errors.
    #[arg(long, default_value_t = 5.0)]
    grace: f64,
    /// gRPC connections the load is spread over.
    #[arg(long, default_value_t = 4)]
    grpc_channels: usize,
    /// Worker threads of the emulated upstream.
    #[arg(long, default_value_t = 1)]
    upstream_threads: usize,
    /// Seconds a gateway shape may take to become ready.
    #[arg(long, default_value_t = 60.0)]
    ready_timeout: f64,
    /// Usage records put in each gateway's ledger before it starts (written
    /// once, then copied), to measure against a full ledger; 0: an empty one.
    #[arg(long, default_value_t = 0)]
    ledger_records: u64,
    /// Bytes of every request's prompt (padded with words); 0: a one-line
    /// prompt of 40 bytes.
    #[arg(long, default_value_t = 0)]
    prompt_bytes: usize,
}

fn seconds(name: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("--{name} must be a number of seconds"))
}

/// Drops repeated entries of a list option, keeping the first of each.
fn dedup<T: PartialEq + Clone>(list: &mut Vec<T>) {
    let mut seen = Vec::new();
    list.retain(|x| {
        let new = !seen.contains(x);
        if new {
            seen.push(x.clone());
        }
        new
    });
}

/// Runs the benchmark; Ctrl-C or SIGTERM stops it and kills the gateways it started.
pub async fn run(mut args: BenchArgs) -> anyhow::Result<()> {
    if args.quick {
        args.rates = vec![50];
        args.duration = 1.0;
        args.warmup = 0.0;
        args.cooldown = 0.0;
        args.no_search = true;
    }
    dedup(&mut args.rates);
    dedup(&mut args.shapes);
    dedup(&mut args.protocols);
    dedup(&mut args.cases);
    dedup(&mut args.search_cases);
    anyhow::ensure!(
        !args.rates.is_empty() && args.rates.iter().all(|r| *r > 0),
        "--rates must list positive rates"
    );
    anyhow::ensure!(args.max_in_flight > 0, "--max-in-flight must be positive");
    anyhow::ensure!(args.grpc_channels > 0, "--grpc-channels must be positive");
    // Ctrl-C or SIGTERM drops the run, which kills the gateways and removes their
    // directories.
    let interrupted = tokio_util::sync::CancellationToken::new();
    tokio::spawn(switchyard_bootstrap::signal_to_cancel(interrupted.clone()));
    tokio::select! {
        result = Bench::new(args)?.run() => result,
        () = interrupted.cancelled() => bail!("interrupted"),
    }
}

/// One run's state: the upstream, the clients, the direct baselines and the rows.
struct Bench {
    args: BenchArgs,
    spec: LoadSpec,
    warmup: Duration,
    cooldown: Duration,
    upstream: Upstream,
    http: client::HttpClient,
    /// The direct path's result per case and rate, measured once per run.
    direct: HashMap<(Case, u64), LoadResult>,
    report: Report,
    /// The pre-filled ledger, with `--ledger-records`.
    seed: Option<ledger::Seed>,
    /// The running gateway's ledger, read before each load.
    probe: Option<gateway::UsageProbe>,
    /// The running gateway's processes, whose CPU time each recorded load reads.
    gateway_pids: Vec<u32>,
    /// Every request's prompt (`--prompt-bytes`).
    prompt: String,
}

impl Bench {
    fn new(args: BenchArgs) -> anyhow::Result<Self> {
        let spec = LoadSpec {
            rate: 1,
            duration: seconds("duration", args.duration)?,
            max_in_flight: args.max_in_flight,
            grace: seconds("grace", args.grace)?,
        };
        let warmup = seconds("warmup", args.warmup)?;
        let cooldown = seconds("cooldown", args.cooldown)?;
        let upstream = Upstream::start(args.upstream_threads)?;
        let http = client::http_client();
        let report = Report {
            version: 1,
            settings: Settings {
                command: std::env::args().collect::<Vec<_>>().join(" "),
                cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
                rates: args.rates.clone(),
                duration_s: spec.duration.as_secs_f64(),
                warmup_s: warmup.as_secs_f64(),
                max_in_flight: spec.max_in_flight,
                grace_s: spec.grace.as_secs_f64(),
                overhead_limit_ms: args.overhead_limit_ms,
                stream_chunks: STREAM_CHUNKS,
                stream_pace_ms: u64::try_from(STREAM_PACE.as_millis()).unwrap_or(u64::MAX),
                ledger_records: args.ledger_records,
                prompt_bytes: args.prompt_bytes,
            },
            cases: Vec::new(),
            processes: Vec::new(),
            max_rate: Vec::new(),
        };
        let prompt = client::prompt(args.prompt_bytes);
        Ok(Self {
            args,
            spec,
            warmup,
            cooldown,
            upstream,
            http,
            direct: HashMap::new(),
            report,
            seed: None,
            probe: None,
            gateway_pids: Vec::new(),
            prompt,
        })
    }

    /// Every shape in order, then the table and the JSON. If a shape fails, what was
    /// measured before it is still printed and written, then the error returned.
    async fn run(mut self) -> anyhow::Result<()> {
        let records = self.args.ledger_records;
        if records > 0 && self.args.shapes.iter().any(|s| *s != Shape::Direct) {
            let seed = tokio::task::spawn_blocking(move || ledger::Seed::fill(records))
                .await
                .context("the ledger filler failed")??;
            self.seed = Some(seed);
        }
        let mut shapes = self.args.shapes.clone();
        shapes.sort();
        let mut outcome = Ok(());
        for shape in shapes {
            outcome = if shape == Shape::Direct {
                self.all_direct().await
            } else {
                self.gateway(shape).await
            };
            if outcome.is_err() {
                break;
            }
        }
        print!("{}", self.report.table());
        if let Some(path) = &self.args.json {
            let json = serde_json::to_vec_pretty(&self.report)?;
            std::fs::write(path, json)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("bench: JSON written to {}", path.display());
        }
        outcome
    }

    async fn all_direct(&mut self) -> anyhow::Result<()> {
        for case in self.args.cases.clone() {
            for rate in self.args.rates.clone() {
                self.direct(case, rate, false).await?;
            }
        }
        Ok(())
    }

    fn direct_target(&self, case: Case) -> anyhow::Result<Target> {
        Target::http(
            self.http.clone(),
            &self.upstream.base_url(),
            UPSTREAM_KEY,
            &case.upstream_model(),
            case,
            &self.prompt,
        )
    }

    /// The direct path's result at `rate` for `case`, measured (and its row added)
    /// the first time it is needed.
    async fn direct(&mut self, case: Case, rate: u64, search: bool) -> anyhow::Result<&LoadResult> {
        if !self.direct.contains_key(&(case, rate)) {
            let target = self.direct_target(case)?;
            probe(&target, Instant::now() + Duration::from_secs(10)).await?;
            // A gateway may be running meanwhile (idle): not part of this load.
            let (result, cpu) = self.measure(&target, case, rate, &[]).await?;
            let id = (Shape::Direct, Protocol::Http, case);
            self.log(id, &result);
            self.report
                .cases
                .push(CaseRow::new(id, &result, None, cpu, search));
            self.direct.insert((case, rate), result);
        }
        self.direct
            .get(&(case, rate))
            .context("the direct baseline is missing")
    }

    /// Cool-down, warm-up (unrecorded), then one recorded load, with the CPU time
    /// `gateway_pids` and this process spent during it.
    async fn measure(
        &self,
        target: &Target,
        case: Case,
        rate: u64,
        gateway_pids: &[u32],
    ) -> anyhow::Result<(LoadResult, cpu::Spent)> {
        let spec = LoadSpec { rate, ..self.spec };
        tokio::time::sleep(self.cooldown).await;
        if let Some(probe) = &self.probe {
            let waited = probe.settle(SETTLE_LIMIT).await?;
            if waited > Duration::from_secs(2) {
                eprintln!(
                    "bench: waited {:.1} s for the ledger to take the earlier loads' usage",
                    waited.as_secs_f64()
                );
            }
        }
        if !self.warmup.is_zero() {
            load::run(
                target,
                LoadSpec {
                    duration: self.warmup,
                    ..spec
                },
                case.streaming(),
            )
            .await?;
        }
        let meter = cpu::Meter::start(gateway_pids);
        let result = load::run(target, spec, case.streaming()).await?;
        Ok((result, meter.spent()))
    }

    fn log(&self, (shape, protocol, case): (Shape, Protocol, Case), r: &LoadResult) {
        let p99 = report::Percentiles::of(&r.total).map_or(f64::NAN, |p| p.p99);
        eprintln!(
            "bench: {:<12} {:<4} {:<10} {:>6}/s for {:.1} s: achieved {:.1}/s, {} errors, p99 {:.2} ms",
            shape.name(),
            protocol.name(),
            case.name(),
            r.spec.rate,
            r.spec.duration.as_secs_f64(),
            r.achieved_rps,
            r.errors,
            p99
        );
    }

    /// Every case of one gateway shape, then its max-rate search and memory.
    async fn gateway(&mut self, shape: Shape) -> anyhow::Result<()> {
        eprintln!("bench: starting {}", shape.name());
        let gateway = Gateway::start(
            shape,
            &self.upstream.base_url(),
            UPSTREAM_KEY,
            seconds("ready-timeout", self.args.ready_timeout)?,
            self.seed.as_ref(),
        )
        .await?;
        self.probe = Some(gateway.usage_probe().await?);
        self.gateway_pids = gateway.pids();
        let outcome = self.gateway_cases(shape, &gateway).await;
        self.probe = None;
        self.gateway_pids.clear();
        for (services, pid, idle, now) in gateway.memory() {
            self.report.processes.push(ProcessRow {
                shape,
                services,
                pid,
                idle_rss_kib: idle.rss_kib,
                peak_rss_kib: now.peak_kib,
            });
        }
        gateway.stop().await;
        outcome
    }

    async fn gateway_cases(&mut self, shape: Shape, gateway: &Gateway) -> anyhow::Result<()> {
        let key = gateway.create_key().await?;
        let mut channels = Vec::new();
        for _ in 0..self.args.grpc_channels {
            channels.push(gateway::connect(gateway.grpc).await?);
        }
        let edge = format!("http://{}/v1", gateway.edge);
        let mut targets = HashMap::new();
        for protocol in self.args.protocols.clone() {
            for case in self.args.cases.clone() {
                let target = match protocol {
                    Protocol::Http => {
                        let model = case.gateway_model();
                        Target::http(self.http.clone(), &edge, &key, model, case, &self.prompt)?
                    }
                    Protocol::Grpc => {
                        let model = case.gateway_model();
                        Target::grpc(&channels, &key, model, case, &self.prompt)?
                    }
                };
                probe(&target, Instant::now() + Duration::from_secs(30))
                    .await
                    .with_context(|| {
                        format!("{} {} {}", shape.name(), protocol.name(), case.name())
                    })?;
                targets.insert((protocol, case), target);
            }
        }
        // The search first, on a fresh gateway: the fixed rates include overloads
        // (streams at the highest rates) whose aftermath would skew its steps.
        if !self.args.no_search {
            for protocol in self.args.protocols.clone() {
                for case in self.args.search_cases.clone() {
                    if targets.contains_key(&(protocol, case)) {
                        self.search(&targets, (shape, protocol, case)).await?;
                    }
                }
            }
        }
        for protocol in self.args.protocols.clone() {
            for case in self.args.cases.clone() {
                for rate in self.args.rates.clone() {
                    self.gateway_case(&targets, (shape, protocol, case), rate, false)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// One gateway case at one rate, with its direct baseline; returns its row.
    async fn gateway_case(
        &mut self,
        targets: &HashMap<(Protocol, Case), Target>,
        id: (Shape, Protocol, Case),
        rate: u64,
        search: bool,
    ) -> anyhow::Result<CaseRow> {
        let (_, protocol, case) = id;
        let target = targets
            .get(&(protocol, case))
            .context("no target for the case")?;
        self.direct(case, rate, search).await?;
        let (result, cpu) = self.measure(target, case, rate, &self.gateway_pids).await?;
        self.log(id, &result);
        let direct = self.direct.get(&(case, rate));
        let row = CaseRow::new(id, &result, direct, cpu, search);
        self.report.cases.push(row.clone());
        Ok(row)
    }

    async fn search(
        &mut self,
        targets: &HashMap<(Protocol, Case), Target>,
        id: (Shape, Protocol, Case),
    ) -> anyhow::Result<()> {
        let (shape, protocol, case) = id;
        let mut search = Search::new(
            self.args.search_start,
            self.args.search_max,
            self.args.search_steps,
        );
        let mut steps = Vec::new();
        while let Some(rate) = search.next() {
            let row = self.gateway_case(targets, id, rate, true).await?;
            let pass = search::passes(&row, self.args.overhead_limit_ms);
            search.record(rate, pass);
            steps.push(SearchStep {
                rate,
                achieved_rps: row.achieved_rps,
                errors: row.errors,
                added_p99_ms: row.added_p99(),
                pass,
            });
        }
        self.report.max_rate.push(MaxRateRow {
            shape,
            protocol,
            case,
            max_rate_rps: search.best(),
            capped: search.capped(),
            steps,
        });
        Ok(())
    }
}

/// Sends one request at a time until one succeeds (bounded by `deadline`), so a
/// case starts on a working path with its connections open.
async fn probe(target: &Target, deadline: Instant) -> anyhow::Result<()> {
    loop {
        match target.call(0).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                bail!(
                    "no request succeeded before the deadline; last error: {}: {}",
                    e.kind,
                    e.detail
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
