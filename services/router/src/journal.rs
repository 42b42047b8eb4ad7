//! The usage outbox's write-ahead journal: what lets a usage record survive a
//! router crash without an fsync on the request path.
//!
//! A finished record is appended to the current segment with one `write` (the
//! file is opened `O_APPEND`, so concurrent writers never interleave) before the
//! client sees the answer. From then on the record is in the kernel: a crash or
//! kill -9 of the router cannot lose it. The segment also keeps its frames in
//! memory, so the request path touches nothing else: the outbox's flusher moves
//! them into sled in the background ([`Journal::rotate`], wait for writers still
//! on the old segment, [`Retired::take`] its frames, one sled batch and flush,
//! then [`Retired::remove`]). At start-up, segments left by a crash are read back
//! ([`Journal::open`]) and replayed into sled before anything else.
//!
//! Frame: u32 LE payload length, u32 LE CRC-32 of the payload, then the payload:
//! the record's outbox sequence number (u64 BE) and the record (protobuf). A torn
//! frame at a segment's end (the process died mid-write) ends that segment.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

/// Frame header: length and checksum.
const HEADER: usize = 8;
/// The largest payload read back (a corrupt length must not allocate gigabytes).
const MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// One segment file, and the frames written to it that are not in sled yet.
pub struct Segment {
    file: File,
    path: PathBuf,
    /// Held only to push one frame (or take them all, once, after rotation).
    frames: Mutex<Vec<Frame>>,
}

/// The journal of one outbox.
pub struct Journal {
    dir: PathBuf,
    current: ArcSwap<Segment>,
    next: AtomicU64,
}

/// What a previous run left: its records, and the segments to remove once they
/// are durable elsewhere.
pub struct Recovered {
    /// (sequence number, record bytes), in write order.
    pub entries: Vec<(u64, Vec<u8>)>,
    /// The segments read.
    pub segments: Vec<PathBuf>,
}

/// A segment no longer written to (see [`Journal::rotate`]).
pub struct Retired(Arc<Segment>);

impl Retired {
    /// Waits until no writer holds the segment: every frame appended to it is
    /// then in [`Retired::take`]'s answer.
    pub async fn writers_done(&self) {
        while Arc::strong_count(&self.0) > 1 {
            tokio::task::yield_now().await;
        }
    }

    /// The frames written to the segment, in write order (after
    /// [`Retired::writers_done`]: all of them). The segment must stay until they
    /// are durable elsewhere.
    pub fn take(&self) -> Vec<Frame> {
        std::mem::take(&mut *lock(&self.0.frames))
    }

    /// Deletes the segment (its records are durable in sled).
    pub fn remove(self) -> io::Result<()> {
        let path = self.0.path.clone();
        drop(self);
        std::fs::remove_file(path)
    }
}

fn segment_name(id: u64) -> String {
    format!("segment-{id:020}.log")
}

fn create(dir: &Path, id: u64) -> io::Result<Segment> {
    let path = dir.join(segment_name(id));
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)?;
    Ok(Segment {
        file,
        path,
        frames: Mutex::new(Vec::new()),
    })
}

fn lock(frames: &Mutex<Vec<Frame>>) -> std::sync::MutexGuard<'_, Vec<Frame>> {
    // A push cannot panic midway, so a poisoned list is still whole.
    frames
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Journal {
    /// Opens the journal in `dir` (created if missing), reading back what earlier
    /// runs left, and starts a new segment after them.
    pub fn open(dir: &Path) -> io::Result<(Self, Recovered)> {
        std::fs::create_dir_all(dir)?;
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("segment-"))
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(id) = id {
                found.push((id, path));
            }
        }
        found.sort();
        let mut entries = Vec::new();
        for (_, path) in &found {
            read_segment(&std::fs::read(path)?, &mut entries);
        }
        let next = found.last().map_or(0, |(id, _)| id + 1);
        let journal = Self {
            dir: dir.to_path_buf(),
            current: ArcSwap::from_pointee(create(dir, next)?),
            next: AtomicU64::new(next + 1),
        };
        let segments = found.into_iter().map(|(_, p)| p).collect();
        Ok((journal, Recovered { entries, segments }))
    }

    /// Appends `frame` with one `write` and keeps it with its segment until the
    /// segment is retired and taken.
    pub fn append(&self, frame: Frame) -> io::Result<()> {
        let bytes = &frame.0;
        let segment = self.current.load_full();
        let written = (&segment.file).write(bytes)?;
        if written != bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short journal write: {written} of {} bytes", bytes.len()),
            ));
        }
        lock(&segment.frames).push(frame);
        Ok(())
    }

    /// Starts a new segment for the writes from now on and returns the old one.
    pub fn rotate(&self) -> io::Result<Retired> {
        let id = self.next.fetch_add(1, Ordering::AcqRel);
        let new = create(&self.dir, id)?;
        Ok(Retired(self.current.swap(Arc::new(new))))
    }
}

