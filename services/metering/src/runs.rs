//! Sorted runs: an ordered map of byte keys to byte values kept in a sled tree as runs
//! of consecutive entries, one sled key per run.
//!
//! Why: sled keeps an in-memory page-table entry for every tree node from the moment
//! it opens, and splits a leaf past 16 keys, so its resident memory grows with the
//! number of keys, not of bytes. A million usage records stored one per key (with a
//! time index and their aggregate rows: 2.9 million keys) held about 90 MiB before a
//! single read. Packing consecutive entries into runs of a few KiB divides the key
//! count, and that memory, by the entries per run, while a lookup stays one range
//! read and a scan stays in key order.
//!
//! Layout: a run is stored under the key of its first entry; its value is its
//! entries in ascending key order, each `varint key_len | key | varint value_len |
//! value`. Every entry sorts at or after its run's key and before the next run's key.
//! A run that grows past `max_bytes` is split into runs of at most that size (a
//! single larger entry gets a run of its own); a run whose entries are all removed is
//! deleted.
//!
//! Writes are planned outside sled's transaction (a transactional tree cannot range
//! scan) and applied inside one ([`apply`]), so the caller must keep every other
//! writer of the tree out from planning to commit.

use std::collections::BTreeMap;
use std::ops::Bound;

use prost::encoding::{decode_varint, encode_varint, encoded_len_varint};
use sled::IVec;
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use crate::MeteringError;

/// One entry: key and value.
pub(crate) type Entry = (Vec<u8>, Vec<u8>);

/// What a planned update does to one entry.
#[derive(Debug)]
pub(crate) enum Change {
    /// Leave it as it is (absent stays absent).
    Keep,
    /// Set it to this value.
    Put(Vec<u8>),
    /// Delete it (nothing if absent).
    Remove,
}

/// A write to the underlying tree, made by [`Runs::plan`], applied by [`apply`].
#[derive(Debug)]
pub(crate) enum RunWrite {
    /// Store this run under this key.
    Put(Vec<u8>, Vec<u8>),
    /// Delete the run under this key.
    Remove(IVec),
}

/// An ordered map stored as runs in one sled tree.
#[derive(Clone)]
pub(crate) struct Runs {
    tree: sled::Tree,
    max_bytes: usize,
}

/// A run loaded for updating.
struct Open {
    /// Its key in the tree (`None`: a new run before every existing one).
    key: Option<IVec>,
    /// The next run's key: keys at or after it belong elsewhere.
    upper: Option<IVec>,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    dirty: bool,
}

impl Runs {
    /// Runs of `max_bytes` (encoded) at most in `tree`.
    pub(crate) fn new(tree: sled::Tree, max_bytes: usize) -> Self {
        Self { tree, max_bytes }
    }

    /// The underlying tree, for transactions.
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MeteringError> {
        let Some((_, run)) = self.tree.range(..=key).next_back().transpose()? else {
            return Ok(None);
        };
        Ok(decode_run(&run)?
            .into_iter()
            .find_map(|(k, v)| (k == key).then_some(v)))
    }

    /// Entries with keys at or after `from`, in key order.
    pub(crate) fn scan(&self, from: &[u8]) -> Scan {
        let first_run = self.tree.range(..=from).next_back().transpose();
        let (runs, error) = match first_run {
            Ok(Some((run_key, _))) => (self.tree.range(run_key..), None),
            Ok(None) => (self.tree.range(from..), None),
            Err(e) => (self.tree.range(from..), Some(MeteringError::from(e))),
        };
        Scan {
            runs,
            from: from.to_vec(),
            inclusive: true,
            current: Vec::new().into_iter(),
            error,
        }
    }

    /// Plans updates of the entries under the items' keys (ascending, no repeats):
    /// `update` gets each key, the payload it came with and its current value, and
    /// says what to do with it. The writes are appended to `writes`; nothing is
    /// written to the tree.
    pub(crate) fn plan<K: AsRef<[u8]>, P>(
        &self,
        items: impl IntoIterator<Item = (K, P)>,
        mut update: impl FnMut(&[u8], P, Option<&[u8]>) -> Result<Change, MeteringError>,
        writes: &mut Vec<RunWrite>,
    ) -> Result<(), MeteringError> {
        let mut open: Option<Open> = None;
        for (key, payload) in items {
            let key = key.as_ref();
            let mut run = match open.take() {
                Some(run) if run.upper.as_ref().is_none_or(|upper| key < upper.as_ref()) => run,
                other => {
                    if let Some(done) = other {
                        self.close(done, writes);
                    }
                    self.open_at(key)?
                }
            };
            match update(key, payload, run.entries.get(key).map(Vec::as_slice))? {
                Change::Keep => {}
                Change::Put(value) => {
                    run.entries.insert(key.to_vec(), value);
                    run.dirty = true;
                }
                Change::Remove => run.dirty |= run.entries.remove(key).is_some(),
            }
            open = Some(run);
        }
        if let Some(done) = open {
            self.close(done, writes);
        }
        Ok(())
    }

