//! A vector-quantisation codebook (van den Oord et al. 2017, "Neural Discrete
//! Representation Learning"): K code vectors e_k ∈ R^D in one table, `{scope}.embedding`
//! `[K, D]` (`nn.Embedding`'s weight). Every row z of its input is replaced by its
//! nearest code,
//!
//! ```text
//! k*(z) = argmin_k ‖z − e_k‖² = argmin_k (‖e_k‖² − 2 zᵀe_k)      (‖z‖² is the same for every k)
//! ```
//!
//! computed as one matmul, a broadcast of the codes' squared norms, a row arg-min and a
//! one-hot row (`z_q = onehot · E`, which is how the gradient reaches E). The decoder
//! reads z + sg(z_q − z) (the straight-through estimator: the value is z_q, the gradient
//! passes to z unchanged). The losses are the codebook term ‖sg(z) − z_q‖² (moves the
//! codes) and the commitment term β‖z − sg(z_q)‖² (keeps the encoder near its codes).
//!
//! Instead of the codebook term the codes may follow exponential moving averages of
//! their assigned vectors (the paper's appendix; Sonnet's `VectorQuantizerEMA`):
//!
//! ```text
//! N_k ← γ N_k + (1 − γ) n_k          n_k: vectors assigned to code k in the batch
//! m_k ← γ m_k + (1 − γ) Σ_{z→k} z
//! e_k = m_k / Ñ_k,   Ñ_k = (N_k + ε) / (Σ_j N_j + K ε) · Σ_j N_j     (Laplace smoothing)
//! ```
//!
//! and a code that no vector of a batch chose may be restarted at a vector of that
//! batch drawn at random (dead-code restart, as Jukebox and SoundStream do).

use rand::Rng;

use crate::graph::{EntryId, GraphError, ParamStore, Shape, ValueId};
use crate::nn::{Forward, NnError, Scope};
use crate::ops::random::Noise;
use crate::ops::{Activation, Axis, BinaryOp, Loss, MatMul, Op, Reduce, ReduceKind};

/// Laplace smoothing of the EMA counts (Sonnet's default).
pub const EMA_EPSILON: f32 = 1e-5;

/// A codebook of `codes` vectors of `dim` values.
#[derive(Clone, Debug)]
pub struct Codebook {
    pub embedding: EntryId,
    pub codes: usize,
    pub dim: usize,
    /// With EMA updates: the buffers `{scope}.ema_count` `[1, K]` and
    /// `{scope}.ema_sum` `[K, D]`.
    pub ema: Option<(EntryId, EntryId)>,
}

/// The quantised rows and what they were made from.
#[derive(Clone, Copy, Debug)]
pub struct Quantized {
    /// `[M, K]`: row m is 1 at its code.
    pub one_hot: ValueId,
    /// `[M, D]`: each row's nearest code.
    pub nearest: ValueId,
}

impl Codebook {
    /// Codes drawn uniformly from ±1/K (the usual VQ-VAE initialisation); with
    /// `ema`, the running sums start at the codes and the counts at 1.
    pub fn new(
        store: &mut ParamStore,
        scope: &Scope,
        codes: usize,
        dim: usize,
        ema: bool,
        rng: &mut impl Rng,
    ) -> Result<Self, NnError> {
        if codes < 2 || dim == 0 {
            return Err(scope.error(format!(
                "a codebook needs at least 2 codes of at least 1 value, got {codes} × {dim}"
            )));
        }
        let bound = 1.0 / codes as f32;
        let values: Vec<f32> = (0..codes * dim)
            .map(|_| rng.random_range(-bound..=bound))
            .collect();
        let shape = Shape::new(codes, dim);
        let embedding = scope.register(store, "embedding", shape, values.clone())?;
        let ema = if ema {
            let count =
                scope.register(store, "ema_count", Shape::new(1, codes), vec![1.0; codes])?;
            let sum = scope.register(store, "ema_sum", shape, values)?;
            Some((count, sum))
        } else {
            None
        };
        Ok(Codebook {
            embedding,
            codes,
            dim,
            ema,
        })
    }

