//! Writing a file so that readers see either the old contents or the new, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::IoError;

/// Tells apart temporary files made by different calls in the same process.
static NEXT_TEMP_ID: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically.
///
/// The bytes go to a temporary file in the same folder (named
/// `.<file name>.<pid>.<n>.tmp`), which is flushed to disk and then renamed over
/// `path`. If anything fails (a full disk, a missing folder, a permission) the
/// temporary file is removed and whatever was at `path` before is left untouched.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let file_name = path.file_name().ok_or_else(|| IoError::Metadata {
        path: path.to_path_buf(),
        detail: "cannot write here: the path does not end in a file name".to_string(),
    })?;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp_name = format!(
        ".{}.{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        NEXT_TEMP_ID.fetch_add(1, Ordering::Relaxed)
    );
    let temp_path = folder.join(temp_name);

    let written = write_and_sync(&temp_path, bytes).and_then(|()| {
        fs::rename(&temp_path, path).map_err(|source| IoError::Io {
            path: path.to_path_buf(),
            source,
        })
    });
    if written.is_err() {
        // Best effort: the temporary file may not even exist if creating it failed.
        let _ = fs::remove_file(&temp_path);
        return written;
    }
    sync_folder(&folder);
    Ok(())
}

/// Creates `temp_path` (it must not exist yet), writes `bytes` and waits until they are on disk.
fn write_and_sync(temp_path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let io_error = |source| IoError::Io {
        path: temp_path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp_path)
        .map_err(io_error)?;
    file.write_all(bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// Flushes the folder entry so the rename itself survives a power cut.
///
/// This is best effort: some platforms and file systems cannot open or sync a folder,
/// and the file is already complete and in place by now.
fn sync_folder(folder: &Path) {
    if cfg!(unix) {
        if let Ok(dir) = File::open(folder) {
            let _ = dir.sync_all();
        }
    }
}
