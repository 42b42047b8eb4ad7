//! Carrying over an outbox written by an earlier version, which kept records in a
//! sled database (tree `outbox`, key: sequence number u64 BE, value: the record)
//! in `router.outbox_dir` beside the journal.
//!
//! Its records are appended to the journal's new segment and synced before the
//! database's files are deleted, so a crash in between only carries them over
//! twice (metering ignores the duplicates). Journal segments that version left
//! have the same frames and are read as they are.

use std::path::Path;

use crate::RouterError;
use crate::journal::{Frame, Journal};

/// The files and directories sled 0.34 keeps in its directory.
fn is_sled_file(name: &str) -> bool {
    matches!(name, "db" | "conf" | "blobs") || name.starts_with("snap.")
}

/// Moves the records of a sled outbox in `dir`, if there is one, into `journal`,
/// then deletes the database: `db` first (once it is gone, nothing is carried
/// over again), then whatever else of it is left, also after a crash midway.
pub fn carry_over(dir: &Path, journal: &Journal) -> Result<(), RouterError> {
    let db_file = dir.join("db");
    if db_file.exists() {
        let count = import(dir, journal)?;
        remove(&db_file)?;
        tracing::info!(
            records = count,
            "usage outbox: carried the records of the earlier sled outbox over into the journal"
        );
    }
    for entry in std::fs::read_dir(dir).map_err(RouterError::outbox)? {
        let entry = entry.map_err(RouterError::outbox)?;
        if entry.file_name().to_str().is_some_and(is_sled_file) {
            remove(&entry.path())?;
        }
    }
    Ok(())
}

/// Appends every record of the database to the journal and syncs it.
fn import(dir: &Path, journal: &Journal) -> Result<u64, RouterError> {
    let db = switchyard_durable::open(dir, sled::Config::new()).map_err(RouterError::outbox)?;
    let tree = db.open_tree("outbox").map_err(RouterError::outbox)?;
    let mut count = 0;
    for item in tree.iter() {
        let (key, value) = item.map_err(RouterError::outbox)?;
        let seq = <[u8; 8]>::try_from(key.as_ref()).map_or(0, u64::from_be_bytes);
        journal
            .append(&Frame::from_encoded(seq, &value))
            .map_err(RouterError::outbox)?;
        count += 1;
    }
    journal.current().sync().map_err(RouterError::outbox)?;
    Ok(count)
}

fn remove(path: &Path) -> Result<(), RouterError> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    removed.map_err(|e| RouterError::outbox(format!("cannot remove {}: {e}", path.display())))
}