    /// The run `key` belongs to: the last run at or before it, else a new one.
    fn open_at(&self, key: &[u8]) -> Result<Open, MeteringError> {
        Ok(match self.tree.range(..=key).next_back().transpose()? {
            Some((run_key, bytes)) => {
                let after = (Bound::Excluded(run_key.clone()), Bound::Unbounded);
                Open {
                    upper: self.tree.range(after).next().transpose()?.map(|(k, _)| k),
                    key: Some(run_key),
                    entries: decode_run(&bytes)?.into_iter().collect(),
                    dirty: false,
                }
            }
            None => Open {
                key: None,
                upper: self.tree.range(key..).next().transpose()?.map(|(k, _)| k),
                entries: BTreeMap::new(),
                dirty: false,
            },
        })
    }

    /// The writes that store a changed run: split to `max_bytes`, each piece under
    /// its first key; the old key removed unless the first piece still uses it.
    fn close(&self, run: Open, writes: &mut Vec<RunWrite>) {
        if !run.dirty {
            return;
        }
        let mut first_key: Option<Vec<u8>> = None;
        let mut piece_key: Option<Vec<u8>> = None;
        let mut piece = Vec::new();
        for (key, value) in run.entries {
            let size = entry_len(&key, &value);
            if let Some(done) = piece_key.take_if(|_| piece.len() + size > self.max_bytes) {
                writes.push(RunWrite::Put(done, std::mem::take(&mut piece)));
            }
            if piece_key.is_none() {
                first_key.get_or_insert_with(|| key.clone());
                piece_key = Some(key.clone());
            }
            encode_entry(&mut piece, &key, &value);
        }
        if let Some(key) = piece_key {
            writes.push(RunWrite::Put(key, piece));
        }
        if let Some(old) = run.key
            && first_key.as_deref() != Some(old.as_ref())
        {
            writes.push(RunWrite::Remove(old));
        }
    }
}

/// Applies planned writes inside a transaction.
pub(crate) fn apply(
    tree: &TransactionalTree,
    writes: &[RunWrite],
) -> Result<(), UnabortableTransactionError> {
    for write in writes {
        match write {
            RunWrite::Put(key, run) => {
                tree.insert(key.as_slice(), run.as_slice())?;
            }
            RunWrite::Remove(key) => {
                tree.remove(key)?;
            }
        }
    }
    Ok(())
}

/// Entries in key order from a starting key; see [`Runs::scan`].
///
/// Each step reads one run atomically, but a writer may commit between two steps
/// and move entries of a run already read into a later run (a split): the scan
/// emits only keys above the last one it emitted, so it never repeats an entry.
pub(crate) struct Scan {
    runs: sled::Iter,
    /// Entries before this key (and at it, once `inclusive` is false) are skipped.
    from: Vec<u8>,
    inclusive: bool,
    current: std::vec::IntoIter<Entry>,
    error: Option<MeteringError>,
}

impl Iterator for Scan {
    type Item = Result<Entry, MeteringError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        loop {
            if let Some(entry) = self.current.next() {
                let wanted = match entry.0.as_slice().cmp(&self.from) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Equal => self.inclusive,
                    std::cmp::Ordering::Less => false,
                };
                if wanted {
                    self.from.clone_from(&entry.0);
                    self.inclusive = false;
                    return Some(Ok(entry));
                }
                continue;
            }
            match self.runs.next()? {
                Ok((_, run)) => match decode_run(&run) {
                    Ok(entries) => self.current = entries.into_iter(),
                    Err(e) => return Some(Err(e)),
                },
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}

fn entry_len(key: &[u8], value: &[u8]) -> usize {
    encoded_len_varint(key.len() as u64)
        + key.len()
        + encoded_len_varint(value.len() as u64)
        + value.len()
}

fn encode_entry(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    encode_varint(key.len() as u64, out);
    out.extend_from_slice(key);
    encode_varint(value.len() as u64, out);
    out.extend_from_slice(value);
}

fn decode_run(mut run: &[u8]) -> Result<Vec<Entry>, MeteringError> {
    let mut entries = Vec::new();
    while !run.is_empty() {
        let key = take(&mut run)?;
        let value = take(&mut run)?;
        entries.push((key, value));
    }
    Ok(entries)
}

fn take(run: &mut &[u8]) -> Result<Vec<u8>, MeteringError> {
    let len = decode_varint(run)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|len| *len <= run.len())
        .ok_or_else(|| MeteringError::Store("truncated run in the ledger".into()))?;
    let (head, rest) = run.split_at(len);
    *run = rest;
    Ok(head.to_vec())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sled::Transactional;

    use super::*;

