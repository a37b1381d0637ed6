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
    let mut file = AtomicFile::create(path)?;
    let result = write(file.file());
    file.check(result)?;
    file.commit()
}

/// A file written in pieces (codes streamed out chunk by chunk) that appears at its
/// path only when [`AtomicFile::commit`] succeeds: until then it is a temporary file
/// in the same folder, removed if the writer is dropped or fails.
pub struct AtomicFile {
    path: PathBuf,
    temp_path: PathBuf,
    folder: PathBuf,
    file: File,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file for `path`.
    pub fn create(path: &Path) -> Result<AtomicFile, IoError> {
        let file_name = path.file_name().ok_or_else(|| IoError::Metadata {
            path: path.to_path_buf(),
            detail: "cannot write here: the path does not end in a file name".to_string(),
        })?;
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        remove_stale_temporaries(&folder, &file_name.to_string_lossy());
        let temp_name = format!(
            ".{}.{}.{}.tmp",
            file_name.to_string_lossy(),
            std::process::id(),
            NEXT_TEMP_ID.fetch_add(1, Ordering::Relaxed)
        );
        let temp_path = folder.join(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .map_err(|source| IoError::Io {
                path: temp_path.clone(),
                source,
            })?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            temp_path,
            folder,
            file,
            committed: false,
        })
    }

    /// The temporary file, to write (and seek) in.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Turns a write's I/O error into one naming the temporary file.
    pub fn check<T>(&self, result: std::io::Result<T>) -> Result<T, IoError> {
        result.map_err(|source| IoError::Io {
            path: self.temp_path.clone(),
            source,
        })
    }

    /// Waits until the bytes are on disk, then renames the file into place.
    pub fn commit(mut self) -> Result<(), IoError> {
        let synced = self.file.sync_all();
        self.check(synced)?;
        fs::rename(&self.temp_path, &self.path).map_err(|source| IoError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.committed = true;
        sync_folder(&self.folder);
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: nothing else can be done about a temporary file that
            // cannot be removed.
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

/// Removes the temporary files of `file_name` in `folder` left by processes that are no
/// longer running (a run killed mid-write): `.<file name>.<pid>.<n>.tmp` whose pid is
/// not alive. Only Linux tells (through `/proc`); elsewhere nothing is removed. Best
/// effort: a file that cannot be removed is left.
pub fn remove_stale_temporaries(folder: &Path, file_name: &str) {
    let proc_root = Path::new("/proc/self");
    if !proc_root.exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    let prefix = format!(".{file_name}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, n)) = rest.split_once('.') else {
            continue;
        };
        let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), n.parse::<u64>()) else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists();
        if !alive {
            let _ = fs::remove_file(entry.path());
        }
    }
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
    fn temporaries_of_dead_processes_are_removed_and_live_ones_kept() {
        let dir = folder("stale");
        let path = dir.join("model.safetensors");
        // Pid 4194304 is above Linux's largest pid, so no process has it.
        let dead = dir.join(".model.safetensors.4194304.0.tmp");
        let live = dir.join(format!(".model.safetensors.{}.999.tmp", std::process::id()));
        let other = dir.join(".other.safetensors.4194304.0.tmp");
        for p in [&dead, &live, &other] {
            fs::write(p, b"partial").unwrap();
        }
        atomic_write(&path, b"x").unwrap();
        assert_eq!(dead.exists(), !Path::new("/proc/self").exists());
        assert!(live.exists() && other.exists());
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_the_path() {
        let path = folder("missing").join("no/such/dir/model.safetensors");
        let err = atomic_write(&path, b"x").unwrap_err().to_string();
        assert!(err.contains("no/such/dir"), "{err}");
    }
}
