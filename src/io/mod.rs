//! Model files: atomic writes and safetensors files with string metadata.
//!
//! Everything a user cares about (models, checkpoints, exported codes) goes through
//! [`atomic_write`], so a crash or a full disk never leaves a half-written file where a
//! good one used to be.

mod atomic;
pub mod limits;
mod outputs;
mod tensor_file;

use std::path::PathBuf;

pub use atomic::{atomic_write, remove_stale_temporaries, AtomicFile};
pub use outputs::{check_output_folder, refuse_overwrite, same_file};
pub use tensor_file::{
    find_tensor, load_safetensors, parse_safetensors, save_safetensors, NamedTensor,
};

/// What can go wrong reading or writing a model file.
#[derive(thiserror::Error, Debug)]
pub enum IoError {
    /// The operating system refused a read, write or rename.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file exists but its bytes are not what its format requires.
    #[error("{} is not a valid model file: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// A tensor the caller needs is not in the file.
    #[error("{} has no tensor named `{name}`", path.display())]
    MissingTensor { path: PathBuf, name: String },
    /// A tensor has a different shape from the one the caller needs (or, when saving,
    /// its values do not fill its shape).
    #[error("{}: tensor `{name}` should have shape {expected:?}, found {found:?}", path.display())]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A tensor is stored with an element type this crate does not read.
    #[error("{}: tensor `{name}` is stored as {dtype}, but only F32 tensors can be loaded", path.display())]
    UnsupportedDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    /// A file over one of the [`limits`], or one that cannot be read whole (a FIFO, a
    /// device).
    #[error("{}: {detail}", path.display())]
    Limit { path: PathBuf, detail: String },
    /// An output that would replace one of the run's inputs.
    #[error("{output} {} is the same file as {input} {}; choose another output path", output_path.display(), input_path.display())]
    WouldOverwriteInput {
        output: String,
        output_path: PathBuf,
        input: String,
        input_path: PathBuf,
    },
    /// A tensor holding NaN or an infinity.
    #[error("{}: tensor `{name}` holds {value} at index {index}; a model's weights must be finite", path.display())]
    NonFinite {
        path: PathBuf,
        name: String,
        index: usize,
        value: f32,
    },
    /// The tensors do not match the checksum recorded when the file was written.
    #[error("{}: the tensors do not match the checksum saved with them ({expected} recorded, {found} computed): the file was changed or damaged after it was written", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// The header metadata (or the tensor list) breaks a rule of the format.
    #[error("{}: {detail}", path.display())]
    Metadata { path: PathBuf, detail: String },
}
