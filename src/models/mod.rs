//! Autoencoder kinds, each a composition of `crate::nn` layers over a parameter store,
//! all behind the [`Autoencoder`] trait the training loops use, and each listed once in
//! [`registry::KINDS`] (which the command line and the loaders ask): the dense
//! (undercomplete / deep / tied), the strided convolutional and the pooling
//! convolutional autoencoder, the variational (β, conditional), adversarial and vector-quantised autoencoders, and
//! the LSTM sequence autoencoder and semantic hashing. The classifier is a model too, but not an autoencoder.

pub mod aae;
pub mod args;
pub mod autoencoder;
pub mod classifier;
pub mod conv;
pub mod conv_pool;
pub mod denoiser;
pub mod dense;
pub(crate) mod file;
pub mod hashing;
pub mod latent;
pub mod lstm;
pub mod registry;
pub mod vae;
pub mod vq;

pub use autoencoder::{downcast_mut, downcast_ref, Autoencoder};
pub use classifier::{Classifier, ClassifierConfig};
pub use conv::{ConvAutoencoder, ConvConfig, Upsampling};
pub use denoiser::{Denoiser, DenoiserConfig};
pub use dense::{DenseAutoencoder, DenseConfig, LayerHook, MAX_PARAMETERS};
pub use vae::{Likelihood, Vae, VaeConfig};

use crate::io::IoError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid model: {0}")]
    Config(String),
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    #[error(transparent)]
    Layer(#[from] crate::nn::NnError),
    #[error(transparent)]
    File(#[from] IoError),
    #[error("unknown model kind `{name}` (known: {known})")]
    UnknownKind { name: String, known: String },
    #[error("{path}: {detail}")]
    Incompatible { path: String, detail: String },
}
