//! Autoencoder kinds, each a function that builds graphs from ops over a shared
//! parameter store. The dense (undercomplete / deep / tied) autoencoder is the first.

pub mod dense;

pub use dense::{DenseAutoencoder, DenseConfig, LayerHook};

use crate::io::IoError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model: {0}")]
    Config(String),
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    #[error(transparent)]
    File(#[from] IoError),
    #[error("{path}: {detail}")]
    Incompatible { path: String, detail: String },
}
