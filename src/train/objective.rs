//! The training objective as a graph: reconstruction loss plus the regularisers of the
//! classic taxonomy, each a composition of ops with fused kernels where the math is hot.
//!
//! With x the clean batch [n, d], x̃ its corruption, h the code [n, m]:
//!
//! ```text
//! L = loss(g(f(x̃)), x)                                  denoising: compare with clean x
//!   + λ₁/(n d) Σ_{i,j} |h_ij|                           L1 sparsity
//!   + β/d Σ_j KL(ρ ‖ ρ̂_j),  ρ̂_j = (1/n) Σ_i h_ij        KL sparsity (Ng, CS294A notes)
//!   + λ_c/(n d) Σ_i ‖J_f(x̃_i)‖²_F                       contractive (Rifai et al. 2011)
//! ```
//!
//! The reconstruction term is a mean over all n·d elements, so every penalty is divided
//! by d as well: L is the per-example objective of the papers (summed squared error
//! plus penalty) divided by d, and their weights carry over (β = 3 for ρ = 0.05, λ_c
//! ~ 0.1; up to the ½ some write before the squared error).
//!
//! The contractive term is exact for a one-layer encoder with a sigmoid, tanh, relu or
//! linear code: ‖J‖²_F = Σ_j f'(a_j)² Σ_i W_ij² (fused kernel, `Penalty::Contractive`).
//! For deeper encoders (or other activations) it is estimated by finite differences
//! along K random Gaussian directions v (Hutchinson: E‖Jv‖² = ‖J‖²_F as E[vvᵀ] = I):
//!
//! ```text
//! ‖J_f(x)‖²_F ≈ (1/K) Σ_k ‖f(x + ε v_k) − f(x)‖² / ε²
//! ```
//!
//! which is differentiable like any graph and, with the random key held fixed, exactly
//! what the gradient check differentiates.
//!
//! Dropout (inverted, Srivastava et al. 2014) follows every layer but the output, only
//! in training graphs; inference graphs never contain it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphError, ValueId};
use crate::models::{DenseAutoencoder, DenseConfig};
use crate::ops::elementwise::sum_all;
use crate::ops::penalty::Penalty;
use crate::ops::random::{Noise, Streams, INPUT_NOISE};
use crate::ops::{Activation, Axis, BinaryOp, Loss, Op, Reduce, ReduceKind};
use crate::train::TrainError;

/// KL sparsity: drive the mean activation of every code unit towards `rho`, with
/// weight `beta`. Needs a sigmoid code.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SparseKl {
    pub rho: f32,
    pub beta: f32,
}

impl FromStr for SparseKl {
    type Err = String;

    /// `ρ,β`, e.g. `0.05,3`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "sparse-kl `{s}`: expected `rho,beta` with 0 < rho < 1 and beta ≥ 0, e.g. `0.05,3`"
            )
        };
        let (rho, beta) = s.split_once(',').ok_or_else(bad)?;
        let rho: f32 = rho.trim().parse().map_err(|_| bad())?;
        let beta: f32 = beta.trim().parse().map_err(|_| bad())?;
        if !(rho > 0.0 && rho < 1.0 && beta >= 0.0 && beta.is_finite()) {
            return Err(bad());
        }
        Ok(SparseKl { rho, beta })
    }
}

impl fmt::Display for SparseKl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.rho, self.beta)
    }
}

/// Regularisers added to the reconstruction loss while training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Regularization {
    /// Corrupts the input; the reconstruction is compared with the clean input
    /// (a denoising autoencoder, Vincent et al. 2008).
    pub noise: Option<Noise>,
    /// Dropout probability after every layer but the output (0: none).
    pub dropout: f32,
    /// Weight λ₁ of the L1 penalty on the code.
    pub sparse_l1: f32,
    pub sparse_kl: Option<SparseKl>,
    /// Weight λ_c of the contractive penalty.
    pub contractive: f32,
    /// Directions K and step ε of the finite-difference estimator (deep encoders).
    pub contractive_directions: usize,
    pub contractive_step: f32,
}

