//! A usage ledger filled before the gateways start (`--ledger-records`): the same
//! loads run against a ledger that already holds that many records, to show
//! whether a request's cost depends on the ledger's size.
//!
//! The ledger ([`synthetic::record`]s, the same as metering's `ledger_bench`) is
//! written once per run, through metering's own [`SledLedger`]
//! (batches in one transaction each, records, id index and aggregates, as
//! `RecordUsage` writes them), and copied into each gateway shape's metering
//! directory before that shape starts.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use switchyard_metering::{Ledger, SledLedger, synthetic};

/// Records per transaction while filling.
const BATCH: u64 = 1_024;
/// The filled records are spread over the 30 days before the run.
const SPAN_SECS: i64 = 30 * 24 * 3_600;

/// A filled ledger, removed with the run.
pub struct Seed {
    dir: tempfile::TempDir,
}

impl Seed {
    /// Writes `records` usage records into a new ledger (blocking: run it off the
    /// async workers). Prints its progress to stderr.
    pub fn fill(records: u64) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("switchyard-bench-ledger-")
            .tempdir()
            .context("cannot create a temporary directory for the ledger")?;
        let path = dir
            .path()
            .to_str()
            .context("the temporary path is not UTF-8")?;
        let ledger = SledLedger::open(path)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let started = Instant::now();
        let mut next = 0;
        while next < records {
            let end = (next + BATCH).min(records);
            let batch: Vec<_> = (next..end)
                .map(|i| synthetic::record(i, records, now - SPAN_SECS, SPAN_SECS))
                .collect();
            ledger.insert_batch(&batch)?;
            if end / 100_000 != next / 100_000 || end == records {
                eprintln!(
                    "bench: ledger filled with {end} of {records} records ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            next = end;
        }
        ledger.flush()?;
        Ok(Self { dir })
    }

    /// Copies the ledger to `to`, a gateway's `metering.data_dir`, before the
    /// gateway starts.
    pub fn copy_to(&self, to: &Path) -> anyhow::Result<()> {
        copy_dir(self.dir.path(), to)
            .with_context(|| format!("cannot copy the filled ledger to {}", to.display()))
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_ledger_is_copied_whole() {
        let seed = Seed::fill(2_500).unwrap();
        let to = tempfile::tempdir().unwrap();
        let copy = to.path().join("metering");
        seed.copy_to(&copy).unwrap();
        let ledger = SledLedger::open(copy.to_str().unwrap()).unwrap();
        let id = |i| synthetic::record(i, 2_500, 0, 1).request_id;
        for i in [0, 1_024, 2_499] {
            assert!(ledger.get(&id(i)).unwrap().is_some(), "{}", id(i));
        }
        assert!(ledger.get(&id(2_500)).unwrap().is_none());
    }
}
