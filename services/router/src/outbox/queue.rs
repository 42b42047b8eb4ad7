//! The outbox's read side: which segments are on disk, and how far metering has
//! acknowledged them.
//!
//! The shipper reads the journal's segments in order from the acknowledged
//! position ([`Queue::next_batch`]); after metering acknowledged a batch,
//! [`Queue::ack`] moves the position past it, saves it in `acked` (not synced:
//! if a crash loses the latest position, what lies between the saved one and it
//! is shipped again, and metering ignores the duplicates) and deletes the
//! segments it has left behind. Only the shipper and the flusher take the lock
//! around a `Queue`; the request path never does.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::journal::{self, Entry, Stop};

/// A place in the journal: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    segment: u64,
    offset: u64,
}

/// What a batch took from the journal: acknowledging it consumes exactly this.
#[derive(Debug)]
pub struct Consumed {
    /// Where the batch ends.
    end: Position,
    /// Frames in it.
    pub frames: u64,
    /// Segments read to their end on the way.
    finished: Vec<u64>,
}

impl Consumed {
    /// Whether acknowledging it would change nothing.
    fn is_nothing(&self, acked: Position) -> bool {
        self.frames == 0 && self.end == acked
    }
}

/// The segments on disk and the acknowledged position.
pub struct Queue {
    dir: PathBuf,
    /// Segment numbers on disk, oldest first; the last is being written.
    segments: VecDeque<u64>,
    /// Segments numbered below this are complete: nothing is appended any more.
    sealed_below: u64,
    /// Everything before this was acknowledged by metering.
    acked: Position,
    /// Where `acked` is saved.
    saved: File,
    /// The segment being read, open.
    reading: Option<(u64, File)>,
    /// The read buffer, kept between batches.
    buf: Vec<u8>,
}

const SAVED_LEN: usize = 20;

