//! Data larger than memory: rows read a chunk at a time from a CSV or `.npy` file, and
//! results (codes, reconstructions, scores) written a chunk at a time to CSV or
//! `.npy`, atomically.
//!
//! Plain `.npy` and CSV (gzipped or not) stream. The other sources (the bundled MNIST,
//! IDX files, gzipped `.npy`) are loaded whole and handed out in chunks: they are
//! image sets of a size that fits in memory.

use std::io::Write;
use std::path::Path;

use super::csv::push_csv_rows;
use super::{load_spec, CsvOptions, CsvRows, DataError, Dataset, NpyRows, NpyWriter, GZIP_MAGIC};
use crate::io::AtomicFile;
use crate::neighbours::hamming::BinaryCodes;

/// Where the rows come from.
enum Source {
    Csv(CsvRows<'static>),
    Npy(NpyRows),
    Loaded { data: Dataset, next_row: usize },
}

/// The rows of a data spec, a chunk at a time.
pub struct RowStream {
    source: Source,
}

impl RowStream {
    /// Opens the data named by `spec` (as [`load_spec`] reads it) for reading in chunks.
    pub fn open(spec: &str, opts: &CsvOptions) -> Result<RowStream, DataError> {
        let name = spec.to_ascii_lowercase();
        let path = Path::new(spec);
        let source = if path.is_file() && (name.ends_with(".csv") || name.ends_with(".csv.gz")) {
            Source::Csv(CsvRows::open(path, opts)?)
        } else if path.is_file() && name.ends_with(".npy") && !is_gzip(path) {
            Source::Npy(NpyRows::open(path)?)
        } else {
            Source::Loaded {
                data: load_spec(spec, opts)?,
                next_row: 0,
            }
        };
        Ok(RowStream { source })
    }

    /// Features per row.
    pub fn cols(&self) -> usize {
        match &self.source {
            Source::Csv(c) => c.cols(),
            Source::Npy(n) => n.cols(),
            Source::Loaded { data, .. } => data.cols,
        }
    }

    /// Whether the rows are read from disk as they are needed (false: loaded whole).
    pub fn streams(&self) -> bool {
        !matches!(self.source, Source::Loaded { .. })
    }

    /// Up to `max_rows` more rows, `None` after the last.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Dataset>, DataError> {
        match &mut self.source {
            Source::Csv(c) => c.next_chunk(max_rows),
            Source::Npy(n) => n.next_chunk(max_rows),
            Source::Loaded { data, next_row } => {
                let rows = max_rows.min(data.rows - *next_row);
                if rows == 0 {
                    return Ok(None);
                }
                let indices: Vec<usize> = (*next_row..*next_row + rows).collect();
                *next_row += rows;
                Ok(Some(data.subset(&indices)))
            }
        }
    }
}

fn is_gzip(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| magic == GZIP_MAGIC)
}

/// Rows of `cols` values written as they come, to `.csv` or `.npy` by the file's
/// extension; the file appears (atomically) when [`RowSink::finish`] succeeds.
pub struct RowSink {
    target: Target,
    cols: usize,
    rows: usize,
}

enum Target {
    /// Each chunk's rows go out in one write of their text.
    Csv(AtomicFile),
    Npy(NpyWriter),
    /// Each value thresholded at ½ to one bit, a row's bits packed into bytes
    /// ([`BinaryCodes::to_bytes`]'s layout) in a `|u1` `.npy`.
    PackedBits(NpyWriter),
}

impl RowSink {
    pub fn create(path: &Path, cols: usize) -> Result<RowSink, DataError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let target = match ext.as_str() {
            "npy" => Target::Npy(NpyWriter::create(path, cols)?),
            "csv" => Target::Csv(AtomicFile::create(path)?),
            _ => {
                return Err(DataError::Format {
                    path: path.to_path_buf(),
                    detail: "use a .npy or .csv file name for the output".into(),
                })
            }
        };
        Ok(RowSink {
            target,
            cols,
            rows: 0,
        })
    }

    /// A sink that stores each row of `cols` values as `cols` bits, packed: binary
    /// codes (semantic hashing), `cols / 8` bytes a row rounded up, in a `.npy` file.
    pub fn create_packed_bits(path: &Path, cols: usize) -> Result<RowSink, DataError> {
        let is_npy = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if is_npy.as_deref() != Some("npy") {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                detail: "packed binary codes are written as bytes to a .npy file".into(),
            });
        }
        Ok(RowSink {
            target: Target::PackedBits(NpyWriter::create_bytes(path, cols.div_ceil(8))?),
            cols,
            rows: 0,
        })
    }

    /// Appends whole rows (`values.len()` a multiple of the width).
    pub fn write_rows(&mut self, values: &[f32]) -> Result<(), DataError> {
        if self.cols == 0 || values.len() % self.cols != 0 {
            return Err(DataError::Shape {
                detail: format!(
                    "{} values do not make rows of {} columns",
                    values.len(),
                    self.cols
                ),
            });
        }
        self.rows += values.len() / self.cols;
        match &mut self.target {
            Target::Npy(w) => w.write_rows(values),
            Target::PackedBits(w) => {
                let codes = BinaryCodes::threshold(values, self.cols, 0.5).map_err(|e| {
                    DataError::Shape {
                        detail: e.to_string(),
                    }
                })?;
                w.write_byte_rows(&codes.to_bytes())
            }
            Target::Csv(w) => {
                let mut text = String::new();
                push_csv_rows(&mut text, values, self.cols);
                let written = w.file().write_all(text.as_bytes());
                w.check(written).map_err(Into::into)
            }
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Flushes and moves the file into place.
    pub fn finish(self) -> Result<usize, DataError> {
        match self.target {
            Target::Npy(w) | Target::PackedBits(w) => w.finish()?,
            Target::Csv(file) => file.commit()?,
        }
        Ok(self.rows)
    }
}
