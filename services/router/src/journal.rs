//! The usage outbox's journal: append-only segment files that hold every usage
//! record from its answer until metering acknowledges it.
//!
//! A finished record is appended to the current segment with one `write` (the
//! file is opened `O_APPEND`, so concurrent writers never interleave) before the
//! client sees the answer. From then on the record is in the kernel: a crash or
//! kill -9 of the router cannot lose it. The outbox's flusher starts a new
//! segment for the writes to come and syncs the old one to disk once its last
//! writer is done, behind the answers (so no request's write waits for a page
//! the sync is writing out); the shipper reads
//! the segments in order ([`read_frames`]) and the outbox deletes a segment once
//! every record in it was acknowledged. Nothing is copied anywhere else on the
//! way, and nothing is kept in memory: the segments are the queue.
//!
//! Frame: u32 LE payload length, u32 LE CRC-32 of the payload, then the payload:
//! the record's sequence number (u64 BE) and the record (protobuf). A torn frame
//! at a segment's end (the process died mid-write) ends that segment.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

/// Frame header: length and checksum.
const HEADER: usize = 8;
/// The largest payload read back (a corrupt length must not allocate gigabytes).
const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// Under `outbox_sync = "per-request"`, where a flush syncs the segment being
/// written (its writers wait for that sync anyway), a segment this large is
/// retired at the next flush and a new one started: the unit in which
/// acknowledged records leave the disk. About 3,000 records. (Otherwise every
/// flush starts a new segment.)
pub const SEGMENT_BYTES: u64 = 1 << 20;
/// How much of a segment one read takes.
const READ_CHUNK: usize = 256 * 1024;

/// One segment file.
pub struct Segment {
    id: u64,
    file: File,
    /// Bytes appended so far.
    len: AtomicU64,
}

impl Segment {
    /// The segment's number: segments are read in this order.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes written to it so far.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Makes what was written so far durable on disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// The journal of one outbox: its directory, held locked, and the segment being
/// written.
pub struct Journal {
    dir: PathBuf,
    current: ArcSwap<Segment>,
    /// Holds the directory's lock while the journal is open.
    _lock: File,
}

/// What a previous run left: its segment numbers, oldest first. None of them is
/// written to again.
pub struct Recovered {
    /// The segments found, oldest first.
    pub segments: Vec<u64>,
}

/// A segment no longer written to (see [`Journal::install`]).
pub struct Retired(Arc<Segment>);

impl Retired {
    /// Waits until no writer holds the segment: every frame appended to it is
    /// then in the file.
    pub async fn writers_done(&self) {
        while Arc::strong_count(&self.0) > 1 {
            tokio::task::yield_now().await;
        }
    }

    /// The segment.
    pub fn segment(&self) -> Arc<Segment> {
        self.0.clone()
    }
}

fn segment_name(id: u64) -> String {
    format!("segment-{id:020}.log")
}

/// The path of segment `id` in `dir`.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_name(id))
}

fn create(dir: &Path, id: u64) -> io::Result<Segment> {
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, id))?;
    // The new file's name must survive a power loss with the records in it.
    sync_dir(dir)?;
    Ok(Segment {
        id,
        file,
        len: AtomicU64::new(0),
    })
}

/// Makes the directory's entries (a created segment) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Opens the journal in `dir` (created if missing) and locks it; lists what
    /// earlier runs left and starts a new segment after them.
    pub fn open(dir: &Path) -> io::Result<(Self, Recovered)> {
        std::fs::create_dir_all(dir)?;
        // One router per directory: a second would ship and delete the first's
        // segments.
        let lock = switchyard_durable::hold_lock(&dir.join("lock"))?;
        let mut segments: Vec<u64> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let id = entry?
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("segment-"))
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<u64>().ok());
            segments.extend(id);
        }
        segments.sort_unstable();
        let next = segments.last().map_or(0, |id| id + 1);
        let journal = Self {
            dir: dir.to_path_buf(),
            current: ArcSwap::from_pointee(create(dir, next)?),
            _lock: lock,
        };
        Ok((journal, Recovered { segments }))
    }

    /// The segment being written.
    pub fn current(&self) -> Arc<Segment> {
        self.current.load_full()
    }

    /// Appends `frame` to the current segment with one `write`.
    pub fn append(&self, frame: &Frame) -> io::Result<()> {
        let bytes = &frame.0;
        let segment = self.current.load_full();
        let written = (&segment.file).write(bytes)?;
        segment.len.fetch_add(written as u64, Ordering::AcqRel);
        if written != bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short journal write: {written} of {} bytes", bytes.len()),
            ));
        }
        Ok(())
    }

    /// Creates the segment that follows the current one, not yet written to:
    /// blocking (a create and a directory sync), so the caller runs it on a
    /// blocking thread, then hands it to [`Journal::install`].
    pub fn create_next(&self) -> impl FnOnce() -> io::Result<Segment> + Send + 'static {
        let dir = self.dir.clone();
        let id = self.current.load().id + 1;
        move || create(&dir, id)
    }

    /// Makes `next` (from [`Journal::create_next`]) the segment written from now
    /// on and returns the old one.
    pub fn install(&self, next: Segment) -> Retired {
        Retired(self.current.swap(Arc::new(next)))
    }
}

