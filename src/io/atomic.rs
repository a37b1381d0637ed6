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
    atomic_write_with(path, |file| file.write_all(bytes))
}

/// [`atomic_write`] with the writing done by `write` on the temporary file.
fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), IoError> {
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

    let written = write_and_sync(&temp_path, write).and_then(|()| {
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

/// Creates `temp_path` (it must not exist yet), writes to it and waits until the bytes
/// are on disk.
fn write_and_sync(
    temp_path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), IoError> {
    let io_error = |source| IoError::Io {
        path: temp_path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp_path)
        .map_err(io_error)?;
    write(&mut file).map_err(io_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aegpu-atomic-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = folder("replace");
        let path = dir.join("model.safetensors");
        atomic_write(&path, b"old").unwrap();
        atomic_write(&path, b"new contents").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new contents");
        assert!(leftovers(&dir).is_empty());
    }

    #[test]
    fn a_disk_that_fills_up_mid_write_leaves_the_previous_file_whole() {
        let dir = folder("full");
        let path = dir.join("model.safetensors");
        atomic_write(&path, b"the model a user saved").unwrap();
        // Half the bytes go out, then the disk is full (ENOSPC).
        let err = atomic_write_with(&path, |file| {
            file.write_all(b"half of a new mo")?;
            Err(std::io::Error::from_raw_os_error(28))
        })
        .unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"the model a user saved");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_path() {
        let path = folder("missing").join("no/such/dir/model.safetensors");
        let err = atomic_write(&path, b"x").unwrap_err().to_string();
        assert!(err.contains("no/such/dir"), "{err}");
    }
}