impl Queue {
    /// The queue over `segments` (oldest first, all complete) and `current`, the
    /// segment being written; starts at the position saved by the last run, and
    /// deletes segments that lie wholly before it.
    pub fn open(dir: &Path, segments: Vec<u64>, current: u64) -> io::Result<Self> {
        let saved = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("acked"))?;
        let mut segments: VecDeque<u64> = segments.into();
        segments.push_back(current);
        // The saved position if its segment is still there, else the start of
        // the first segment at or after it.
        let start = |from: u64| Position {
            segment: segments
                .iter()
                .copied()
                .find(|&s| s >= from)
                .unwrap_or(current),
            offset: 0,
        };
        let acked = match load(&saved)? {
            Some(p) if segments.contains(&p.segment) => p,
            Some(p) => start(p.segment),
            None => start(0),
        };
        let mut queue = Self {
            dir: dir.to_path_buf(),
            segments,
            sealed_below: current,
            acked,
            saved,
            reading: None,
            buf: Vec::new(),
        };
        let before: Vec<u64> = queue
            .segments
            .iter()
            .copied()
            .filter(|&s| s < acked.segment)
            .collect();
        queue.remove(&before)?;
        Ok(queue)
    }

    /// Every frame from the acknowledged position to the end of the journal,
    /// counted (start-up: what is waiting) without decoding, and the highest
    /// sequence number among them.
    pub fn count(&mut self) -> io::Result<(u64, Option<u64>)> {
        let mut position = self.acked;
        let mut count = 0;
        let mut max_seq = None;
        loop {
            let mut entries = Vec::new();
            let consumed = self.read(position, 4096, &mut entries)?;
            if consumed.end == position && entries.is_empty() {
                return Ok((count, max_seq));
            }
            count += entries.len() as u64;
            max_seq = entries.iter().map(|e| e.seq).chain(max_seq).max();
            position = consumed.end;
        }
    }

    /// A segment was started (the flusher rotated the journal).
    pub fn started(&mut self, segment: u64) {
        self.segments.push_back(segment);
    }

    /// Every segment before `segment` is complete: no writer adds to it.
    pub fn sealed_below(&mut self, segment: u64) {
        self.sealed_below = self.sealed_below.max(segment);
    }

    /// At most `max` frames from the acknowledged position, and what they
    /// consume. Stretches that hold no frame (the end of a complete segment, a
    /// corrupt stretch skipped) are passed at once.
    pub fn next_batch(&mut self, max: usize, out: &mut Vec<Entry>) -> io::Result<Consumed> {
        loop {
            let consumed = self.read(self.acked, max, out)?;
            if consumed.frames > 0 || consumed.is_nothing(self.acked) {
                return Ok(consumed);
            }
            self.ack(consumed)?;
        }
    }

    /// Moves the acknowledged position past `consumed`, saves it and deletes the
    /// segments it finished.
    pub fn ack(&mut self, consumed: Consumed) -> io::Result<()> {
        self.acked = consumed.end;
        let saved = save(&self.saved, self.acked);
        // Even unsaved, the position is past them: a restart starts at the next
        // segment that exists.
        let removed = self.remove(&consumed.finished);
        saved.and(removed)
    }

    fn read(&mut self, from: Position, max: usize, out: &mut Vec<Entry>) -> io::Result<Consumed> {
        let mut position = from;
        let mut finished = Vec::new();
        let before = out.len();
        while out.len() - before < max {
            let want = max - (out.len() - before);
            let file = open(&mut self.reading, &self.dir, position.segment)?;
            let (offset, stop) =
                journal::read_frames(file, position.offset, want, &mut self.buf, out)?;
            position.offset = offset;
            let complete = position.segment < self.sealed_below;
            match stop {
                Stop::Full => break,
                Stop::Corrupt => {
                    let file = open(&mut self.reading, &self.dir, position.segment)?;
                    if let Some(next) = journal::resync(file, offset)? {
                        tracing::error!(
                            segment = position.segment,
                            offset,
                            skipped_bytes = next - offset,
                            "usage outbox: skipped a corrupt stretch of the journal"
                        );
                        position.offset = next;
                        continue;
                    }
                    if !complete {
                        // Maybe a frame is still being written after it: later.
                        break;
                    }
                    tracing::error!(
                        segment = position.segment,
                        offset,
                        "usage outbox: the journal segment ends in a corrupt stretch"
                    );
                }
                Stop::End if !complete => break,
                Stop::End => {}
            }
            // A complete segment read to its end: on to the next.
            let Some(&next) = self.segments.iter().find(|&&s| s > position.segment) else {
                break;
            };
            finished.push(position.segment);
            position = Position {
                segment: next,
                offset: 0,
            };
        }
        Ok(Consumed {
            end: position,
            frames: (out.len() - before) as u64,
            finished,
        })
    }

    /// Deletes segments (not synced: a deletion lost in a power loss only brings
    /// back records metering has, which it ignores).
    fn remove(&mut self, segments: &[u64]) -> io::Result<()> {
        for &segment in segments {
            if self.reading.as_ref().is_some_and(|(s, _)| *s == segment) {
                self.reading = None;
            }
            match std::fs::remove_file(journal::segment_path(&self.dir, segment)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            self.segments.retain(|&s| s != segment);
        }
        Ok(())
    }
}

/// Segment `segment` of `dir`, kept open in `reading` while it is read.
fn open<'a>(
    reading: &'a mut Option<(u64, File)>,
    dir: &Path,
    segment: u64,
) -> io::Result<&'a File> {
    if reading.as_ref().is_none_or(|(s, _)| *s != segment) {
        *reading = Some((segment, File::open(journal::segment_path(dir, segment))?));
    }
    match reading {
        Some((_, file)) => Ok(file),
        None => Err(io::Error::other("no segment open")),
    }
}

fn save(file: &File, position: Position) -> io::Result<()> {
    let mut bytes = [0u8; SAVED_LEN];
    bytes[..8].copy_from_slice(&position.segment.to_le_bytes());
    bytes[8..16].copy_from_slice(&position.offset.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..16]);
    bytes[16..].copy_from_slice(&crc.to_le_bytes());
    file.write_all_at(&bytes, 0)
}

/// The saved position, if there is a whole one.
fn load(file: &File) -> io::Result<Option<Position>> {
    let mut bytes = [0u8; SAVED_LEN];
    match file.read_exact_at(&mut bytes, 0) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let crc = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    Ok((crc32fast::hash(&bytes[..16]) == crc).then(|| Position {
        segment: word(0),
        offset: word(8),
    }))
}
