//! Plain numeric CSV: comma-separated numbers, an optional header row, an optional
//! integer label column; gzipped or not.

use std::fmt::Write as _;
use std::path::Path;

use super::{check_save_shape, read_maybe_gzip, Column, DataError, Dataset};
use crate::io::atomic_write;

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
    let bytes = read_maybe_gzip(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        DataError::Format {
            path: path.to_path_buf(),
            detail: format!("line {line} is not valid UTF-8 text"),
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);

    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim().is_empty())
        .peekable();
    let empty = || DataError::Empty {
        what: format!("{} (no data rows)", path.display()),
    };
    let (_, first_line) = *lines.peek().ok_or_else(empty)?;
    let first_fields: Vec<&str> = first_line.split(',').map(str::trim).collect();
    let width = first_fields.len();
    let has_header = opts.has_header.unwrap_or_else(|| {
        first_fields
            .iter()
            .any(|f| !f.is_empty() && f.parse::<f64>().is_err())
    });
    let header: Option<Vec<String>> = if has_header {
        lines.next();
        Some(first_fields.iter().map(|f| f.to_string()).collect())
    } else {
        None
    };
    let label_index = match &opts.label_column {
        Some(name) => Some(find_column(path, name, header.as_deref(), width)?),
        None => None,
    };
    let column = |index: usize| Column {
        index,
        name: header.as_ref().map(|h| h[index].clone()),
    };

    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut rows = 0;
    for (line_number, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != width {
            return Err(DataError::RaggedRow {
                path: path.to_path_buf(),
                line: line_number,
                expected: width,
                found: fields.len(),
            });
        }
        for (index, text) in fields.into_iter().enumerate() {
            let parsed = parse_field(text, label_index == Some(index)).map_err(|expected| {
                DataError::Parse {
                    path: path.to_path_buf(),
                    line: line_number,
                    column: column(index),
                    text: text.to_string(),
                    expected,
                }
            })?;
            match parsed {
                Field::Feature(value) => values.push(value),
                Field::Label(label) => labels.push(label),
            }
        }
        rows += 1;
    }

    let cols = width - usize::from(label_index.is_some());
    if rows == 0 {
        return Err(empty());
    }
    if cols == 0 {
        return Err(DataError::Empty {
            what: format!(
                "{} (no feature columns besides the label column)",
                path.display()
            ),
        });
    }
    Ok(Dataset {
        rows,
        cols,
        values,
        labels: label_index.map(|_| labels),
        byte_scaled: false,
    })
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
    if cols > 0 {
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
    atomic_write(path, text.as_bytes())?;
    Ok(())
}
