//! Flags shared by `aegpu train` and `aegpu pretrain`: the architecture and how to fit
//! it (optimiser, schedule, regularisers). Each group turns itself into the library's
//! config with one call, so both commands check them the same way.

use clap::Args;

use crate::models::{ConvConfig, DenseConfig, Upsampling};
use crate::nn::init::Init;
use crate::ops::random::Noise;
use crate::ops::spatial::ImageShape;
use crate::ops::{Activation, Loss, Optimizer};
use crate::train::lbfgs::LbfgsConfig;
use crate::train::objective::{Regularization, SparseKl};
use crate::train::{Schedule, TrainConfig};

/// The architecture of a dense autoencoder.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Encoder widths from the input to the code; the decoder mirrors them.
    #[arg(long, default_value = "784,256,64", value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Activation of the hidden layers.
    #[arg(long, default_value = "relu")]
    pub activation: Activation,
    /// Activation of the code layer.
    #[arg(long, default_value = "linear")]
    pub code_activation: Activation,
    /// Activation of the output layer (default sigmoid, for data in [0, 1]; linear for
    /// a `--residual` conv model).
    #[arg(long)]
    pub output_activation: Option<Activation>,
    /// One activation per layer, encoder then decoder (overrides the three above).
    #[arg(long, value_delimiter = ',')]
    pub activations: Option<Vec<Activation>>,
    /// Decoder layer i multiplies by the transpose of encoder layer i.
    #[arg(long)]
    pub tied: bool,
    /// Weight initialisation: glorot, he, auto (he for relu layers). Default glorot for
    /// dense models, auto for conv ones.
    #[arg(long)]
    pub init: Option<Init>,
}

