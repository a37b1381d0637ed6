//! Sparse coding, dictionary learning and predictive sparse decomposition (PSD).
//!
//! A dictionary D `[K, n]` holds K unit-norm atoms; a code h `[1, K]` reconstructs a
//! row x `[1, n]` as x̂ = h·D. Coding solves, for every row at once,
//!
//! ```text
//! min_h ½‖x − hD‖² + λ‖h‖₁
//! ```
//!
//! by batched FISTA on the device (`fista.rs`: matmuls and soft-threshold kernels,
//! step 1/L with L = λ_max(DDᵀ) by power iteration, `atoms.rs`). Learning alternates
//! that with Mairal et al.'s online dictionary step over minibatches (`update.rs`:
//! block-coordinate descent on accumulated statistics, atoms kept at unit norm). PSD
//! (`encoder.rs`) adds a shrinkage encoder f(x) = S_θ(xW + b) trained to predict the
//! codes under the joint objective ½‖x − hD‖² + λ‖h‖₁ + (γ/2)‖h − f(x)‖²; at
//! inference f replaces FISTA.
//!
//! # Against scikit-learn
//!
//! The objective is `MiniBatchDictionaryLearning`'s per sample (its `alpha` is λ; it
//! reports the batch mean, as [`Objective::total`] does), its dictionary is
//! `components_` (`[K, n]`, rows of unit norm) and its forgetting factor for the
//! statistics is the same. What differs: scikit-learn codes minibatches with LARS or
//! coordinate descent to convergence on the CPU, where this runs a fixed number of
//! FISTA iterations on the backend; it starts atoms from an SVD of the data, here from
//! random data rows; it projects atoms onto the unit ball, here onto the unit sphere
//! (`update.rs` says why both end at norm 1).
//!
//! # Example
//!
//! ```no_run
//! use aegpu::backend::cpu::CpuBackend;
//! use aegpu::dictionary::{CodingSettings, Dictionary, SparseCoder};
//! # fn main() -> Result<(), aegpu::dictionary::DictionaryError> {
//! let patches: Vec<f32> = vec![/* rows of 64 values */];
//! let dictionary = Dictionary::from_data(&patches, 64, 256, 1)?;
//! let settings = CodingSettings { lambda: 0.1, iterations: 100, psd: None, seed: 1 };
//! let mut coder = SparseCoder::new(Box::new(CpuBackend::<f32>::new()), dictionary, settings)?;
//! for batch in patches.chunks(256 * 64) {
//!     coder.learn(batch)?;
//! }
//! let codes = coder.encode_fista(&patches, 200)?;
//! println!("objective {}", coder.objective(&patches, &codes).total);
//! # Ok(()) }
//! ```

mod atoms;
mod coder;
pub mod denoise;
mod encoder;
mod file;
pub mod fista;
mod update;

pub use atoms::{largest_eigenvalue, Dictionary};
pub use coder::{
    objective, Codes, CodingSettings, Objective, PsdSettings, SparseCoder, StepReport,
    MAX_ITERATIONS,
};
pub use encoder::Encoder;
pub use file::{load, KIND};
pub use update::{update_atoms, SufficientStatistics};

use crate::backend::BackendError;
use crate::graph::GraphError;
use crate::io::IoError;

/// Errors of sparse coding; `Invalid` says which input is wrong and how.
#[derive(Debug, thiserror::Error)]
pub enum DictionaryError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Io(#[from] IoError),
}

impl DictionaryError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        DictionaryError::Invalid(message.into())
    }
}

/// Rows of `data` (`[rows, width]`), refusing zero-size rows, a length that is not a
/// whole number of rows, no rows at all and NaN or infinite values.
pub(crate) fn check_data(data: &[f32], width: usize) -> Result<usize, DictionaryError> {
    if width == 0 {
        return Err(DictionaryError::invalid(
            "rows must have at least one value (patch size 0?)",
        ));
    }
    if data.len() % width != 0 {
        return Err(DictionaryError::invalid(format!(
            "{} values are not a whole number of rows of {width}",
            data.len()
        )));
    }
    if data.is_empty() {
        return Err(DictionaryError::invalid("no data rows"));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(DictionaryError::invalid(format!(
            "row {} holds {} at column {}: data must be finite",
            i / width,
            data[i],
            i % width
        )));
    }
    Ok(data.len() / width)
}
