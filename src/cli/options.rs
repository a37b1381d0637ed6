//! Flags shared by `aegpu train` and `aegpu pretrain`: how to fit (optimiser, schedule,
//! regularisers). Each group turns itself into the library's config with one call, so
//! both commands check them the same way. The architectures' flags belong to their
//! model kinds (`crate::models`).

use clap::Args;

use crate::ops::random::Noise;
use crate::ops::{Loss, Optimizer};
use crate::ranges;
use crate::train::lbfgs::LbfgsConfig;
use crate::train::objective::{Regularization, SparseKl};
use crate::train::{Schedule, TrainConfig};

pub use crate::models::args::parse_image_shape;
/// The dense architecture's flags, shared with `aegpu pretrain` and `aegpu classify`.
pub use crate::models::dense::DenseArgs as ModelArgs;

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
    #[arg(long, default_value_t = 5, value_parser = ranges::count)]
    pub epochs: usize,
    #[arg(long, default_value_t = 256, value_parser = ranges::count)]
    pub batch: usize,
    /// Learning rate (default 5e-3; for lbfgs, the first trial step of each line
    /// search, default 1).
    #[arg(long, value_parser = ranges::positive)]
    pub lr: Option<f32>,
    /// sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, or lbfgs (full batch:
    /// --epochs counts iterations, each a direction and a strong-Wolfe line search).
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Momentum for `momentum` and `nesterov`.
    #[arg(long, default_value_t = 0.9, value_parser = ranges::fraction)]
    pub momentum: f32,
    /// Weight decay: L2 in the gradient, decoupled for adamw.
    #[arg(long, default_value_t = 0.0, value_parser = ranges::non_negative)]
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
    #[arg(long, value_parser = ranges::count)]
    pub early_stop: Option<usize>,
    /// The objective term early stopping and the plateau schedule watch on the
    /// validation data: reconstruction (the default), l1_sparsity, kl_sparsity or
    /// contractive (the terms the run reports).
    #[arg(long, value_name = "TERM")]
    pub monitor: Option<String>,
    /// Scale the gradient down to this global norm when it is longer.
    #[arg(long, value_parser = ranges::positive)]
    pub clip_norm: Option<f32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Corrupt the input and reconstruct the clean one (denoising): gaussian:σ,
    /// mask:p, salt-pepper:p.
    #[arg(long)]
    pub noise: Option<Noise>,
    /// Dropout probability after every layer but the output (training only).
    #[arg(long, default_value_t = 0.0, value_parser = ranges::fraction)]
    pub dropout: f32,
    /// Weight λ of an L1 penalty on the code.
    #[arg(long, default_value_t = 0.0, value_parser = ranges::non_negative)]
    pub sparse_l1: f32,
    /// KL sparsity `rho,beta`: mean code activation driven to rho with weight beta
    /// (needs --code-activation sigmoid).
    #[arg(long)]
    pub sparse_kl: Option<SparseKl>,
    /// Weight λ of the contractive penalty ‖J_f(x)‖²_F (exact for one layer, else
    /// estimated by finite differences).
    #[arg(long, default_value_t = 0.0, value_parser = ranges::non_negative)]
    pub contractive: f32,
    /// Random directions of the contractive estimator for deep encoders.
    #[arg(long, default_value_t = 4, value_parser = ranges::count)]
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

    /// Full-batch L-BFGS settings (`--epochs` iterations), when `--optimizer lbfgs`.
    fn lbfgs_config(&self) -> Result<Option<LbfgsConfig>, String> {
        if !self.is_lbfgs() {
            return Ok(None);
        }
        if self.weight_decay != 0.0 || self.clip_norm.is_some() || self.warmup > 0 {
            return Err("lbfgs takes no --weight-decay, --clip-norm or --warmup".into());
        }
        Ok(Some(LbfgsConfig::default()))
    }

    /// The library's training settings.
    pub fn train_config(&self) -> Result<TrainConfig, String> {
        let lbfgs = self.lbfgs_config()?;
        Ok(TrainConfig {
            epochs: self.epochs,
            batch: self.batch,
            // L-BFGS: the first trial step of each line search (PyTorch's default).
            lr: self.lr.unwrap_or(if lbfgs.is_some() { 1.0 } else { 5e-3 }),
            optimizer: match lbfgs {
                Some(_) => Optimizer::adam(), // not used
                None => self.optimizer()?,
            },
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
            lbfgs,
        })
    }
}
