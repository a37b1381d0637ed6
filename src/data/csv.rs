//! Plain numeric CSV: comma-separated numbers, an optional header row, an optional
//! integer label column; gzipped or not.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{check_save_shape, Column, DataError, Dataset, GZIP_MAGIC};
use crate::io::limits::LimitExceeded;
use crate::io::{atomic_write, limits};

/// How to read a CSV file.
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    /// The column holding integer class labels, by header name or by position counting
    /// from 0 (`"0"` is the first column). It is taken out of the features.
    pub label_column: Option<String>,
    /// Whether the first line is a header. `None` detects it: the first line is a
    /// header when one of its fields is not a number.
    pub has_header: Option<bool>,
}

/// What each column of a parsed line turns into.
enum Field {
    Feature(f32),
    Label(u32),
}

/// Loads a CSV (or gzipped CSV) file of numbers into a dataset.
///
/// Fields are separated by commas and trimmed (a trailing `\r` included); quoted
/// fields are not supported. Blank lines are skipped. Errors name the line (counting
/// from 1) and the column (and its header name) of a non-number, a NaN or infinity, a
/// bad label, or a row with the wrong number of fields.
pub fn load_csv(path: &Path, opts: &CsvOptions) -> Result<Dataset, DataError> {
    // Parsed as it is read (and decompressed), so a line past its limit stops the read
    // there rather than after the whole file is in memory.
    let mut rows = CsvRows::open_with(path, opts, Reading::Whole)?;
    match rows.next_chunk(usize::MAX)? {
        Some(data) => Ok(data),
        None => Err(rows.no_rows()),
    }
}

/// A CSV file read a chunk of rows at a time, for data larger than memory: the same
/// parsing and the same errors as [`load_csv`], which reads it in one chunk.
pub struct CsvRows<'a> {
    path: PathBuf,
    lines: Box<dyn BufRead + 'a>,
    /// Lines read so far (the number of the last one).
    line_number: usize,
    /// The first line and its number, when it holds data rather than a header.
    pending: Option<(usize, String)>,
    width: usize,
    header: Option<Vec<String>>,
    label_index: Option<usize>,
    rows_read: usize,
}

impl CsvRows<'static> {
    /// Opens `path` (gzipped when it starts with the gzip magic bytes) and reads its
    /// first line: the header, when there is one, and the number of columns.
    pub fn open(path: &Path, opts: &CsvOptions) -> Result<Self, DataError> {
        CsvRows::open_with(path, opts, Reading::Streamed)
    }

    /// Opens `path` to be read as `reading` says: a file loaded whole is held to the
    /// limits on file size and decompressed bytes ([`limits::FILE_BYTES`],
    /// [`limits::DECOMPRESSED_BYTES`]); a streamed one, whose memory stays flat, only
    /// to being a regular file and to the line limit.
    fn open_with(path: &Path, opts: &CsvOptions, reading: Reading) -> Result<Self, DataError> {
        let file = match reading {
            Reading::Whole => limits::open_regular(path)?.0,
            Reading::Streamed => {
                limits::require_regular(path)?;
                std::fs::File::open(path).map_err(|source| DataError::Io {
                    path: path.to_path_buf(),
                    source,
                })?
            }
        };
        let mut file = BufReader::new(file);
        let gzipped = file
            .fill_buf()
            .map_err(|source| DataError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .starts_with(&GZIP_MAGIC);
        let reader: Box<dyn BufRead> = match (gzipped, reading) {
            (true, Reading::Whole) => Box::new(BufReader::new(limits::BoundedReader::new(
                flate2::read::MultiGzDecoder::new(file),
                limits::DECOMPRESSED_BYTES,
                "decompressing it",
            ))),
            (true, Reading::Streamed) => {
                Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
            }
            (false, _) => Box::new(file),
        };
        CsvRows::from_reader(path, reader, opts)
    }
}

/// How a CSV file is read: into memory whole, or a chunk of rows at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reading {
    Whole,
    Streamed,
}