/// A record framed for the journal, encoded once on the request path.
pub struct Frame(Vec<u8>);

impl Frame {
    /// `record` under sequence number `seq`.
    pub fn encode(seq: u64, record: &impl prost::Message) -> Self {
        // Encoding into a Vec cannot run out of room.
        Self::with(seq, record.encoded_len(), |buf| {
            record.encode_raw(buf);
        })
    }

    /// An already encoded record under sequence number `seq` (records carried
    /// over from elsewhere).
    pub fn from_encoded(seq: u64, record: &[u8]) -> Self {
        Self::with(seq, record.len(), |buf| buf.extend_from_slice(record))
    }

    /// The frame's bytes, as written.
    #[cfg(test)]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
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
}

/// One frame read back.
pub struct Entry {
    /// The sequence number it was written under.
    pub seq: u64,
    /// The encoded record.
    pub record: Vec<u8>,
}

/// How a [`read_frames`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// It read as many frames as asked.
    Full,
    /// No whole frame follows (yet: a segment still written to may grow).
    End,
    /// A frame is corrupt: nothing after it in this segment can be read.
    Corrupt,
}

/// What the bytes at a position hold.
enum Parsed {
    /// A whole, well-formed frame of this many bytes (header included).
    Frame(usize),
    /// The start of a frame of this many bytes, not all of it there.
    Partial(usize),
    /// Not a frame.
    Corrupt,
}