impl Default for Regularization {
    fn default() -> Self {
        Regularization {
            noise: None,
            dropout: 0.0,
            sparse_l1: 0.0,
            sparse_kl: None,
            contractive: 0.0,
            contractive_directions: 4,
            contractive_step: 0.01,
        }
    }
}

/// The first stream of the contractive estimator's directions (see [`Streams`]). Every
/// other stream is allocated in order: input noise 0, dropout after layer l 1 + l.
const CONTRACTIVE_STREAMS: u32 = 1 << 16;

impl Regularization {
    /// Whether the objective changes from step to step (noise or dropout).
    pub fn is_stochastic(&self) -> bool {
        self.noise.is_some() || self.dropout > 0.0
    }

    /// Whether the contractive penalty of `config` has the closed form.
    pub fn contractive_is_exact(config: &DenseConfig) -> bool {
        config.depth() == 1
            && matches!(
                config.activations[0],
                Activation::Sigmoid | Activation::Tanh | Activation::Relu | Activation::Linear
            )
    }

    /// Whether the objective's graph takes the random key as an input.
    pub fn uses_rng(&self, config: &DenseConfig) -> bool {
        self.is_stochastic() || (self.contractive > 0.0 && !Self::contractive_is_exact(config))
    }

    /// The rule of kinds that take input noise and nothing else (the convolutional
    /// ones): `what` names them in the refusal.
    pub fn denoising_only(&self, what: &str) -> Result<(), String> {
        if let Some(noise) = &self.noise {
            noise.validate()?;
        }
        if self.dropout > 0.0
            || self.sparse_l1 > 0.0
            || self.sparse_kl.is_some()
            || self.contractive > 0.0
        {
            return Err(format!(
                "{what} take input noise (denoising) only; dropout, sparsity and \
                 contractive penalties are for dense models"
            ));
        }
        Ok(())
    }

    pub fn validate(&self, config: &DenseConfig) -> Result<(), String> {
        if let Some(noise) = &self.noise {
            noise.validate()?;
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        for (name, w) in [
            ("sparse-l1", self.sparse_l1),
            ("contractive", self.contractive),
        ] {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(format!("{name} weight must be ≥ 0, got {w}"));
            }
        }
        if self.sparse_kl.is_some() {
            let code = config.activations[config.depth() - 1];
            if code != Activation::Sigmoid {
                return Err(format!(
                    "KL sparsity compares mean activations with a probability: the code \
                     activation must be sigmoid, not {code} (--code-activation sigmoid)"
                ));
            }
        }
        if self.contractive > 0.0
            && !Self::contractive_is_exact(config)
            && (self.contractive_directions == 0
                || !(self.contractive_step > 0.0 && self.contractive_step.is_finite()))
        {
            return Err("the contractive estimator needs ≥ 1 direction and a step > 0".into());
        }
        Ok(())
    }
}

/// The objective's values in a training graph: what the optimiser minimises, and the
/// named [1, 1] terms it is the sum of, each reported per epoch by the trainer.
#[derive(Clone, Debug)]
pub struct Objective {
    /// What the optimiser minimises.
    pub total: ValueId,
    /// `(name, value)` of every term, the primary one first (`reconstruction` for an
    /// autoencoder): it is the loss progress bars show and validation compares.
    pub terms: Vec<(String, ValueId)>,
}

impl Objective {
    /// An objective of one term, `name`, which is also the total.
    pub fn single(name: &str, value: ValueId) -> Self {
        Objective {
            total: value,
            terms: vec![(name.to_string(), value)],
        }
    }