/// A record framed for the journal, encoded once: the journal writes the whole
/// frame and sled later stores [`Frame::record`] under [`Frame::seq`], so the
/// request path encodes and copies the record one time.
pub struct Frame(Vec<u8>);

impl Frame {
    /// `record` under outbox sequence number `seq`.
    pub fn encode(seq: u64, record: &impl prost::Message) -> Self {
        // Encoding into a Vec cannot run out of room.
        Self::with(seq, record.encoded_len(), |buf| {
            record.encode_raw(buf);
        })
    }

    fn with(seq: u64, record_len: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Self {
        let payload_len = 8 + record_len;
        let mut frame = Vec::with_capacity(HEADER + payload_len);
        frame.extend_from_slice(&u32::try_from(payload_len).unwrap_or(u32::MAX).to_le_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&seq.to_be_bytes());
        fill(&mut frame);
        let crc = crc32fast::hash(&frame[HEADER..]);
        frame[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        Self(frame)
    }

    /// The encoded record.
    pub fn record(&self) -> &[u8] {
        &self.0[HEADER + 8..]
    }

    /// The record's outbox sequence number (big-endian: sled's key).
    pub fn seq(&self) -> &[u8] {
        &self.0[HEADER..HEADER + 8]
    }
}

/// Appends the well-formed frames of `bytes` to `entries`; stops at a torn or
/// corrupt frame (only a crash mid-write leaves one, at the end).
fn read_segment(mut bytes: &[u8], entries: &mut Vec<(u64, Vec<u8>)>) {
    while bytes.len() >= HEADER {
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if !(8..=MAX_PAYLOAD).contains(&len) || bytes.len() < HEADER + len {
            break;
        }
        let payload = &bytes[HEADER..HEADER + len];
        if crc32fast::hash(payload) != crc {
            tracing::error!("usage journal: a corrupt frame ends the segment");
            break;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&payload[..8]);
        entries.push((u64::from_be_bytes(seq), payload[8..].to_vec()));
        bytes = &bytes[HEADER + len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Frame {
        fn raw(seq: u64, record: &[u8]) -> Self {
            Self::with(seq, record.len(), |buf| buf.extend_from_slice(record))
        }
    }

    #[tokio::test]
    async fn records_come_back_after_a_crash_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (journal, recovered) = Journal::open(dir.path()).unwrap();
            assert!(recovered.entries.is_empty());
            journal.append(Frame::raw(1, b"one")).unwrap();
            let retired = journal.rotate().unwrap();
            journal.append(Frame::raw(2, b"two")).unwrap();
            retired.writers_done().await;
            // Not removed: as if the process died before its flush.
            drop(retired);
            journal.append(Frame::raw(3, b"three")).unwrap();
        }
        // A crash mid-write: half a frame at the end of the newest segment.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        let mut last = OpenOptions::new()
            .append(true)
            .open(names.last().unwrap())
            .unwrap();
        last.write_all(&[40, 0, 0, 0, 1, 2]).unwrap();

        let (journal, recovered) = Journal::open(dir.path()).unwrap();
        let got: Vec<(u64, &[u8])> = recovered
            .entries
            .iter()
            .map(|(s, r)| (*s, r.as_slice()))
            .collect();
        assert_eq!(
            got,
            [(1, &b"one"[..]), (2, &b"two"[..]), (3, &b"three"[..])]
        );
        assert_eq!(recovered.segments.len(), 2);
        // A new segment follows the old ones; removing a retired one deletes it.
        journal.append(Frame::raw(4, b"four")).unwrap();
        let retired = journal.rotate().unwrap();
        retired.writers_done().await;
        // The retired segment hands over exactly what was written to it, once.
        let taken = retired.take();
        assert_eq!(taken.len(), 1);
        assert_eq!(
            (taken[0].seq(), taken[0].record()),
            (&4u64.to_be_bytes()[..], &b"four"[..])
        );
        assert!(retired.take().is_empty());
        retired.remove().unwrap();
        for path in recovered.segments {
            std::fs::remove_file(path).unwrap();
        }
        let (_, recovered) = Journal::open(dir.path()).unwrap();
        assert!(recovered.entries.is_empty());
    }

    #[test]
    fn a_corrupt_frame_stops_the_read() {
        let mut bytes = Vec::new();
        let mut frame = |seq: u64, body: &[u8], corrupt: bool| {
            let mut payload = seq.to_be_bytes().to_vec();
            payload.extend_from_slice(body);
            let mut crc = crc32fast::hash(&payload);
            if corrupt {
                crc ^= 1;
            }
            bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            bytes.extend_from_slice(&crc.to_le_bytes());
            bytes.extend_from_slice(&payload);
        };
        frame(1, b"a", false);
        frame(2, b"b", true);
        frame(3, b"c", false);
        let mut entries = Vec::new();
        read_segment(&bytes, &mut entries);
        assert_eq!(entries, [(1, b"a".to_vec())]);
    }
}
