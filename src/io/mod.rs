//! Model files: atomic writes and safetensors files with string metadata.
//!
//! Everything a user cares about (models, checkpoints, exported codes) goes through
//! [`atomic_write`], so a crash or a full disk never leaves a half-written file where a
//! good one used to be.

mod atomic;
mod tensor_file;

use std::path::PathBuf;

pub use atomic::{atomic_write, AtomicFile};
pub use tensor_file::{find_tensor, load_safetensors, save_safetensors, NamedTensor};

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
    /// The header metadata (or the tensor list) breaks a rule of the format.
    #[error("{}: {detail}", path.display())]
    Metadata { path: PathBuf, detail: String },
}