    fn runs(max_bytes: usize) -> (tempfile::TempDir, Runs) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        (dir, Runs::new(db.open_tree("t").unwrap(), max_bytes))
    }

    /// Applies `changes` (key → new value, `None` = remove) through plan + apply.
    fn write(runs: &Runs, changes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        let mut writes = Vec::new();
        runs.plan(
            changes,
            |_, change, _| {
                Ok(match change {
                    Some(v) => Change::Put(v.clone()),
                    None => Change::Remove,
                })
            },
            &mut writes,
        )
        .unwrap();
        (runs.tree(),)
            .transaction(|(tree,)| {
                apply(tree, &writes)?;
                Ok::<_, sled::transaction::ConflictableTransactionError>(())
            })
            .unwrap();
    }

    fn key(i: u32) -> Vec<u8> {
        i.to_be_bytes().to_vec()
    }

    fn all(runs: &Runs) -> Vec<Entry> {
        runs.scan(&[]).collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn behaves_as_an_ordered_map_in_any_write_order() {
        let (_dir, runs) = runs(64);
        let mut model = BTreeMap::new();
        // Writes in scattered order, including before the first run, overwrites and
        // removals, in batches of varying size.
        let mut x: u32 = 7;
        for round in 0..40 {
            let mut changes = BTreeMap::new();
            for _ in 0..(round % 9 + 1) {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let k = key((x >> 8) % 300);
                let v = if x.is_multiple_of(5) {
                    None
                } else {
                    Some(vec![(x % 251) as u8; (x % 23) as usize])
                };
                changes.insert(k, v);
            }
            write(&runs, &changes);
            for (k, v) in changes {
                match v {
                    Some(v) => model.insert(k, v),
                    None => model.remove(&k),
                };
            }
            let expected: Vec<Entry> = model.clone().into_iter().collect();
            assert_eq!(all(&runs), expected, "round {round}");
        }
        for (k, v) in &model {
            assert_eq!(runs.get(k).unwrap().as_ref(), Some(v));
        }
        assert_eq!(runs.get(&key(1_000)).unwrap(), None);
        // Many entries, few keys: runs hold several entries each.
        assert!(runs.tree().len() * 2 < model.len(), "{}", runs.tree().len());
        // A scan from the middle starts at the first key at or after it.
        let from = key(150);
        let tail: Vec<Entry> = model
            .range(from.clone()..)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            runs.scan(&from).collect::<Result<Vec<_>, _>>().unwrap(),
            tail
        );
    }

    #[test]
    fn splits_big_runs_and_deletes_empty_ones() {
        let (_dir, runs) = runs(100);
        let changes: BTreeMap<_, _> = (0..50).map(|i| (key(i), Some(vec![1u8; 10]))).collect();
        write(&runs, &changes);
        // 16 bytes an entry, at most 100 bytes a run: 6 entries each.
        assert_eq!(runs.tree().len(), 9);
        for (_, run) in runs.tree().iter().map(Result::unwrap) {
            assert!(run.len() <= 100);
        }
        // An entry bigger than a run gets a run of its own.
        write(&runs, &BTreeMap::from([(key(20), Some(vec![2u8; 300]))]));
        assert_eq!(runs.get(&key(20)).unwrap(), Some(vec![2u8; 300]));
        assert_eq!(all(&runs).len(), 50);
        let removals: BTreeMap<_, _> = (0..50).map(|i| (key(i), None)).collect();
        write(&runs, &removals);
        assert!(runs.tree().is_empty());
        assert!(all(&runs).is_empty());
    }

    #[test]
    fn a_scan_across_a_concurrent_split_repeats_nothing() {
        let (_dir, runs) = runs(100);
        let first: BTreeMap<_, _> = (0..6).map(|i| (key(i * 10), Some(vec![1u8; 10]))).collect();
        write(&runs, &first);
        assert_eq!(runs.tree().len(), 1);
        let mut scan = runs.scan(&[]);
        assert_eq!(scan.next().unwrap().unwrap().0, key(0));
        // The run the scan has read splits: its later entries move to a new run.
        let more: BTreeMap<_, _> = (0..6)
            .map(|i| (key(i * 10 + 5), Some(vec![2u8; 10])))
            .collect();
        write(&runs, &more);
        assert!(runs.tree().len() > 1);
        let rest: Vec<Vec<u8>> = scan.map(|e| e.unwrap().0).collect();
        let mut sorted = rest.clone();
        sorted.dedup();
        assert_eq!(rest, sorted, "no entry twice");
        assert!(rest.windows(2).all(|w| w[0] < w[1]));
        assert!(rest.contains(&key(50)));
    }

    #[test]
    fn keep_writes_nothing() {
        let (_dir, runs) = runs(100);
        write(&runs, &BTreeMap::from([(key(1), Some(vec![1]))]));
        let mut writes = Vec::new();
        runs.plan(
            [(key(1), ()), (key(2), ())],
            |_, (), _| Ok(Change::Keep),
            &mut writes,
        )
        .unwrap();
        assert!(writes.is_empty());
    }

    #[test]
    fn a_truncated_run_is_an_error_not_a_panic() {
        let (_dir, runs) = runs(100);
        runs.tree().insert(key(1), &[4u8, 1, 2][..]).unwrap();
        assert!(runs.get(&key(1)).is_err());
        assert!(runs.scan(&[]).next().unwrap().is_err());
    }
}