impl<'a> CsvRows<'a> {
    fn from_reader(
        path: &Path,
        lines: Box<dyn BufRead + 'a>,
        opts: &CsvOptions,
    ) -> Result<Self, DataError> {
        let mut rows = CsvRows {
            path: path.to_path_buf(),
            lines,
            line_number: 0,
            pending: None,
            width: 0,
            header: None,
            label_index: None,
            rows_read: 0,
        };
        let first_line = rows.next_line()?.ok_or_else(|| rows.no_rows())?;
        let first_line = first_line.strip_prefix('\u{feff}').unwrap_or(&first_line);
        let first_fields: Vec<&str> = first_line.split(',').map(str::trim).collect();
        rows.width = first_fields.len();
        let has_header = opts.has_header.unwrap_or_else(|| {
            first_fields
                .iter()
                .any(|f| !f.is_empty() && f.parse::<f64>().is_err())
        });
        if has_header {
            rows.header = Some(first_fields.iter().map(|f| f.to_string()).collect());
        } else {
            rows.pending = Some((rows.line_number, first_line.to_string()));
        }
        rows.label_index = match &opts.label_column {
            Some(name) => Some(find_column(path, name, rows.header.as_deref(), rows.width)?),
            None => None,
        };
        if rows.cols() == 0 {
            return Err(DataError::Empty {
                what: format!(
                    "{} (no feature columns besides the label column)",
                    path.display()
                ),
            });
        }
        Ok(rows)
    }

    /// Feature columns per row (the label column left out).
    pub fn cols(&self) -> usize {
        self.width - usize::from(self.label_index.is_some())
    }

    fn no_rows(&self) -> DataError {
        DataError::Empty {
            what: format!("{} (no data rows)", self.path.display()),
        }
    }

    /// The next line that is not blank, without its line break. A line longer than
    /// [`limits::LINE_BYTES`] is refused when the limit is reached, not at its end.
    fn next_line(&mut self) -> Result<Option<String>, DataError> {
        let mut line = String::new();
        let max = limits::LINE_BYTES.get();
        loop {
            line.clear();
            self.line_number += 1;
            match (&mut self.lines).take(max + 1).read_line(&mut line) {
                Ok(0) => return Ok(None),
                Ok(n) if n as u64 > max => {
                    return Err(DataError::Format {
                        path: self.path.clone(),
                        detail: limits::LINE_BYTES.refusal(
                            &format!("more than {max}"),
                            &format!("line {}", self.line_number),
                            max,
                        ),
                    })
                }
                Ok(_) if line.trim().is_empty() => continue,
                Ok(_) => return Ok(Some(line.trim_end_matches(['\n', '\r']).to_string())),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    return Err(DataError::Format {
                        path: self.path.clone(),
                        detail: format!("line {} is not valid UTF-8 text", self.line_number),
                    })
                }
                Err(e) => {
                    let detail = match e.get_ref().and_then(|r| r.downcast_ref::<LimitExceeded>()) {
                        Some(refusal) => refusal.to_string(),
                        None => format!("the gzip stream is corrupt or truncated ({e})"),
                    };
                    return Err(DataError::Format {
                        path: self.path.clone(),
                        detail,
                    });
                }
            }
        }
    }

    /// Up to `max_rows` more rows (`None` at the end of the file).
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Dataset>, DataError> {
        let mut values = Vec::new();
        let mut labels = Vec::new();
        let mut rows = 0;
        while rows < max_rows {
            let (line_number, line) = match self.pending.take() {
                Some(numbered) => numbered,
                None => match self.next_line()? {
                    Some(line) => (self.line_number, line),
                    None => break,
                },
            };
            self.parse_line(line_number, &line, &mut values, &mut labels)?;
            rows += 1;
        }
        self.rows_read += rows;
        if rows == 0 {
            return Ok(None);
        }
        Ok(Some(Dataset {
            rows,
            cols: self.cols(),
            values,
            labels: self.label_index.map(|_| labels),
            byte_scaled: false,
        }))
    }

    fn parse_line(
        &self,
        line_number: usize,
        line: &str,
        values: &mut Vec<f32>,
        labels: &mut Vec<u32>,
    ) -> Result<(), DataError> {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != self.width {
            return Err(DataError::RaggedRow {
                path: self.path.clone(),
                line: line_number,
                expected: self.width,
                found: fields.len(),
            });
        }
        for (index, text) in fields.into_iter().enumerate() {
            let is_label = self.label_index == Some(index);
            let parsed = parse_field(text, is_label).map_err(|expected| DataError::Parse {
                path: self.path.clone(),
                line: line_number,
                column: Column {
                    index,
                    name: self.header.as_ref().map(|h| h[index].clone()),
                },
                text: limits::shorten(text, 40),
                expected,
            })?;
            match parsed {
                Field::Feature(value) => values.push(value),
                Field::Label(label) => labels.push(label),
            }
        }
        Ok(())
    }
}