    /// The nearest code of every row of `z` `[M, D]`.
    pub fn quantize(&self, cx: &mut Forward, z: ValueId) -> Result<Quantized, GraphError> {
        let e = cx.entry(self.embedding);
        let g = &mut *cx.g;
        g.set_label("nearest code");
        let m = g.shape(z).rows;
        let ze = g.push(
            Op::MatMul(MatMul {
                trans_b: true,
                ..MatMul::plain()
            }),
            &[z, e],
        )?;
        let e_sq = g.push(Op::Binary(BinaryOp::Mul), &[e, e])?;
        let norms = g.push(reduce(ReduceKind::Sum, Axis::Cols), &[e_sq])?; // [K, 1]
        let norms = g.push(Op::Transpose, &[norms])?; // [1, K]
        let norms = g.push(Op::Broadcast(Shape::new(m, self.codes)), &[norms])?;
        let cross = g.push(Op::Scale(-2.0), &[ze])?;
        let distance = g.push(Op::Binary(BinaryOp::Add), &[norms, cross])?;
        let index = g.push(Op::ArgMinRows, &[distance])?;
        let one_hot = g.push(
            Op::OneHot {
                classes: self.codes,
            },
            &[index],
        )?;
        let nearest = g.push(Op::MatMul(MatMul::plain()), &[one_hot, e])?;
        Ok(Quantized { one_hot, nearest })
    }
}

fn reduce(kind: ReduceKind, axis: Axis) -> Op {
    Op::Reduce(Reduce { kind, axis })
}

/// z + sg(z_q − z): the value of `nearest`, the gradient of `z`.
pub fn straight_through(
    cx: &mut Forward,
    z: ValueId,
    nearest: ValueId,
) -> Result<ValueId, GraphError> {
    let g = &mut *cx.g;
    g.set_label("straight-through");
    let step = g.push(Op::Binary(BinaryOp::Sub), &[nearest, z])?;
    let step = g.push(Op::StopGradient, &[step])?;
    g.push(Op::Binary(BinaryOp::Add), &[z, step])
}

/// The codebook term mean (sg(z) − z_q)² and the commitment term mean (z − sg(z_q))²
/// (unweighted; the model multiplies by β).
pub fn vq_losses(
    cx: &mut Forward,
    z: ValueId,
    nearest: ValueId,
) -> Result<(ValueId, ValueId), GraphError> {
    let g = &mut *cx.g;
    g.set_label("vq losses");
    let z_fixed = g.push(Op::StopGradient, &[z])?;
    let codebook = g.push(Op::Loss(Loss::Mse), &[nearest, z_fixed])?;
    let nearest_fixed = g.push(Op::StopGradient, &[nearest])?;
    let commitment = g.push(Op::Loss(Loss::Mse), &[z, nearest_fixed])?;
    Ok((codebook, commitment))
}

