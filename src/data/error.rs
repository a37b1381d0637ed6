//! The error type of the data loaders.

use std::fmt;
use std::path::PathBuf;

use crate::io::IoError;

/// What can go wrong loading, scaling or splitting data.
#[derive(thiserror::Error, Debug)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file's bytes are not in the format it should have.
    #[error("{}: {detail}", path.display())]
    Format { path: PathBuf, detail: String },
    /// A NaN or infinity in loaded or given values (row and column count from 0).
    #[error("{}row {row}, column {col} (counting from 0) is {value}; data must be finite",
        path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    NonFinite {
        path: Option<PathBuf>,
        row: usize,
        col: usize,
        value: f32,
    },
    /// There is nothing to work with: no rows, or no feature columns.
    #[error("{what} holds no data")]
    Empty { what: String },
    /// Values and dimensions that do not agree.
    #[error("{detail}")]
    Shape { detail: String },
    /// A text field that is not what its column needs (`line` counts from 1).
    #[error("{}, line {line}, {column}: found `{text}`, expected {expected}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        column: Column,
        text: String,
        expected: &'static str,
    },
    /// A CSV line with a different number of fields from the first one.
    #[error("{}, line {line}: {found} fields, but the first row has {expected}", path.display())]
    RaggedRow {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    /// The label column asked for is not in the file.
    #[error("{} has no column `{}`; {}", path.display(), crate::io::limits::shorten(name, 40), crate::io::limits::shorten(available, 200))]
    UnknownColumn {
        path: PathBuf,
        name: String,
        available: String,
    },
    /// An images file and its labels file disagree on the number of samples.
    #[error("{} holds {images} images but {} holds {labels} labels", images_path.display(), labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },
    /// None of the files a dataset can be stored as exists.
    #[error("no {what}: looked for {}", looked_for.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and "))]
    NotFound {
        what: String,
        looked_for: Vec<PathBuf>,
    },
    /// A data spec that names neither a bundled dataset nor a file we can read.
    #[error("cannot load `{spec}`: {detail}")]
    UnknownSpec { spec: String, detail: String },
    /// A scaler fitted on one number of features applied to another.
    #[error("the scaler was fitted on {expected} features, but the data has {found}")]
    WidthMismatch { expected: usize, found: usize },
    /// A scaling name other than `auto`, `none`, `minmax` or `standard`.
    #[error("unknown scaling `{text}`; expected auto, none, minmax or standard")]
    UnknownScaling { text: String },
    /// A validation fraction outside `[0, 1)`.
    #[error("the data has no labels{hint}")]
    NoLabels { hint: String },

    #[error("{asked} labelled rows asked for, but the data has only {rows} rows")]
    TooFewLabelled { asked: usize, rows: usize },

    #[error("validation fraction {fraction} is outside [0, 1)")]
    InvalidFraction { fraction: f32 },
    /// A split that would leave the training or the validation part empty.
    #[error("splitting {rows} rows with validation fraction {fraction} leaves {validation} validation and {train} training rows; both need at least one")]
    SplitTooSmall {
        rows: usize,
        fraction: f32,
        validation: usize,
        train: usize,
    },
    /// Writing an output file failed (the previous file, if any, is intact), or a file
    /// could not be read whole (over a limit, or not a regular file).
    #[error(transparent)]
    Write(#[from] IoError),
}

/// A column of a text file, for error messages: its position (counting from 0) and
/// its header name when the file has a header. Displays as `column 3 (`petal length`)`,
/// counting from 1 like a spreadsheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub index: usize,
    pub name: Option<String>,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}", self.index + 1)?;
        if let Some(name) = &self.name {
            write!(f, " (`{}`)", crate::io::limits::shorten(name, 40))?;
        }
        Ok(())
    }
}
