//! Opening a sled database whose previous holder is still letting go.
//!
//! sled locks `<dir>/db` with `flock` and tries that lock once. After the last
//! handle of a database is dropped, sled's I/O threads can hold the file for a
//! moment longer, so reopening in the same process (the services' reopen tests
//! failed now and then, about one run in five under CPU load) failed with "could
//! not acquire lock". [`open`] first waits, bounded, for that lock to be free.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long [`open`] waits for an earlier holder of the database to let go before
/// letting sled try (and report the lock error if it is still held: another
/// process really is using the directory).
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How often [`wait_for_lock`] looks at a held lock: sled's threads let go within
/// milliseconds.
const LOOK_EVERY: Duration = Duration::from_millis(2);

/// Opens the database `config` describes at `dir`, after waiting (at most
/// [`LOCK_WAIT`]) until nothing else holds its file lock.
pub fn open(dir: impl AsRef<Path>, config: sled::Config) -> sled::Result<sled::Db> {
    open_waiting(dir.as_ref(), config, LOCK_WAIT)
}

/// [`open`], waiting at most `limit`.
fn open_waiting(dir: &Path, config: sled::Config, limit: Duration) -> sled::Result<sled::Db> {
    wait_for_lock(&dir.join("db"), limit);
    config.path(dir).open()
}

/// Returns once `file` (sled's lock file) is not locked, it does not exist, or
/// `limit` passed. A look that gets the lock holds it only until this returns (the
/// handle is dropped), so sled's own attempt follows a free lock. It looks every
/// [`LOOK_EVERY`]: `flock` has no timeout, and a thread blocked in it past `limit`
/// would take the lock from whoever opens the database next.
fn wait_for_lock(file: &Path, limit: Duration) {
    let Ok(file) = File::open(file) else {
        // A new database: nothing to wait for.
        return;
    };
    try_lock_within(&file, limit);
}

/// Tries `file`'s lock every [`LOOK_EVERY`] until it is taken (true) or `limit`
/// passed (false).
fn try_lock_within(file: &File, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    loop {
        if file.try_lock().is_ok() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(LOOK_EVERY);
    }
}

/// Takes the lock of the file at `path` (created if missing) and returns it held:
/// one process at a time in a directory that is not a sled database (the
/// router's usage journal). Waits at most [`LOCK_WAIT`] for a holder in this
/// process that is letting go; another process still holding it then is an
/// error naming the path.
pub fn hold_lock(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    if try_lock_within(&file, LOCK_WAIT) {
        Ok(file)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!("{} is held by another process", path.display()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in a new directory, closed, and its lock taken by someone else
    /// (standing in for sled's I/O threads, in the case this is for).
    fn held_database() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path(), sled::Config::new()).unwrap());
        let holder = File::open(dir.path().join("db")).unwrap();
        holder.lock().unwrap();
        (dir, holder)
    }

    #[test]
    fn waits_for_a_holder_that_lets_go() {
        let (dir, holder) = held_database();
        // The holder lets go only once the new opener is under way.
        let (opening, under_way) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let opener = std::thread::spawn(move || {
            opening.send(()).unwrap();
            open(path, sled::Config::new())
        });
        under_way.recv().unwrap();
        drop(holder);
        opener.join().unwrap().unwrap();
    }

    #[test]
    fn a_lock_still_held_ends_in_sleds_error() {
        let (dir, holder) = held_database();
        let err =
            open_waiting(dir.path(), sled::Config::new(), Duration::from_millis(50)).unwrap_err();
        assert!(err.to_string().contains("lock"), "{err}");
        drop(holder);
        open(dir.path(), sled::Config::new()).unwrap();
    }
}