/// How the batch used the codes: the share of codes chosen by at least one row, and
/// the perplexity exp(−Σ p_k ln p_k) of the batch's code frequencies p (K when every
/// code is used equally, 1 when one code takes everything). Both `[1, 1]`.
pub fn usage(cx: &mut Forward, one_hot: ValueId) -> Result<(ValueId, ValueId), GraphError> {
    let g = &mut *cx.g;
    g.set_label("code usage");
    let s = g.shape(one_hot);
    let counts = g.push(reduce(ReduceKind::Sum, Axis::Rows), &[one_hot])?; // [1, K]
                                                                           // Counts are whole numbers: 1 − relu(1 − n) is 1 when n ≥ 1 and 0 when n = 0.
    let unused = g.push(Op::Scale(-1.0), &[counts])?;
    let unused = add_constant(g, unused, 1.0)?;
    let unused = g.push(Op::Activate(Activation::Relu), &[unused])?;
    let unused = g.push(reduce(ReduceKind::Sum, Axis::All), &[unused])?;
    let used = g.push(Op::Scale(-1.0 / s.cols as f32), &[unused])?;
    let used = add_constant(g, used, 1.0)?;
    let p = g.push(Op::Scale(1.0 / s.rows as f32), &[counts])?;
    // ln(p + 1e-10): an unused code adds 0 · ln(1e-10) = 0.
    let p_safe = add_constant(g, p, 1e-10)?;
    let log_p = g.push(Op::Unary(crate::ops::UnaryOp::Log), &[p_safe])?;
    let p_log_p = g.push(Op::Binary(BinaryOp::Mul), &[p, log_p])?;
    let entropy = g.push(reduce(ReduceKind::Sum, Axis::All), &[p_log_p])?;
    let entropy = g.push(Op::Scale(-1.0), &[entropy])?;
    let perplexity = g.push(Op::Unary(crate::ops::UnaryOp::Exp), &[entropy])?;
    Ok((used, perplexity))
}

/// x + c, element-wise.
fn add_constant(g: &mut crate::graph::Graph, x: ValueId, c: f32) -> Result<ValueId, GraphError> {
    let shape = g.shape(x);
    let fill = g.push(Op::Fill { value: c, shape }, &[])?;
    g.push(Op::Binary(BinaryOp::Add), &[x, fill])
}

/// x · c for a `[r, 1]` column `c` broadcast along the row.
fn scale_rows(g: &mut crate::graph::Graph, x: ValueId, c: ValueId) -> Result<ValueId, GraphError> {
    let c = g.push(Op::Broadcast(g.shape(x)), &[c])?;
    g.push(Op::Binary(BinaryOp::Mul), &[x, c])
}

/// What the codebook's training-time side effects need.
pub struct CodebookUpdate {
    /// EMA decay γ of the counts and sums (None: the codes are trained by the
    /// codebook loss).
    pub decay: Option<f32>,
    /// Restart codes no row of the batch chose, from this random key.
    pub restart: Option<ValueId>,
    /// The random stream of the restart draws.
    pub stream: u32,
}

