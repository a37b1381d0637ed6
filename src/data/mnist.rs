//! MNIST (and any dataset stored under MNIST's file names, such as Fashion-MNIST).

use std::path::{Path, PathBuf};

use super::idx::{parse_idx_images, parse_idx_labels};
use super::{gunzip_if_gzip, load_idx_images, load_idx_labels, DataError, Dataset};

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

/// The MNIST test split (10,000 images, 1.6 MB gzipped) is inside the binary, so
/// `--data mnist:test` works from an installed `aegpu` wherever the source tree is.
const EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../../data/mnist/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../../data/mnist/t10k-labels-idx1-ubyte.gz");

/// The folder of the MNIST copy that ships with this crate: `$AEGPU_DATA_DIR/mnist`
/// when that variable is set; else the first that holds the training images of
/// `data/mnist` in the crate's source tree (where it was built), `data/mnist` next to
/// the executable and `share/aegpu/mnist` beside its `bin` folder (an installed copy);
/// else the source tree's path (whose absence the loader reports).
pub fn bundled_mnist_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("AEGPU_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("mnist");
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("mnist");
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    let beside_exe = exe_dir.iter().flat_map(|d| {
        [
            d.join("data").join("mnist"),
            d.join("..").join("share").join("aegpu").join("mnist"),
        ]
    });
    std::iter::once(built.clone())
        .chain(beside_exe)
        .find(|d| {
            d.join("train-images-idx3-ubyte.gz").is_file()
                || d.join("train-images-idx3-ubyte").is_file()
        })
        .unwrap_or(built)
}

/// The bundled MNIST split: the training split from [`bundled_mnist_dir`]; the test
/// split from there when it is found, else the copy inside the binary. A missing
/// training split is an error that says where it was looked for and where to put it.
pub fn load_bundled_mnist(split: Split) -> Result<Dataset, DataError> {
    let dir = bundled_mnist_dir();
    match (load_mnist(&dir, split), split) {
        (Ok(data), _) => Ok(data),
        (Err(DataError::NotFound { .. }), Split::Test) => {
            let images = Path::new("<embedded>/t10k-images-idx3-ubyte.gz");
            let labels = Path::new("<embedded>/t10k-labels-idx1-ubyte.gz");
            let mut data = parse_idx_images(
                images,
                &gunzip_if_gzip(images, EMBEDDED_TEST_IMAGES.to_vec())?,
            )?;
            data.labels = Some(parse_idx_labels(
                labels,
                &gunzip_if_gzip(labels, EMBEDDED_TEST_LABELS.to_vec())?,
            )?);
            Ok(data)
        }
        (Err(DataError::NotFound { what, looked_for }), Split::Train) => Err(DataError::NotFound {
            what: format!(
                "bundled MNIST training set ({what}; only the test split, mnist:test, is \
                 inside the binary: put the four MNIST .gz files in a folder `mnist` and \
                 set AEGPU_DATA_DIR to its parent, or give --data FOLDER)"
            ),
            looked_for,
        }),
        (Err(e), _) => Err(e),
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
