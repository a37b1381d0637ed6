//! NumPy `.npy` files (format versions 1, 2 and 3), as `np.save` writes them.
//!
//! Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length
//! (`u16` little-endian in version 1, `u32` in versions 2 and 3), a header that is a
//! Python dict literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`
//! padded with spaces and a newline, then the raw elements.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{check_finite, check_save_shape, read_maybe_gzip, DataError, Dataset};
use crate::io::{atomic_write, AtomicFile};

const MAGIC: &[u8] = b"\x93NUMPY";

/// The element types we read, named as in NumPy's `descr`.
#[derive(Clone, Copy, Debug)]
enum Element {
    F4,
    F8,
    U1,
    I4,
    I8,
    B1,
}

impl Element {
    fn from_descr(descr: &str) -> Result<Element, String> {
        match descr {
            "<f4" => Ok(Element::F4),
            "<f8" => Ok(Element::F8),
            "|u1" | "<u1" => Ok(Element::U1),
            "<i4" => Ok(Element::I4),
            "<i8" => Ok(Element::I8),
            "|b1" | "<b1" => Ok(Element::B1),
            other if other.starts_with('>') && other.len() <= 8 => Err(format!(
                "big-endian dtype '{other}' is not supported; save with arr.astype('<{}')",
                &other[1..]
            )),
            other => Err(format!(
                "dtype '{}' is not supported; use float32 (<f4), float64 (<f8), uint8 (|u1), \
                 int32 (<i4), int64 (<i8) or bool (|b1)",
                crate::io::limits::shorten(other, 40)
            )),
        }
    }

    fn size(self) -> usize {
        match self {
            Element::U1 | Element::B1 => 1,
            Element::F4 | Element::I4 => 4,
            Element::F8 | Element::I8 => 8,
        }
    }

    /// Converts one little-endian element (exactly `self.size()` bytes) to f32.
    fn to_f32(self, b: &[u8]) -> f32 {
        let b4 = || [b[0], b[1], b[2], b[3]];
        let b8 = || [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
        match self {
            Element::F4 => f32::from_le_bytes(b4()),
            Element::F8 => f64::from_le_bytes(b8()) as f32,
            Element::U1 => f32::from(b[0]),
            Element::I4 => i32::from_le_bytes(b4()) as f32,
            Element::I8 => i64::from_le_bytes(b8()) as f32,
            Element::B1 => f32::from(u8::from(b[0] != 0)),
        }
    }
}

/// Loads a `.npy` array as a dataset.
///
/// Element types: `<f4`, `<f8`, `|u1`, `<i4`, `<i8` and `|b1`, all converted to f32
/// as they are (`u8` pixels stay `0..=255`; scale them with a [`super::Scaler`]). A
/// 1-D array of `n` becomes `n` rows of one column; an array of shape
/// `(n, d1, d2, ...)` becomes `n` rows of `d1 * d2 * ...` columns (C order).
/// Fortran-ordered and big-endian arrays, truncated files and NaN or infinite values
/// are errors.
pub fn load_npy(path: &Path) -> Result<Dataset, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let (element, shape, data_start) = parse_preamble(path, &bytes)?;
    let body = &bytes[data_start..];
    let (rows, cols) = array_layout(path, element, &shape, body.len())?;
    let values: Vec<f32> = body
        .chunks_exact(element.size())
        .map(|b| element.to_f32(b))
        .collect();
    check_finite(Some(path), cols, &values)?;
    Ok(Dataset {
        rows,
        cols,
        values,
        labels: None,
        byte_scaled: false,
    })
}

