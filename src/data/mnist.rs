//! MNIST (and any dataset stored under MNIST's file names, such as Fashion-MNIST).

use std::path::{Path, PathBuf};

use super::{load_idx_images, load_idx_labels, DataError, Dataset};

/// Which half of an MNIST-style dataset to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The 60 000 training images (`train-*` files).
    Train,
    /// The 10 000 test images (`t10k-*` files).
    Test,
}

impl Split {
    /// The prefix of this split's file names.
    fn file_prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Loads one split of an MNIST-style dataset from `dir`, with its labels attached.
///
/// `dir` holds `{train,t10k}-images-idx3-ubyte` and `{train,t10k}-labels-idx1-ubyte`,
/// each optionally gzipped (`.gz`). The images and labels must agree in number.
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let prefix = split.file_prefix();
    let images_path = find_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let mut data = load_idx_images(&images_path)?;
    let labels = load_idx_labels(&labels_path)?;
    if labels.len() != data.rows {
        return Err(DataError::CountMismatch {
            images_path,
            images: data.rows,
            labels_path,
            labels: labels.len(),
        });
    }
    data.labels = Some(labels);
    Ok(data)
}

/// The folder of the MNIST copy that ships with this crate: `data/mnist` in the
/// crate's source tree, or `$AEGPU_DATA_DIR/mnist` when that variable is set.
pub fn bundled_mnist_dir() -> PathBuf {
    match std::env::var_os("AEGPU_DATA_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("mnist"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join("mnist"),
    }
}

/// `dir/name.gz` if it exists, else `dir/name` if it exists.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let candidates = [dir.join(format!("{name}.gz")), dir.join(name)];
    match candidates.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(DataError::NotFound {
            what: format!("`{name}` in {}", dir.display()),
            looked_for: candidates.to_vec(),
        }),
    }
}
