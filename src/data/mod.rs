//! Datasets: loading MNIST-style IDX, CSV and NumPy `.npy` files into one dense
//! [`Dataset`], scaling features, and splitting off a validation set.
//!
//! Every loader checks what it reads: a truncated or corrupt file, a non-number, a
//! NaN or a ragged row is an error that names the file and where in it the problem is.

mod csv;
mod error;
mod idx;
mod mnist;
mod npy;
mod scaling;
mod spec;
mod split;
mod stream;
pub mod text;

use std::path::Path;

use crate::io::limits;

pub use csv::{load_csv, save_csv, CsvOptions, CsvRows};
pub use error::{Column, DataError};
pub use idx::{load_idx_images, load_idx_labels};
pub use mnist::{bundled_mnist_dir, load_bundled_mnist, load_mnist, Split};
pub use npy::{load_npy, save_npy, NpyRows, NpyWriter};
pub use scaling::{first_value_outside, Scaler, Scaling, ScalingChoice};
pub use spec::load_spec;
pub use split::{balanced_subset, train_validation_split};
pub use stream::{RowSink, RowStream};
pub use text::{load_bag_of_words, BagOfWords, Vocabulary, VocabularyOptions, Weighting};

/// A dense row-major f32 matrix of samples (rows) by features (cols), with optional
/// integer labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub rows: usize,
    pub cols: usize,
    /// `rows * cols` values, row-major.
    pub values: Vec<f32>,
    /// One label per row, when the source has them.
    pub labels: Option<Vec<u32>>,
    /// True when every value is `k as f32 / 255.0` for an integer `k` in `0..=255`
    /// (e.g. MNIST pixels), so a backend may store it as `u8` and gather batches from
    /// the compact copy.
    pub byte_scaled: bool,
}

impl Dataset {
    /// Wraps `values` (row-major, `rows * cols` of them) as a dataset without labels.
    ///
    /// Fails when the length does not match, when there are no rows or no columns, or
    /// when a value is NaN or infinite (the error names its row and column).
    pub fn new(rows: usize, cols: usize, values: Vec<f32>) -> Result<Self, DataError> {
        if rows == 0 || cols == 0 {
            return Err(DataError::Empty {
                what: format!("a dataset of {rows} rows by {cols} columns"),
            });
        }
        if rows.checked_mul(cols) != Some(values.len()) {
            return Err(DataError::Shape {
                detail: format!(
                    "{rows} rows by {cols} columns need {} values, got {}",
                    rows.saturating_mul(cols),
                    values.len()
                ),
            });
        }
        check_finite(None, cols, &values)?;
        Ok(Dataset {
            rows,
            cols,
            values,
            labels: None,
            byte_scaled: false,
        })
    }

    /// The features of sample `i`.
    ///
    /// # Panics
    /// If `i >= self.rows`, like slice indexing.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.cols..(i + 1) * self.cols]
    }

    /// A new dataset holding the rows at `indices`, in that order, with their labels.
    ///
    /// # Panics
    /// If an index is `>= self.rows`, like slice indexing.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut values = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            values.extend_from_slice(self.row(i));
        }
        Dataset {
            rows: indices.len(),
            cols: self.cols,
            values,
            labels: self
                .labels
                .as_ref()
                .map(|labels| indices.iter().map(|&i| labels[i]).collect()),
            byte_scaled: self.byte_scaled,
        }
    }

    /// The first `n` rows (all of them when `n >= self.rows`).
    pub fn head(&self, n: usize) -> Dataset {
        let n = n.min(self.rows);
        Dataset {
            rows: n,
            cols: self.cols,
            values: self.values[..n * self.cols].to_vec(),
            labels: self.labels.as_ref().map(|labels| labels[..n].to_vec()),
            byte_scaled: self.byte_scaled,
        }
    }
}

/// Fails on the first NaN or infinity in row-major `values`, naming its row and column
/// (and the file, when there is one).
fn check_finite(path: Option<&Path>, cols: usize, values: &[f32]) -> Result<(), DataError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(DataError::NonFinite {
            path: path.map(Path::to_path_buf),
            row: i / cols,
            col: i % cols,
            value: values[i],
        }),
    }
}

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a whole file, decompressing it first when it starts with the gzip magic
/// bytes `1f 8b` (whatever its extension). The file must be a regular one and the
/// decompressed bytes are bounded ([`limits::DECOMPRESSED_BYTES`]): a gzip bomb stops
/// at the limit.
fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    gunzip_if_gzip(path, limits::read_regular(path)?)
}

/// `bytes` decompressed when they start with the gzip magic, else as they are; `path`
/// names them in errors.
fn gunzip_if_gzip(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let context = "decompressing it";
    limits::read_bounded(
        flate2::read::MultiGzDecoder::new(bytes.as_slice()),
        limits::DECOMPRESSED_BYTES,
        context,
    )
    .map_err(|detail| DataError::Format {
        path: path.to_path_buf(),
        detail: if detail.starts_with(context) {
            detail
        } else {
            format!("the gzip stream is corrupt or truncated ({detail})")
        },
    })
}

/// The writers' check that `values` fills a `rows × cols` matrix.
pub(crate) fn check_save_shape(
    path: &std::path::Path,
    rows: usize,
    cols: usize,
    values: &[f32],
) -> Result<(), DataError> {
    if rows.checked_mul(cols) != Some(values.len()) {
        return Err(DataError::Shape {
            detail: format!(
                "cannot save {}: {rows} rows by {cols} columns need {} values, got {}",
                path.display(),
                rows.saturating_mul(cols),
                values.len()
            ),
        });
    }
    Ok(())
}