/// The element type, the shape and where the data starts, read from the first bytes
/// of a `.npy` file (the whole file, or at least its preamble and header).
fn parse_preamble(path: &Path, bytes: &[u8]) -> Result<(Element, Vec<usize>, usize), DataError> {
    let format_error = |detail: String| DataError::Format {
        path: path.to_path_buf(),
        detail,
    };
    if !bytes.starts_with(MAGIC) {
        let hint = if bytes.starts_with(b"PK\x03\x04") {
            " (this looks like an .npz archive; save a single array with np.save)"
        } else {
            ""
        };
        return Err(format_error(format!(
            "not a NumPy .npy file: it does not start with \\x93NUMPY{hint}"
        )));
    }
    let preamble_error = || {
        format_error(format!(
            "the file ends inside the .npy preamble ({} bytes)",
            bytes.len()
        ))
    };
    let (header_len, header_start) = match bytes.get(6..8) {
        Some([1, _]) => match bytes.get(8..10) {
            Some(&[a, b]) => (usize::from(u16::from_le_bytes([a, b])), 10usize),
            _ => return Err(preamble_error()),
        },
        Some([2 | 3, _]) => match bytes.get(8..12) {
            Some(&[a, b, c, d]) => (u32::from_le_bytes([a, b, c, d]) as usize, 12),
            _ => return Err(preamble_error()),
        },
        Some([major, minor]) => {
            return Err(format_error(format!(
                "unsupported .npy format version {major}.{minor}"
            )))
        }
        _ => return Err(preamble_error()),
    };
    crate::io::limits::HEADER_BYTES
        .check(header_len as u64, "the .npy header")
        .map_err(&format_error)?;
    let data_start = header_start.saturating_add(header_len);
    let header_bytes = bytes.get(header_start..data_start).ok_or_else(|| {
        format_error(format!(
            "the header should be {header_len} bytes, but the file ends after {}",
            bytes.len().saturating_sub(header_start)
        ))
    })?;
    let header = String::from_utf8_lossy(header_bytes);
    let (element, shape) = parse_header(&header).map_err(format_error)?;
    Ok((element, shape, data_start))
}

/// Rows and columns of an array of `shape` (a row is everything after the first
/// axis), checked against the `body_len` bytes of data the file holds.
fn array_layout(
    path: &Path,
    element: Element,
    shape: &[usize],
    body_len: usize,
) -> Result<(usize, usize), DataError> {
    let format_error = |detail: String| DataError::Format {
        path: path.to_path_buf(),
        detail,
    };
    let (rows, cols) = match shape.split_first() {
        None => {
            return Err(format_error(
                "a 0-d array holds one value; a dataset needs a 1-D or 2-D array".to_string(),
            ))
        }
        Some((&rows, rest)) => (
            rows,
            rest.iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .ok_or_else(|| format_error(format!("shape {shape:?} is too large")))?,
        ),
    };
    if rows == 0 || cols == 0 {
        return Err(DataError::Empty {
            what: format!("{} (an array of shape {shape:?})", path.display()),
        });
    }
    let expected = rows
        .checked_mul(cols)
        .and_then(|n| n.checked_mul(element.size()))
        .ok_or_else(|| format_error(format!("shape {shape:?} is too large")))?;
    if body_len != expected {
        let what = if body_len < expected {
            "the file is truncated"
        } else {
            "extra bytes follow the array"
        };
        return Err(format_error(format!(
            "shape {shape:?} of {element:?} needs {expected} bytes of data, found {body_len} ({what})"
        )));
    }
    Ok((rows, cols))
}

/// An uncompressed `.npy` file read a chunk of rows at a time (data larger than
/// memory): the same checks as [`load_npy`], which reads it whole.
pub struct NpyRows {
    path: PathBuf,
    file: BufReader<File>,
    element: Element,
    rows: usize,
    cols: usize,
    next_row: usize,
}

/// The most bytes a `.npy` preamble and header can take that this reader accepts.
const MAX_HEADER_BYTES: u64 = 1 << 20;