    /// The value of the term called `name`.
    pub fn term(&self, name: &str) -> Option<ValueId> {
        self.terms.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    /// The first term (the one a run reports as its loss).
    pub fn primary(&self) -> ValueId {
        self.terms.first().map_or(self.total, |&(_, v)| v)
    }
}

/// The name of an autoencoder's reconstruction term.
pub const RECONSTRUCTION: &str = "reconstruction";

/// The batch a denoising objective reconstructs from: `x` corrupted by `noise`, drawn
/// from the input-noise stream of the step's key `rng`; `x` itself without noise.
pub fn corrupted_input(
    g: &mut Graph,
    x: ValueId,
    noise: Option<Noise>,
    rng: Option<ValueId>,
) -> Result<ValueId, TrainError> {
    let Some(noise) = noise else {
        return Ok(x);
    };
    let rng =
        rng.ok_or_else(|| TrainError::Config("denoising needs the random key input".into()))?;
    g.set_label("input corruption");
    let stream = Streams::new()
        .allocate(INPUT_NOISE)
        .map_err(GraphError::from)?;
    Ok(g.push(Op::Noise { noise, stream }, &[x, rng])?)
}

/// The reconstruction term against the clean `x`: the MSE of `recon`, or the binary
/// cross-entropy computed from the `logits` (numerically stable).
pub fn reconstruction_term(
    g: &mut Graph,
    loss: Loss,
    logits: ValueId,
    recon: ValueId,
    x: ValueId,
) -> Result<ValueId, GraphError> {
    g.set_label("loss");
    match loss {
        Loss::Mse => g.push(Op::Loss(Loss::Mse), &[recon, x]),
        Loss::BceWithLogits => g.push(Op::Loss(Loss::BceWithLogits), &[logits, x]),
    }
}

/// Appends the objective for the clean batch `x` to `g`. `rng` is the [1, 4] random
/// key input ([`crate::ops::random::rng_feed`]), needed when
/// [`Regularization::uses_rng`].
pub fn build(
    model: &DenseAutoencoder,
    g: &mut Graph,
    x: ValueId,
    loss: Loss,
    reg: &Regularization,
    rng: Option<ValueId>,
) -> Result<Objective, TrainError> {
    reg.validate(&model.config).map_err(TrainError::Config)?;
    let need_rng = || {
        rng.ok_or_else(|| {
            TrainError::Config("this objective is random: it needs the random key input".into())
        })
    };
    let config = &model.config;
    let depth = config.depth();
    let (n, d) = (g.shape(x).rows as f32, config.input_width() as f32);

    let mut streams = Streams::new();
    let input_stream = streams.allocate(INPUT_NOISE).map_err(GraphError::from)?;
    let corrupted = match reg.noise {
        Some(noise) => {
            g.set_label("input corruption");
            g.push(
                Op::Noise {
                    noise,
                    stream: input_stream,
                },
                &[x, need_rng()?],
            )?
        }
        None => x,
    };

    // The forward pass, with dropout after every layer but the output; the code is
    // kept as it was before its dropout (that is the representation penalised).
    let dropout_key = if reg.dropout > 0.0 {
        Some(need_rng()?)
    } else {
        None
    };
    let mut code_clean = None;
    let mut encoder_hook = |g: &mut Graph, i: usize, h: ValueId| -> Result<ValueId, GraphError> {
        if i + 1 == depth {
            code_clean = Some(h);
        }
        let stream = streams.allocate(&format!("dropout/encoder.{i}"))?;
        dropout(g, h, reg.dropout, dropout_key, stream)
    };
    let code_dropped = model.encode_with(g, corrupted, &mut encoder_hook)?;
    let code = code_clean.unwrap_or(code_dropped);
    let mut decoder_hook = |g: &mut Graph, j: usize, h: ValueId| {
        let stream = streams.allocate(&format!("dropout/decoder.{j}"))?;
        dropout(g, h, reg.dropout, dropout_key, stream)
    };
    let reconstruction = match loss {
        Loss::Mse => {
            let recon = model.decode_with(g, code_dropped, &mut decoder_hook)?;
            g.set_label("loss");
            g.push(Op::Loss(Loss::Mse), &[recon, x])?
        }
        Loss::BceWithLogits => {
            let (logits, _) = model.decode_logits_with(g, code_dropped, &mut decoder_hook)?;
            g.set_label("loss");
            g.push(Op::Loss(Loss::BceWithLogits), &[logits, x])?
        }
    };

    let mut terms = vec![];
    if reg.sparse_l1 > 0.0 {
        g.set_label("L1 sparsity");
        let sum = g.push(Op::Penalty(Penalty::L1), &[code])?;
        terms.push((
            "l1_sparsity",
            g.push(Op::Scale(reg.sparse_l1 / (n * d)), &[sum])?,
        ));
    }
    if let Some(kl) = reg.sparse_kl {
        g.set_label("KL sparsity");
        let mean = g.push(
            Op::Reduce(Reduce {
                kind: ReduceKind::Mean,
                axis: Axis::Rows,
            }),
            &[code],
        )?;
        let sum = g.push(Op::Penalty(Penalty::Kl { rho: kl.rho }), &[mean])?;
        terms.push(("kl_sparsity", g.push(Op::Scale(kl.beta / d), &[sum])?));
    }
    if reg.contractive > 0.0 {
        g.set_label("contractive penalty");
        let sum = if Regularization::contractive_is_exact(config) {
            exact_jacobian_fro2_sum(model, g, code)?
        } else {
            contractive_estimate(model, g, corrupted, code, reg, need_rng()?, &mut streams)?
        };
        terms.push((
            "contractive",
            g.push(Op::Scale(reg.contractive / (n * d)), &[sum])?,
        ));
    }
    terms.insert(0, (RECONSTRUCTION, reconstruction));
    let values: Vec<ValueId> = terms.iter().map(|&(_, v)| v).collect();
    let total = sum_all(g, &values)?.unwrap_or(reconstruction);
    Ok(Objective {
        total,
        terms: terms
            .into_iter()
            .map(|(name, v)| (name.to_string(), v))
            .collect(),
    })
}

/// Σ over the rows of `code` (the output of a one-layer encoder, see
/// [`Regularization::contractive_is_exact`]) of the exact ‖J_f(x)‖²_F =
/// Σ_j f'(a_j)² Σ_i W_ij², through the fused contractive kernel.
pub fn exact_jacobian_fro2_sum(
    model: &DenseAutoencoder,
    g: &mut Graph,
    code: ValueId,
) -> Result<ValueId, GraphError> {
    let w = g.entry(&model.store, model.encoder_weight(0));
    let w2 = g.push(Op::Binary(BinaryOp::Mul), &[w, w])?;
    let colnorm = g.push(
        Op::Reduce(Reduce {
            kind: ReduceKind::Sum,
            axis: Axis::Rows,
        }),
        &[w2],
    )?;
    g.push(
        Op::Penalty(Penalty::Contractive(model.config.activations[0])),
        &[code, colnorm],
    )
}

fn dropout(
    g: &mut Graph,
    h: ValueId,
    p: f32,
    key: Option<ValueId>,
    stream: u32,
) -> Result<ValueId, GraphError> {
    match key {
        Some(key) if p > 0.0 => g.push(
            Op::Noise {
                noise: Noise::Dropout { p },
                stream,
            },
            &[h, key],
        ),
        _ => Ok(h),
    }
}

/// Σ over the batch of the finite-difference estimate of ‖J_f‖²_F along K random
/// directions (see the module docs). `code` must be f(x) without dropout; when the
/// training pass has dropout, a clean pass is built here.
fn contractive_estimate(
    model: &DenseAutoencoder,
    g: &mut Graph,
    x: ValueId,
    code: ValueId,
    reg: &Regularization,
    rng: ValueId,
    streams: &mut Streams,
) -> Result<ValueId, TrainError> {
    let reference = if reg.dropout > 0.0 {
        model.encode(g, x)?
    } else {
        code
    };
    let (k, eps) = (reg.contractive_directions, reg.contractive_step);
    let mut halves = vec![];
    for direction in 0..k {
        g.set_label(format!("contractive direction {}", direction + 1));
        let moved = g.push(
            Op::Noise {
                noise: Noise::Gaussian { sigma: eps },
                stream: streams
                    .allocate_from(
                        &format!("contractive/direction.{direction}"),
                        CONTRACTIVE_STREAMS,
                    )
                    .map_err(GraphError::from)?,
            },
            &[x, rng],
        )?;
        let code_moved = model.encode(g, moved)?;
        let diff = g.push(Op::Binary(BinaryOp::Sub), &[code_moved, reference])?;
        // SquaredL2 is ½Σ, hence the 2.
        halves.push(g.push(Op::Penalty(Penalty::SquaredL2), &[diff])?);
    }
    let total = sum_all(g, &halves)?
        .ok_or_else(|| TrainError::Config("no contractive directions".into()))?;
    Ok(g.push(Op::Scale(2.0 / (eps * eps * k as f32)), &[total])?)
}
