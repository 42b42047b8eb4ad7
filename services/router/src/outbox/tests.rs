use std::path::Path;

use super::*;
use crate::journal::segment_path;

fn record(id: &str) -> UsageRecord {
    UsageRecord {
        request_id: id.into(),
        ..Default::default()
    }
}

fn open(dir: &Path) -> Outbox {
    Outbox::open(dir.to_str().unwrap(), 100, false, Duration::from_millis(5)).unwrap()
}

/// Flushes and waits until the flusher let go, so the directory can be opened
/// again in this process (the journal holds its lock while open).
async fn close(outbox: Outbox) {
    outbox.flush().await.unwrap();
    let weak = Arc::downgrade(&outbox.inner);
    drop(outbox);
    while weak.strong_count() > 0 {
        tokio::task::yield_now().await;
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn ids(batch: &Batch) -> Vec<String> {
    let mut ids: Vec<_> = batch.records.iter().map(|r| r.request_id.clone()).collect();
    ids.sort();
    ids
}

fn segments(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("journal"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_str().unwrap().starts_with("segment-")
        })
        .count()
}

/// A crash right after the answers: the flusher never ran, nothing was synced;
/// the records are in the journal's file, as the kernel has it.
#[tokio::test(flavor = "current_thread")]
async fn answered_records_survive_a_crash_before_any_flush() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let outbox = open(&live);
    for i in 0..5 {
        outbox.push(&record(&format!("r{i}"))).await.unwrap();
    }
    // What is on disk now is what a kill -9 would leave (this single-threaded
    // runtime has not let the flusher run).
    let crashed = dir.path().join("crashed");
    copy_dir(&live, &crashed);
    std::mem::forget(outbox);
    let outbox = open(&crashed);
    assert_eq!(
        ids(&outbox.oldest(100).unwrap()),
        ["r0", "r1", "r2", "r3", "r4"]
    );
    assert_eq!(outbox.len(), 5);
    // Not acknowledged, so a second start finds them again, not doubled.
    close(outbox).await;
    let again = open(&crashed);
    assert_eq!(again.len(), 5);
    assert_eq!(again.oldest(100).unwrap().records.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_sync_waits_for_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().to_str().unwrap(), 100, true, Duration::ZERO).unwrap();
    outbox.push(&record("r0")).await.unwrap();
    // Answered only once durable: the flush covering it has completed.
    assert!(*outbox.inner.durable.borrow() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_reopen_until_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    {
        let outbox = Outbox::open(&path, 10, false, Duration::from_millis(5)).unwrap();
        let writers: Vec<_> = (0..50)
            .map(|i| {
                let o = outbox.clone();
                tokio::spawn(async move { o.push(&record(&format!("r{i}"))).await })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        assert_eq!(outbox.len(), 50);
        assert!(outbox.is_full());
        let first = outbox.oldest(20).unwrap();
        assert_eq!(first.records.len(), 20);
        // Until acknowledged, the same records come again.
        assert_eq!(ids(&outbox.oldest(20).unwrap()), ids(&first));
        outbox.ack(first.consumed).unwrap();
        assert_eq!(outbox.len(), 30);
        close(outbox).await;
    }
    // Reopen, as after a restart: the 30 unacknowledged records are still there,
    // and only they.
    let outbox = Outbox::open(&path, 10, false, Duration::from_millis(5)).unwrap();
    assert_eq!(outbox.len(), 30);
    let rest = outbox.oldest(100).unwrap();
    let mut ids = ids(&rest);
    ids.dedup();
    assert_eq!(ids.len(), 30);
}

/// Past its size a segment is retired; once every record in it is acknowledged
/// it is deleted, and nothing acknowledged comes back after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let outbox = Outbox::open_with(path, 1_000, false, Duration::from_millis(1), 256).unwrap();
    for i in 0..40 {
        outbox.push(&record(&format!("r{i:02}"))).await.unwrap();
        if i % 5 == 4 {
            outbox.flush().await.unwrap();
        }
    }
    outbox.flush().await.unwrap();
    assert!(segments(dir.path()) > 2, "the journal rotated");
    let mut shipped = Vec::new();
    loop {
        let batch = outbox.oldest(7).unwrap();
        if batch.records.is_empty() {
            break;
        }
        shipped.extend(batch.records.iter().map(|r| r.request_id.clone()));
        outbox.ack(batch.consumed).unwrap();
    }
    let expected: Vec<_> = (0..40).map(|i| format!("r{i:02}")).collect();
    assert_eq!(shipped, expected, "every record once, in order");
    assert_eq!(outbox.len(), 0);
    // Only the segment being written is left.
    assert_eq!(segments(dir.path()), 1);
    close(outbox).await;
    let again = Outbox::open(path, 1_000, false, Duration::from_millis(1)).unwrap();
    assert_eq!(again.len(), 0);
    assert!(again.oldest(10).unwrap().records.is_empty());
}

/// A write that failed halfway (a full disk) leaves a torn frame in the middle
/// of a segment; the records after it are still shipped.
#[tokio::test(flavor = "current_thread")]
async fn records_after_a_torn_frame_are_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    let mut bytes = Frame::encode(0, &record("before")).into_bytes();
    let torn = Frame::encode(1, &record("torn")).into_bytes();
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    bytes.extend_from_slice(&Frame::encode(2, &record("after")).into_bytes());
    std::fs::write(segment_path(&journal, 3), bytes).unwrap();
    let outbox = open(dir.path());
    assert_eq!(outbox.len(), 2);
    assert_eq!(ids(&outbox.oldest(10).unwrap()), ["after", "before"]);
}

/// An outbox directory of the version that kept records in sled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_outbox_is_carried_over() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("outbox").unwrap();
        for (seq, id) in [(4u64, "a"), (5, "b"), (9, "c")] {
            tree.insert(seq.to_be_bytes(), record(id).encode_to_vec())
                .unwrap();
        }
        db.flush().unwrap();
    }
    let outbox = open(dir.path());
    assert_eq!(outbox.len(), 3);
    assert_eq!(ids(&outbox.oldest(10).unwrap()), ["a", "b", "c"]);
    assert!(!dir.path().join("db").exists() && !dir.path().join("conf").exists());
    // Carried over once: a restart finds them in the journal, not doubled.
    close(outbox).await;
    let again = open(dir.path());
    assert_eq!(again.len(), 3);
}