impl ModelArgs {
    /// The network for data of `cols` columns.
    pub fn config(&self, cols: usize) -> Result<DenseConfig, String> {
        if self.layers.first() != Some(&cols) {
            return Err(format!(
                "--layers starts with {} inputs but the data has {cols} columns (try --layers {cols},{})",
                self.layers.first().copied().unwrap_or(0),
                self.layers
                    .iter()
                    .skip(1)
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        let mut config = DenseConfig::new(&self.layers);
        let depth = config.depth();
        config.activations = match &self.activations {
            Some(list) => list.clone(),
            None => (0..2 * depth)
                .map(|i| match i {
                    i if i + 1 == depth => self.code_activation,
                    i if i + 1 == 2 * depth => {
                        self.output_activation.unwrap_or(Activation::Sigmoid)
                    }
                    _ => self.activation,
                })
                .collect(),
        };
        config.tied = self.tied;
        config.init = self.init.unwrap_or(Init::Glorot);
        Ok(config)
    }
}

/// Which kind of autoencoder `aegpu train` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    Dense,
    Conv,
}

/// The architecture of a convolutional autoencoder (`--model conv`); the hidden and
/// output activations and the initialisation come from the shared model flags.
#[derive(Args, Debug, Clone)]
pub struct ConvArgs {
    /// `dense` (the `--layers` network) or `conv` (a convolutional autoencoder on images).
    #[arg(long, value_enum, default_value = "dense")]
    pub model: ModelKind,
    /// Conv: the image in each row, CxHxW (default 1x28x28 for MNIST, else 1×s×s when
    /// the columns are a square s²).
    #[arg(long)]
    pub image: Option<String>,
    /// Conv: output channels of each encoder convolution.
    #[arg(long, value_delimiter = ',', default_value = "16,32")]
    pub channels: Vec<usize>,
    /// Conv: stride of each encoder convolution (default 2 for every layer; 1 keeps the
    /// size, for a denoiser of any image size).
    #[arg(long, value_delimiter = ',')]
    pub strides: Option<Vec<usize>>,
    /// Conv: kernel size (odd; padding k/2).
    #[arg(long, default_value_t = 3)]
    pub kernel: usize,
    /// Conv: a dense code of this width after the convolutions.
    #[arg(long)]
    pub code: Option<usize>,
    /// Conv: how the decoder undoes a strided layer: transposed, nearest or bilinear
    /// (upsampling then a convolution).
    #[arg(long, default_value = "transposed")]
    pub decoder: Upsampling,
    /// Conv: predict the noise and subtract it from the input (x̂ = x − net(x)).
    #[arg(long)]
    pub residual: bool,
}

/// Parses `CxHxW` (`x` or `×` between the numbers).
pub fn parse_image_shape(s: &str) -> Result<ImageShape, String> {
    let parts: Vec<&str> = s.split(['x', 'X', '×']).map(str::trim).collect();
    let bad = || format!("--image {s}: expected CxHxW, e.g. 1x28x28 or 3x64x64");
    if parts.len() != 3 {
        return Err(bad());
    }
    let n: Vec<usize> = parts
        .iter()
        .map(|p| p.parse::<usize>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if n.contains(&0) {
        return Err(bad());
    }
    Ok(ImageShape::new(n[0], n[1], n[2]))
}

impl ConvArgs {
    /// The convolutional network for data of `cols` columns read from `data_spec`, with
    /// the activations and initialisation of `shared`.
    pub fn config(
        &self,
        shared: &ModelArgs,
        data_spec: &str,
        cols: usize,
    ) -> Result<ConvConfig, String> {
        if shared.tied || shared.activations.is_some() {
            return Err("--tied and --activations are for dense models, not --model conv".into());
        }
        let input = match &self.image {
            Some(s) => parse_image_shape(s)?,
            None if matches!(data_spec, "mnist" | "mnist:train" | "mnist:test") => {
                ImageShape::new(1, 28, 28)
            }
            None => {
                let side = (cols as f64).sqrt().round() as usize;
                if side * side != cols || cols == 0 {
                    return Err(format!(
                        "the data has {cols} columns, not a square grey image: give                          --image CxHxW"
                    ));
                }
                ImageShape::new(1, side, side)
            }
        };
        if input.len() != cols {
            return Err(format!(
                "--image {input} needs {} columns, the data has {cols}",
                input.len()
            ));
        }
        let strides = self
            .strides
            .clone()
            .unwrap_or_else(|| vec![2; self.channels.len()]);
        let output_activation = shared.output_activation.unwrap_or(if self.residual {
            Activation::Linear
        } else {
            Activation::Sigmoid
        });
        Ok(ConvConfig {
            input,
            channels: self.channels.clone(),
            strides,
            kernel: self.kernel,
            code: self.code,
            upsampling: self.decoder,
            activation: shared.activation,
            output_activation,
            residual: self.residual,
            init: shared.init.unwrap_or(Init::Auto),
            noise_sigma: None,
        })
    }
}

/// How to fit: loss, epochs, optimiser and learning-rate schedule.
#[derive(Args, Debug, Clone)]
pub struct FitArgs {
    /// Read the running loss back every N steps (progress display, and the NaN guard
    /// names the exact step with 1); default 20 on a terminal, else once per epoch.
    #[arg(long)]
    pub loss_every: Option<usize>,
    /// Reconstruction loss: mse or bce (binary cross-entropy, needs a sigmoid output).
    #[arg(long, default_value = "mse")]
    pub loss: String,
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Learning rate (default 5e-3; for lbfgs, the first trial step of each line
    /// search, default 1).
    #[arg(long)]
    pub lr: Option<f32>,
    /// sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, or lbfgs (full batch:
    /// --epochs counts iterations, each a direction and a strong-Wolfe line search).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Momentum for `momentum` and `nesterov`.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Weight decay: L2 in the gradient, decoupled for adamw.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Learning-rate schedule: constant, step:every,gamma (epochs), cosine,
    /// plateau:patience,gamma.
    #[arg(long, default_value = "constant")]
    pub schedule: Schedule,
    /// Linear learning-rate warm-up over this many steps.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Stop after this many epochs without a better validation loss and keep the best
    /// weights (needs --validation).
    #[arg(long)]
    pub early_stop: Option<usize>,
    /// The objective term early stopping and the plateau schedule watch on the
    /// validation data: reconstruction (the default), l1_sparsity, kl_sparsity or
    /// contractive (the terms the run reports).
    #[arg(long, value_name = "TERM")]
    pub monitor: Option<String>,
    /// Scale the gradient down to this global norm when it is longer.
    #[arg(long)]
    pub clip_norm: Option<f32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Corrupt the input and reconstruct the clean one (denoising): gaussian:σ,
    /// mask:p, salt-pepper:p.
    #[arg(long)]
    pub noise: Option<Noise>,
    /// Dropout probability after every layer but the output (training only).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f32,
    /// Weight λ of an L1 penalty on the code.
    #[arg(long, default_value_t = 0.0)]
    pub sparse_l1: f32,
    /// KL sparsity `rho,beta`: mean code activation driven to rho with weight beta
    /// (needs --code-activation sigmoid).
    #[arg(long)]
    pub sparse_kl: Option<SparseKl>,
    /// Weight λ of the contractive penalty ‖J_f(x)‖²_F (exact for one layer, else
    /// estimated by finite differences).
    #[arg(long, default_value_t = 0.0)]
    pub contractive: f32,
    /// Random directions of the contractive estimator for deep encoders.
    #[arg(long, default_value_t = 4)]
    pub contractive_directions: usize,
}

impl FitArgs {
    pub fn optimizer(&self) -> Result<Optimizer, String> {
        let sgd = |momentum, nesterov| Optimizer::Sgd {
            momentum,
            nesterov,
            weight_decay: 0.0,
        };
        let optimizer = match self.optimizer.to_ascii_lowercase().as_str() {
            "adam" => Optimizer::adam(),
            "adamw" => Optimizer::adamw(0.0),
            "sgd" => sgd(0.0, false),
            "momentum" => sgd(self.momentum, false),
            "nesterov" => sgd(self.momentum, true),
            "adagrad" => Optimizer::adagrad(),
            "rmsprop" => Optimizer::rmsprop(),
            "lbfgs" => return Err("lbfgs is not a step-by-step optimiser".into()),
            other => {
                return Err(format!(
                    "unknown optimizer `{other}` (expected sgd, momentum, nesterov, adagrad, \
                     rmsprop, adam, adamw, lbfgs)"
                ))
            }
        };
        Ok(optimizer.with_weight_decay(self.weight_decay))
    }

    pub fn loss(&self) -> Result<Loss, String> {
        match self.loss.to_ascii_lowercase().as_str() {
            "mse" => Ok(Loss::Mse),
            "bce" => Ok(Loss::BceWithLogits),
            other => Err(format!("unknown loss `{other}` (expected mse or bce)")),
        }
    }

    pub fn is_lbfgs(&self) -> bool {
        self.optimizer.eq_ignore_ascii_case("lbfgs")
    }

    pub fn regularization(&self) -> Regularization {
        Regularization {
            noise: self.noise,
            dropout: self.dropout,
            sparse_l1: self.sparse_l1,
            sparse_kl: self.sparse_kl,
            contractive: self.contractive,
            contractive_directions: self.contractive_directions,
            ..Regularization::default()
        }
    }

    /// Full-batch L-BFGS settings: `--epochs` iterations, at most 1.25 evaluations
    /// each (PyTorch's default budget).
    pub fn lbfgs_config(&self) -> Result<LbfgsConfig, String> {
        if self.weight_decay != 0.0 || self.clip_norm.is_some() {
            return Err("lbfgs takes no --weight-decay or --clip-norm".into());
        }
        Ok(LbfgsConfig {
            iterations: self.epochs,
            max_evaluations: (self.epochs * 5).div_ceil(4),
            lr: self.lr.unwrap_or(1.0),
            loss: self.loss()?,
            regularization: self.regularization(),
            ..LbfgsConfig::default()
        })
    }

    /// The library's training settings.
    pub fn train_config(&self) -> Result<TrainConfig, String> {
        Ok(TrainConfig {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr.unwrap_or(5e-3),
            optimizer: self.optimizer()?,
            loss: self.loss()?,
            seed: self.seed,
            // The running loss costs a read-back; only worth it when someone watches.
            loss_every: self.loss_every.unwrap_or(
                if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                    20
                } else {
                    0
                },
            ),
            schedule: self.schedule,
            warmup_steps: self.warmup,
            early_stop: self.early_stop,
            clip_norm: self.clip_norm,
            regularization: self.regularization(),
            monitor: self.monitor.clone(),
        })
    }
}