impl NpyRows {
    pub fn open(path: &Path) -> Result<NpyRows, DataError> {
        let io = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        crate::io::limits::require_regular(path)?;
        let mut file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut prefix = vec![];
        (&mut file)
            .take(MAX_HEADER_BYTES)
            .read_to_end(&mut prefix)
            .map_err(io)?;
        let (element, shape, data_start) = parse_preamble(path, &prefix)?;
        let body_len = usize::try_from(file_len - data_start as u64).unwrap_or(usize::MAX);
        let (rows, cols) = array_layout(path, element, &shape, body_len)?;
        file.seek(SeekFrom::Start(data_start as u64)).map_err(io)?;
        Ok(NpyRows {
            path: path.to_path_buf(),
            file: BufReader::new(file),
            element,
            rows,
            cols,
            next_row: 0,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Up to `max_rows` more rows (`None` after the last).
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Dataset>, DataError> {
        let rows = max_rows.min(self.rows - self.next_row);
        if rows == 0 {
            return Ok(None);
        }
        let mut bytes = vec![0u8; rows * self.cols * self.element.size()];
        self.file
            .read_exact(&mut bytes)
            .map_err(|source| DataError::Io {
                path: self.path.clone(),
                source,
            })?;
        let values: Vec<f32> = bytes
            .chunks_exact(self.element.size())
            .map(|b| self.element.to_f32(b))
            .collect();
        check_finite(Some(&self.path), self.cols, &values).map_err(|e| match e {
            DataError::NonFinite {
                path,
                row,
                col,
                value,
            } => DataError::NonFinite {
                path,
                row: row + self.next_row,
                col,
                value,
            },
            other => other,
        })?;
        self.next_row += rows;
        Ok(Some(Dataset {
            rows,
            cols: self.cols,
            values,
            labels: None,
            byte_scaled: false,
        }))
    }
}

/// A 2-D `.npy` file of `<f4` (or `|u1`) written a chunk of rows at a time,
/// atomically: the header is written with room for any row count and rewritten with
/// the real one at the end.
pub struct NpyWriter {
    file: AtomicFile,
    descr: &'static str,
    cols: usize,
    rows: usize,
    header_len: usize,
}

impl NpyWriter {
    /// A writer of f32 rows (`<f4`).
    pub fn create(path: &Path, cols: usize) -> Result<NpyWriter, DataError> {
        NpyWriter::with_descr(path, F32_DESCR, cols)
    }

    /// A writer of byte rows (`|u1`), e.g. packed binary codes.
    pub fn create_bytes(path: &Path, cols: usize) -> Result<NpyWriter, DataError> {
        NpyWriter::with_descr(path, U8_DESCR, cols)
    }

    fn with_descr(path: &Path, descr: &'static str, cols: usize) -> Result<NpyWriter, DataError> {
        let mut file = AtomicFile::create(path)?;
        // Room for a row count of any width: padded to the header of u64::MAX rows.
        let header_len = npy_header(descr, u64::MAX as usize, cols, 0).len();
        let written = file
            .file()
            .write_all(&npy_header(descr, 0, cols, header_len));
        file.check(written)?;
        Ok(NpyWriter {
            file,
            descr,
            cols,
            rows: 0,
            header_len,
        })
    }

    /// Appends whole f32 rows to a writer made by [`NpyWriter::create`].
    pub fn write_rows(&mut self, values: &[f32]) -> Result<(), DataError> {
        debug_assert_eq!(self.descr, F32_DESCR);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.write_raw(&bytes, values.len())
    }

    /// Appends whole byte rows to a writer made by [`NpyWriter::create_bytes`].
    pub fn write_byte_rows(&mut self, bytes: &[u8]) -> Result<(), DataError> {
        debug_assert_eq!(self.descr, U8_DESCR);
        self.write_raw(bytes, bytes.len())
    }

    fn write_raw(&mut self, bytes: &[u8], elements: usize) -> Result<(), DataError> {
        let written = self.file.file().write_all(bytes);
        self.file.check(written)?;
        self.rows += elements / self.cols.max(1);
        Ok(())
    }

    /// Writes the final row count into the header and moves the file into place.
    pub fn finish(mut self) -> Result<(), DataError> {
        let header = npy_header(self.descr, self.rows, self.cols, self.header_len);
        let file = self.file.file();
        let written = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&header))
            .and_then(|_| file.flush());
        self.file.check(written)?;
        self.file.commit()?;
        Ok(())
    }
}

const F32_DESCR: &str = "<f4";
const U8_DESCR: &str = "|u1";

/// The preamble and header of a 2-D array of `descr` elements (format 1.0), padded
/// with spaces to `min_len` bytes or the next multiple of 64, whichever is longer:
/// NumPy wants the data to start 64-byte aligned.
fn npy_header(descr: &str, rows: usize, cols: usize, min_len: usize) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // The 10-byte preamble and the closing newline count.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    let total = unpadded.next_multiple_of(64).max(min_len);
    header.push_str(&" ".repeat(total - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    // The header of a 2-D array is far below the 64 KiB limit of version 1.
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes
}

/// Saves `rows x cols` row-major `values` as a 2-D `<f4` `.npy` file (format 1.0),
/// written atomically; `np.load(path)` reads it back.
pub fn save_npy(path: &Path, rows: usize, cols: usize, values: &[f32]) -> Result<(), DataError> {
    check_save_shape(path, rows, cols, values)?;
    let mut bytes = npy_header(F32_DESCR, rows, cols, 0);
    bytes.reserve(4 * values.len());
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    atomic_write(path, &bytes)?;
    Ok(())
}

/// Reads the element type and shape out of the header dict.
fn parse_header(header: &str) -> Result<(Element, Vec<usize>), String> {
    let mut parser = LiteralParser {
        text: header.as_bytes(),
        pos: 0,
    };
    let dict = match parser.value()? {
        PyValue::Dict(entries) => entries,
        _ => {
            return Err(format!(
                "the header is not a dict: {}",
                crate::io::limits::shorten(header.trim(), 120)
            ))
        }
    };
    parser.skip_whitespace();
    if parser.pos != parser.text.len() {
        return Err(format!(
            "unexpected text after the header dict: {}",
            crate::io::limits::shorten(header.trim(), 120)
        ));
    }
    let entry = |key: &str| {
        dict.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                format!(
                    "the header has no '{key}': {}",
                    crate::io::limits::shorten(header.trim(), 120)
                )
            })
    };
    let element = match entry("descr")? {
        PyValue::Str(descr) => Element::from_descr(descr)?,
        PyValue::Sequence(_) => {
            return Err("structured (record) dtypes are not supported".to_string())
        }
        other => {
            return Err(format!(
                "'descr' should be a string, found {}",
                crate::io::limits::shorten(&format!("{other:?}"), 80)
            ))
        }
    };
    match entry("fortran_order")? {
        PyValue::Bool(false) => {}
        PyValue::Bool(true) => {
            return Err(
                "the array is in Fortran (column-major) order; save it with np.save(path, np.ascontiguousarray(arr))"
                    .to_string(),
            )
        }
        other => return Err(format!("'fortran_order' should be True or False, found {}", crate::io::limits::shorten(&format!("{other:?}"), 80))),
    }
    let shape = match entry("shape")? {
        PyValue::Sequence(items) => items
            .iter()
            .map(|item| match item {
                PyValue::Int(n) => {
                    usize::try_from(*n).map_err(|_| format!("shape entry {n} is not a valid size"))
                }
                other => Err(format!(
                    "shape entries should be integers, found {}",
                    crate::io::limits::shorten(&format!("{other:?}"), 80)
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(format!(
                "'shape' should be a tuple, found {}",
                crate::io::limits::shorten(&format!("{other:?}"), 80)
            ))
        }
    };
    Ok((element, shape))
}

/// The Python literals that can appear in a `.npy` header.
#[derive(Debug)]
enum PyValue {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    /// A tuple or a list.
    Sequence(Vec<PyValue>),
    Dict(Vec<(String, PyValue)>),
}

/// A small parser for Python literals (dicts, tuples, lists, strings, integers, `True`,
/// `False`, `None`). It is iterative: the dicts, tuples and lists open around the current
/// position are an explicit stack, held to [`MAX_DEPTH`] entries, so no header, however
/// nested, can overflow the call stack.
struct LiteralParser<'a> {
    text: &'a [u8],
    pos: usize,
}

/// The deepest nesting a header may have; NumPy's own headers nest two levels
/// (a dict holding a shape tuple), structured dtypes a few more.
const MAX_DEPTH: usize = 32;

/// A dict, tuple or list whose closing bracket has not been read yet.
enum Open {
    /// A dict, and the key read whose value comes next.
    Dict {
        entries: Vec<(String, PyValue)>,
        key: Option<String>,
    },
    /// A tuple or list, closed by `close`.
    Sequence { items: Vec<PyValue>, close: u8 },
}

impl Open {
    fn close(&self) -> u8 {
        match self {
            Open::Dict { .. } => b'}',
            Open::Sequence { close, .. } => *close,
        }
    }

    /// True where the next thing may be the closing bracket: at the start, or after a
    /// comma (Python allows a trailing one), but not between a key and its value.
    fn at_item_start(&self) -> bool {
        !matches!(self, Open::Dict { key: Some(_), .. })
    }

    fn finish(self) -> PyValue {
        match self {
            Open::Dict { entries, .. } => PyValue::Dict(entries),
            Open::Sequence { items, .. } => PyValue::Sequence(items),
        }
    }
}

/// What the parser does next.
enum Step {
    /// Read a value (or, where allowed, the innermost container's closing bracket).
    Read,
    /// Hand a finished value to the innermost container, or return it if none is open.
    Finished(PyValue),
    /// The innermost container's closing bracket was read: it is finished.
    Close,
}

impl LiteralParser<'_> {
    fn skip_whitespace(&mut self) {
        while self.text.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.get(self.pos).copied()
    }

    fn error(&self, what: &str) -> String {
        format!(
            "cannot parse the header at byte {}: {what} in `{}`",
            self.pos,
            crate::io::limits::shorten(String::from_utf8_lossy(self.text).trim(), 120)
        )
    }

    /// One value, with whatever it holds.
    fn value(&mut self) -> Result<PyValue, String> {
        let mut open: Vec<Open> = Vec::new();
        let mut step = Step::Read;
        loop {
            step = match step {
                Step::Read => self.read(&mut open)?,
                Step::Finished(value) => {
                    let Some(container) = open.last_mut() else {
                        return Ok(value);
                    };
                    self.add(container, value)?
                }
                Step::Close => match open.pop() {
                    Some(container) => Step::Finished(container.finish()),
                    None => return Err(self.error("unbalanced brackets")),
                },
            };
        }
    }

    /// Reads the next token where a value is expected: a scalar is finished at once; an
    /// opening bracket is pushed; a closing bracket finishes its container.
    fn read(&mut self, open: &mut Vec<Open>) -> Result<Step, String> {
        let next = self.peek();
        if let Some(container) = open.last() {
            if container.at_item_start() && next == Some(container.close()) {
                self.pos += 1;
                return Ok(Step::Close);
            }
        }
        let container = match next {
            Some(b'{') => Open::Dict {
                entries: Vec::new(),
                key: None,
            },
            Some(b'(') => Open::Sequence {
                items: Vec::new(),
                close: b')',
            },
            Some(b'[') => Open::Sequence {
                items: Vec::new(),
                close: b']',
            },
            Some(quote @ (b'\'' | b'"')) => {
                return Ok(Step::Finished(PyValue::Str(self.string(quote)?)))
            }
            Some(b'-' | b'0'..=b'9') => return self.integer().map(Step::Finished),
            Some(b'A'..=b'Z' | b'a'..=b'z') => return self.word().map(Step::Finished),
            Some(_) => return Err(self.error("unexpected character")),
            None => return Err(self.error("unexpected end")),
        };
        if open.len() >= MAX_DEPTH {
            return Err(self.error(&format!("nested more than {MAX_DEPTH} levels deep")));
        }
        self.pos += 1;
        open.push(container);
        Ok(Step::Read)
    }

    /// Puts a finished `value` into `container` (as a dict key, a dict value or an item),
    /// then reads the separator after it: `:`, `,` or the closing bracket.
    fn add(&mut self, container: &mut Open, value: PyValue) -> Result<Step, String> {
        match container {
            Open::Dict {
                key: key @ None, ..
            } => {
                let PyValue::Str(k) = value else {
                    return Err(self.error("dict keys must be strings"));
                };
                *key = Some(k);
                if self.peek() != Some(b':') {
                    return Err(self.error("expected ':'"));
                }
                self.pos += 1;
                return Ok(Step::Read);
            }
            Open::Dict { entries, key } => {
                let k = key.take().unwrap_or_default();
                entries.push((k, value));
            }
            Open::Sequence { items, .. } => items.push(value),
        }
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(Step::Read)
            }
            Some(c) if c == container.close() => {
                self.pos += 1;
                Ok(Step::Close)
            }
            _ => Err(self.error("expected ',' or a closing bracket")),
        }
    }

    fn string(&mut self, quote: u8) -> Result<String, String> {
        self.pos += 1; // opening quote
        let mut bytes = Vec::new();
        loop {
            match self.text.get(self.pos) {
                None => return Err(self.error("unterminated string")),
                Some(&c) if c == quote => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&bytes).into_owned());
                }
                Some(b'\\') => {
                    let escaped = self.text.get(self.pos + 1).copied();
                    bytes.push(escaped.ok_or_else(|| self.error("unterminated string"))?);
                    self.pos += 2;
                }
                Some(&c) => {
                    bytes.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn integer(&mut self) -> Result<PyValue, String> {
        let start = self.pos;
        if self.text.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        while self.text.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        let digits = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
        // Python 2 wrote long integers with an `L` suffix, e.g. `(3L, 4L)`.
        if matches!(self.text.get(self.pos), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        digits
            .parse()
            .map(PyValue::Int)
            .map_err(|_| self.error(&format!("`{digits}` is not an integer")))
    }

    fn word(&mut self) -> Result<PyValue, String> {
        let start = self.pos;
        while self
            .text
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            self.pos += 1;
        }
        match &self.text[start..self.pos] {
            b"True" => Ok(PyValue::Bool(true)),
            b"False" => Ok(PyValue::Bool(false)),
            b"None" => Ok(PyValue::None),
            _ => {
                self.pos = start;
                Err(self.error("unknown name"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(text: &str) -> Result<PyValue, String> {
        let mut parser = LiteralParser {
            text: text.as_bytes(),
            pos: 0,
        };
        parser.value()
    }

    #[test]
    fn reads_numpy_headers_with_trailing_commas_and_python2_longs() {
        let (element, shape) =
            parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4,), }").unwrap();
        assert_eq!(element.size(), 4);
        assert_eq!(shape, [3, 4]);
        let (_, scalar) =
            parse_header("{'descr': '|u1', 'fortran_order': False, 'shape': ()}").unwrap();
        assert!(scalar.is_empty());
    }

    #[test]
    fn reads_nested_and_empty_containers() {
        let v = literal("{'a': [(), {}, [1, (2, [None, True])]], 'b': -7}").unwrap();
        let text = format!("{v:?}");
        assert_eq!(
            text,
            "Dict([(\"a\", Sequence([Sequence([]), Dict([]), Sequence([Int(1), \
             Sequence([Int(2), Sequence([None, Bool(true)])])])])), (\"b\", Int(-7))])"
        );
    }

    #[test]
    fn nesting_is_limited_without_recursion() {
        let at_limit = "(".repeat(MAX_DEPTH) + &")".repeat(MAX_DEPTH);
        assert!(literal(&at_limit).is_ok());
        let over = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(literal(&over).unwrap_err().contains("nested more than 32"));
        // A million levels: refused at level 33, whatever the stack size.
        let hostile = "{'a': ".to_string() + &"(".repeat(1_000_000);
        assert!(literal(&hostile).unwrap_err().contains("nested more than"));
    }

    #[test]
    fn refuses_malformed_literals_in_one_line() {
        for bad in [
            "{'a' 1}",
            "{1: 2}",
            "(1 2)",
            "(1, 2]",
            "{'a': }",
            "(",
            "'open",
            "Nope",
            "{'a': 1,, }",
        ] {
            let e = literal(bad).unwrap_err();
            assert!(e.starts_with("cannot parse the header"), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