/// Parses one field as a finite feature or, in the label column, a non-negative
/// integer (`3` or `3.0`); on failure returns what was expected.
fn parse_field(text: &str, is_label: bool) -> Result<Field, &'static str> {
    if is_label {
        const EXPECTED: &str = "a non-negative integer label";
        if let Ok(label) = text.parse::<u32>() {
            return Ok(Field::Label(label));
        }
        return match text.parse::<f64>() {
            Ok(x) if x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&x) => {
                Ok(Field::Label(x as u32))
            }
            _ => Err(EXPECTED),
        };
    }
    match text.parse::<f32>() {
        Ok(value) if value.is_finite() => Ok(Field::Feature(value)),
        Ok(_) => Err("a finite number"),
        Err(_) => Err("a number"),
    }
}

/// The position of the label column `name`: a header name, else a position counting
/// from 0.
fn find_column(
    path: &Path,
    name: &str,
    header: Option<&[String]>,
    width: usize,
) -> Result<usize, DataError> {
    if let Some(index) = header.and_then(|h| h.iter().position(|c| c == name)) {
        return Ok(index);
    }
    if let Ok(index) = name.parse::<usize>() {
        if index < width {
            return Ok(index);
        }
    }
    let available = match header {
        Some(header) => format!("the header names: {}", header.join(", ")),
        None => format!(
            "the file has no header, so give the label column as a position from 0 to {}",
            width - 1
        ),
    };
    Err(DataError::UnknownColumn {
        path: path.to_path_buf(),
        name: name.to_string(),
        available,
    })
}

/// Saves `rows x cols` row-major `values` as CSV, with an optional header line,
/// writing the file atomically. Numbers are written in the shortest form that reads
/// back to the same `f32`.
pub fn save_csv(
    path: &Path,
    header: Option<&[String]>,
    rows: usize,
    cols: usize,
    values: &[f32],
) -> Result<(), DataError> {
    check_save_shape(path, rows, cols, values)?;
    let mut text = String::new();
    if let Some(header) = header {
        if header.len() != cols {
            return Err(DataError::Shape {
                detail: format!(
                    "cannot save {}: the header has {} names for {cols} columns",
                    path.display(),
                    header.len()
                ),
            });
        }
        if let Some(bad) = header.iter().find(|h| h.contains([',', '\n', '\r'])) {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                detail: format!("header name `{bad}` contains a comma or a line break"),
            });
        }
        text.push_str(&header.join(","));
        text.push('\n');
    }
    push_csv_rows(&mut text, values, cols);
    atomic_write(path, text.as_bytes())?;
    Ok(())
}

/// Appends `values` as lines of `cols` comma-separated numbers, each in the shortest
/// form that reads back to the same `f32`.
pub(crate) fn push_csv_rows(text: &mut String, values: &[f32], cols: usize) {
    if cols == 0 {
        return;
    }
    for row in values.chunks_exact(cols) {
        for (j, value) in row.iter().enumerate() {
            if j > 0 {
                text.push(',');
            }
            // Writing to a String cannot fail.
            let _ = write!(text, "{value}");
        }
        text.push('\n');
    }
}
