//! Outputs checked before any work starts: an output that is one of the run's inputs
//! (under another spelling, a symlink or a hard link) is refused, and an output's
//! folder must exist and take new files, so a typo is found before training, not
//! after it.

use std::path::Path;

use super::{AtomicFile, IoError};

/// Whether `a` and `b` are the same existing file: the same device and inode on Unix
/// (which sees through symlinks, hard links and `./` spellings), the same canonical path
/// elsewhere. A path that does not exist is no file's twin.
pub fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = (&ma, &mb);
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}

/// Refuses when any of `outputs` is the same file as any of `inputs`; each is a flag
/// name (for the message) and a path.
pub fn refuse_overwrite(
    outputs: &[(&str, &Path)],
    inputs: &[(&str, &Path)],
) -> Result<(), IoError> {
    for (output, output_path) in outputs {
        for (input, input_path) in inputs {
            if same_file(output_path, input_path) {
                return Err(IoError::WouldOverwriteInput {
                    output: output.to_string(),
                    output_path: output_path.to_path_buf(),
                    input: input.to_string(),
                    input_path: input_path.to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

/// Checks that a file can be written at `path` later: its folder exists and takes a new
/// file (a temporary one is created and removed), and `path` is not a folder.
pub fn check_output_folder(path: &Path) -> Result<(), IoError> {
    if path.is_dir() {
        return Err(IoError::Metadata {
            path: path.to_path_buf(),
            detail: "is a folder; give a file name for this output".into(),
        });
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(IoError::Metadata {
                path: path.to_path_buf(),
                detail: format!(
                    "cannot be written: the folder {} does not exist",
                    parent.display()
                ),
            });
        }
    }
    // Dropped uncommitted: the probe removes itself.
    AtomicFile::create(path).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_spellings_of_one_file_are_the_same_file() {
        let dir = std::env::temp_dir().join(format!("aegpu-same-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("data.csv");
        std::fs::write(&a, "1,2\n").unwrap();
        let other = dir.join("other.csv");
        std::fs::write(&other, "1,2\n").unwrap();
        assert!(same_file(&a, &dir.join(".").join("data.csv")));
        #[cfg(unix)]
        {
            let link = dir.join("link.csv");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&a, &link).unwrap();
            assert!(same_file(&a, &link));
        }
        assert!(!same_file(&a, &other));
        assert!(!same_file(&a, &dir.join("missing.csv")));
        let e = refuse_overwrite(&[("--out", &a)], &[("--data", &other), ("--test", &a)]);
        assert!(e.unwrap_err().to_string().contains("--test"));
        std::fs::remove_dir_all(dir).ok();
    }
}