impl Codebook {
    /// Appends the training-time side effects: the EMA counts, sums and codes (with
    /// `decay`), then the restart of unused codes (with a key). Every entry is written
    /// once, from values computed before any write (the planner runs side effects after
    /// the reads). They belong in a plan of their own after the optimiser's updates
    /// ([`crate::train::Task::state_updates`]), which may also write the codes.
    pub fn update(
        &self,
        cx: &mut Forward,
        z: ValueId,
        q: Quantized,
        how: &CodebookUpdate,
    ) -> Result<(), GraphError> {
        if how.decay.is_none() && how.restart.is_none() {
            return Ok(());
        }
        let codes = cx.entry(self.embedding);
        let ema = self.ema.map(|(n, m)| (n, m, cx.entry(n), cx.entry(m)));
        let g = &mut *cx.g;
        g.set_label("codebook update");
        let k = self.codes;
        let counts = g.push(reduce(ReduceKind::Sum, Axis::Rows), &[q.one_hot])?; // [1, K]
        let one = g.push(
            Op::Fill {
                value: 1.0,
                shape: Shape::SCALAR,
            },
            &[],
        )?;
        let mut new_codes = codes;
        let mut new_ema = None;
        if let (Some(decay), Some((n_id, m_id, n, m))) = (how.decay, ema) {
            let sums = g.push(
                Op::MatMul(MatMul {
                    trans_a: true,
                    ..MatMul::plain()
                }),
                &[q.one_hot, z],
            )?; // [K, D]
            let blend = |g: &mut crate::graph::Graph, old: ValueId, new: ValueId| {
                let old = g.push(Op::Scale(decay), &[old])?;
                let new = g.push(Op::Scale(1.0 - decay), &[new])?;
                g.push(Op::Binary(BinaryOp::Add), &[old, new])
            };
            let n_new = blend(g, n, counts)?;
            let m_new = blend(g, m, sums)?;
            // Ñ = (N + ε) / (ΣN + Kε) · ΣN
            let total = g.push(reduce(ReduceKind::Sum, Axis::All), &[n_new])?;
            let total_row = g.push(Op::Broadcast(Shape::new(1, k)), &[total])?;
            let num = add_constant(g, n_new, EMA_EPSILON)?;
            let den = add_constant(g, total_row, k as f32 * EMA_EPSILON)?;
            let smoothed = g.push(Op::Binary(BinaryOp::Div), &[num, den])?;
            let smoothed = g.push(Op::Binary(BinaryOp::Mul), &[smoothed, total_row])?;
            let inverse = g.push(Op::Unary(crate::ops::UnaryOp::Reciprocal), &[smoothed])?;
            let inverse = g.push(Op::Transpose, &[inverse])?; // [K, 1]
            new_codes = scale_rows(g, m_new, inverse)?;
            new_ema = Some((n_id, m_id, n_new, m_new));
        }
        if let Some(key) = how.restart {
            // unused_k = relu(1 − n_k) ∈ {0, 1}; a restarted code takes the row of the
            // batch at the arg-min of K × M Gaussian draws (a uniform choice).
            let m_rows = g.shape(z).rows;
            let unused = g.push(Op::Scale(-1.0), &[counts])?;
            let unused = add_constant(g, unused, 1.0)?;
            let unused = g.push(Op::Activate(Activation::Relu), &[unused])?;
            let unused = g.push(Op::Transpose, &[unused])?; // [K, 1]
            let zeros = g.push(
                Op::Fill {
                    value: 0.0,
                    shape: Shape::new(k, m_rows),
                },
                &[],
            )?;
            let draws = g.push(
                Op::Noise {
                    noise: Noise::Gaussian { sigma: 1.0 },
                    stream: how.stream,
                },
                &[zeros, key],
            )?;
            let pick = g.push(Op::ArgMinRows, &[draws])?;
            let z_fixed = g.push(Op::StopGradient, &[z])?;
            let fresh = g.push(Op::GatherRows, &[z_fixed, pick])?; // [K, D]
            let kept = g.push(Op::Scale(-1.0), &[unused])?;
            let kept = add_constant(g, kept, 1.0)?;
            // e ← e · (1 − u) + fresh · u, and the EMA restarts there with count 1.
            let old_part = scale_rows(g, new_codes, kept)?;
            let new_part = scale_rows(g, fresh, unused)?;
            new_codes = g.push(Op::Binary(BinaryOp::Add), &[old_part, new_part])?;
            if let Some((n_id, m_id, n_new, m_new)) = new_ema {
                let kept_row = g.push(Op::Transpose, &[kept])?;
                let unused_row = g.push(Op::Transpose, &[unused])?;
                let n_kept = g.push(Op::Binary(BinaryOp::Mul), &[n_new, kept_row])?;
                let n_restarted = g.push(Op::Binary(BinaryOp::Add), &[n_kept, unused_row])?;
                let m_kept = scale_rows(g, m_new, kept)?;
                let m_restarted = g.push(Op::Binary(BinaryOp::Add), &[m_kept, new_part])?;
                new_ema = Some((n_id, m_id, n_restarted, m_restarted));
            }
        }
        if let Some((n_id, m_id, n_new, m_new)) = new_ema {
            let n = g.entry(cx.store, n_id);
            g.push(Op::Axpy { accumulate: false }, &[n, n_new, one])?;
            let m = g.entry(cx.store, m_id);
            g.push(Op::Axpy { accumulate: false }, &[m, m_new, one])?;
        }
        g.push(Op::Axpy { accumulate: false }, &[codes, new_codes, one])?;
        Ok(())
    }
}