fn parse(bytes: &[u8]) -> Parsed {
    if bytes.len() < HEADER {
        return Parsed::Partial(HEADER);
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    if !(8..=MAX_PAYLOAD).contains(&len) {
        return Parsed::Corrupt;
    }
    if bytes.len() < HEADER + len {
        return Parsed::Partial(HEADER + len);
    }
    if crc32fast::hash(&bytes[HEADER..HEADER + len]) != crc {
        return Parsed::Corrupt;
    }
    Parsed::Frame(HEADER + len)
}

/// Reads whole, well-formed frames of `file` from byte `offset` into `out`, at
/// most `max`; returns the offset after the last one read and why it stopped.
/// `buf` is the caller's, kept from one read to the next. Safe on a segment
/// being appended to: a frame whose write is not complete is not whole yet, so
/// it ends the read.
pub fn read_frames(
    file: &File,
    mut offset: u64,
    max: usize,
    buf: &mut Vec<u8>,
    out: &mut Vec<Entry>,
) -> io::Result<(u64, Stop)> {
    if buf.len() < READ_CHUNK {
        buf.resize(READ_CHUNK, 0);
    }
    let mut read = 0;
    while read < max {
        let filled = read_at_most(file, offset, buf)?;
        let mut bytes = &buf[..filled];
        let mut grow = None;
        while read < max {
            match parse(bytes) {
                Parsed::Frame(len) => {
                    let payload = &bytes[HEADER..len];
                    let mut seq = [0u8; 8];
                    seq.copy_from_slice(&payload[..8]);
                    out.push(Entry {
                        seq: u64::from_be_bytes(seq),
                        record: payload[8..].to_vec(),
                    });
                    read += 1;
                    offset += len as u64;
                    bytes = &bytes[len..];
                }
                Parsed::Partial(len) => {
                    if len > filled {
                        grow = Some(len);
                    }
                    break;
                }
                Parsed::Corrupt => return Ok((offset, Stop::Corrupt)),
            }
        }
        if read >= max {
            return Ok((offset, Stop::Full));
        }
        // What is left in the buffer is a partial frame, or nothing; more of the
        // file exists only if the buffer came back full.
        if filled < buf.len() {
            return Ok((offset, Stop::End));
        }
        if let Some(frame) = grow {
            // A frame larger than the buffer: read it whole next turn.
            buf.resize(frame, 0);
        }
    }
    Ok((offset, Stop::Full))
}

/// After a corrupt frame at `offset` (a failed write in the middle of a
/// segment, or a damaged disk): the offset of the next whole, well-formed frame
/// of `file`, if one follows yet. Every byte position is tried, since a torn
/// write leaves nothing to look for; a false match needs a length that fits and
/// a matching CRC-32.
pub fn resync(file: &File, offset: u64) -> io::Result<Option<u64>> {
    let from = offset + 1;
    let rest = file.metadata()?.len().saturating_sub(from);
    let mut buf = vec![0u8; usize::try_from(rest).unwrap_or(usize::MAX)];
    let filled = read_at_most(file, from, &mut buf)?;
    let bytes = &buf[..filled];
    Ok((0..bytes.len())
        .find(|&at| matches!(parse(&bytes[at..]), Parsed::Frame(_)))
        .map(|at| from + at as u64))
}

/// Fills `buf` from `offset` as far as the file goes; returns the bytes read.
fn read_at_most(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(path: &Path) -> (Vec<(u64, Vec<u8>)>, Stop) {
        let file = File::open(path).unwrap();
        let mut out = Vec::new();
        let (_, stop) = read_frames(&file, 0, usize::MAX, &mut Vec::new(), &mut out).unwrap();
        (out.into_iter().map(|e| (e.seq, e.record)).collect(), stop)
    }

    #[tokio::test]
    async fn records_come_back_after_a_crash_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let id;
        {
            let (journal, recovered) = Journal::open(dir.path()).unwrap();
            assert!(recovered.segments.is_empty());
            id = journal.current().id();
            journal.append(&Frame::from_encoded(7, b"first")).unwrap();
            journal.append(&Frame::from_encoded(8, b"second")).unwrap();
            // The process dies in the middle of a third write.
            let torn = Frame::from_encoded(9, b"third");
            let path = segment_path(dir.path(), id);
            let mut file = OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all(&torn.0[..torn.0.len() - 2]).unwrap();
        }
        let (entries, stop) = read_all(&segment_path(dir.path(), id));
        assert_eq!(
            entries,
            vec![(7, b"first".to_vec()), (8, b"second".to_vec())]
        );
        assert_eq!(stop, Stop::End);
        let (journal, recovered) = Journal::open(dir.path()).unwrap();
        assert_eq!(recovered.segments, vec![id]);
        assert!(journal.current().id() > id);
    }

    #[test]
    fn a_corrupt_frame_stops_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment-00000000000000000000.log");
        let mut bytes = Frame::from_encoded(1, b"good").0;
        let mut bad = Frame::from_encoded(2, b"flipped").0;
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        bytes.extend_from_slice(&bad);
        bytes.extend_from_slice(&Frame::from_encoded(3, b"after").0);
        std::fs::write(&path, bytes).unwrap();
        let (entries, stop) = read_all(&path);
        assert_eq!(entries, vec![(1, b"good".to_vec())]);
        assert_eq!(stop, Stop::Corrupt);
    }

    #[test]
    fn frames_larger_than_a_read_and_reads_of_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment-00000000000000000000.log");
        let big = vec![b'x'; READ_CHUNK * 2 + 5];
        let mut bytes = Vec::new();
        for seq in 0..3 {
            bytes.extend_from_slice(&Frame::from_encoded(seq, b"small").0);
        }
        bytes.extend_from_slice(&Frame::from_encoded(3, &big).0);
        bytes.extend_from_slice(&Frame::from_encoded(4, b"tail").0);
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        let (offset, stop) = read_frames(&file, 0, 2, &mut buf, &mut out).unwrap();
        assert_eq!((out.len(), stop), (2, Stop::Full));
        let (_, stop) = read_frames(&file, offset, 10, &mut buf, &mut out).unwrap();
        assert_eq!(stop, Stop::End);
        let seqs: Vec<u64> = out.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
        assert_eq!(out[3].record, big);
    }

    #[test]
    fn a_second_open_of_a_held_directory_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (_journal, _) = Journal::open(dir.path()).unwrap();
        let holder = OpenOptions::new()
            .write(true)
            .open(dir.path().join("lock"))
            .unwrap();
        assert!(matches!(
            holder.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
    }
}
