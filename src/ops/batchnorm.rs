//! Batch normalisation (Ioffe & Szegedy, ICML 2015) with PyTorch's semantics
//! (`nn.BatchNorm2d` for images, `nn.BatchNorm1d` for dense features): per channel c,
//! statistics over the batch and every pixel of that channel, n = N·H·W values.
//! x is a batch of images `[N, C·H·W]` (see [`ImageShape`]); dense features `[N, C]`
//! are images C×1×1 ([`BatchNorm::dense`]). γ, β and the running statistics are `[1, C]`.
//!
//! ```text
//! μ_c = Σ x / n      σ²_c = Σ (x − μ_c)² / n      (biased; two passes: the mean, then the
//!                                                   centred squares, never E[x²] − μ²)
//! r_c = 1 / √(σ²_c + ε)      x̂ = (x − μ_c) · r_c
//!
//! BatchNormTrain      [x, γ, β]                 → y = γ_c · x̂ + β_c
//! BatchNormTrainGrad  [x, γ, dy]   wrt 0        → dx = γ_c r_c · (dy − mean_c(dy) − x̂ · mean_c(dy x̂))
//!                                  wrt 1        → dγ [1, C] = Σ dy x̂
//!                                  wrt 2        → dβ [1, C] = Σ dy
//! BatchNormRunning    [running_mean, running_var, x]  (side effect, in place)
//!                     running_mean ← (1 − m) running_mean + m μ_c
//!                     running_var  ← (1 − m) running_var  + m Σ (x − μ_c)² / (n − 1)
//! BatchNormEval       [x, γ, β, running_mean, running_var]
//!                                               → y = γ_c · (x − mean_c) r_c + β_c,
//!                                                 r_c = 1 / √(var_c + ε) from the running stats
//! BatchNormEvalGrad   [x, γ, running_mean, running_var, dy]
//!                                  wrt 0        → dx = dy · γ_c r_c
//!                                  wrt 1        → dγ = Σ dy (x − mean_c) r_c
//!                                  wrt 2        → dβ = Σ dy
//! ```
//!
//! The running variance is unbiased (n/(n−1)), the normalisation's is biased, as in
//! PyTorch; training therefore needs n ≥ 2 values per channel (PyTorch: "Expected more
//! than 1 value per channel when training"), which the shape rules check.
//!
//! The gradient ops recompute μ and σ² from x rather than taking them from the forward
//! pass: an op has one output, and the two per-channel passes over x cost less than
//! keeping extra values alive between the forward and the backward pass. They are the
//! same computation on the same x, so forward and backward agree bit for bit.
//!
//! The CPU reference accumulates every per-channel sum in f64 (as the penalties do), so
//! in f32 it is nearly exact and a parity test measures the GPU's rounding.
//!
//! WGSL: `shaders/batchnorm.wgsl`. The per-channel kernels (`batch_norm_train`,
//! `batch_norm_train_grad`, `batch_norm_running`, `batch_norm_eval_grad_affine`) run
//! one workgroup per channel (`Grid::Groups(C)`), looping over the channel's n values
//! and reducing with `workgroup_sum`; `batch_norm_eval` and `batch_norm_eval_grad_x`
//! are element-wise. Override constant `WRT` picks a gradient.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{ImageShape, Op, Real};

/// PyTorch's default ε.
pub const DEFAULT_EPS: f32 = 1e-5;
/// PyTorch's default momentum of the running statistics.
pub const DEFAULT_MOMENTUM: f32 = 0.1;

/// Batch normalisation of images of shape `image`, one channel at a time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    pub image: ImageShape,
    /// Added to the variance under the square root.
    pub eps: f32,
}

impl BatchNorm {
    pub fn new(image: ImageShape, eps: f32) -> Self {
        BatchNorm { image, eps }
    }

    /// Over dense features `[N, features]` (`nn.BatchNorm1d`): images features×1×1.
    pub fn dense(features: usize, eps: f32) -> Self {
        BatchNorm::new(ImageShape::new(features, 1, 1), eps)
    }

    /// C: the length of γ, β and the running statistics.
    pub fn channels(self) -> usize {
        self.image.channels
    }

    /// n = N·H·W: how many values each channel's statistics run over.
    pub fn count(self, rows: usize) -> usize {
        rows * self.image.plane()
    }

    /// The flat index of value k (0 ≤ k < n) of channel c.
    pub fn index(self, c: usize, k: usize) -> usize {
        let plane = self.image.plane();
        let (sample, pixel) = (k / plane, k % plane);
        sample * self.image.len() + c * plane + pixel
    }

    /// The channel of flat index e.
    pub fn channel_of(self, e: usize) -> usize {
        (e / self.image.plane()) % self.image.channels
    }

    fn check(self, x: Shape, training: bool) -> Result<(), String> {
        self.image.check_cols(x.cols, "batch norm")?;
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return Err(format!("ε must be finite and ≥ 0, got {}", self.eps));
        }
        if x.rows == 0 {
            return Err("needs a batch of at least one row".into());
        }
        if training && self.count(x.rows) < 2 {
            return Err(format!(
                "expected more than 1 value per channel when training, got {} (batch of {} \
                 {} images)",
                self.count(x.rows),
                x.rows,
                self.image
            ));
        }
        Ok(())
    }

    fn check_channel(self, s: Shape, what: &str) -> Result<(), String> {
        let want = Shape::new(1, self.channels());
        if s != want {
            return Err(format!("{what} must be {want}, got {s}"));
        }
        Ok(())
    }

    fn arity(s: &[Shape], n: usize) -> Result<(), String> {
        if s.len() != n {
            return Err(format!("expects {n} operands, got {}", s.len()));
        }
        Ok(())
    }

    /// Shape rule of `BatchNormTrain`: [x, γ, β] → x's shape.
    pub fn train_shape(self, s: &[Shape]) -> Result<Shape, String> {
        Self::arity(s, 3)?;
        self.check(s[0], true)?;
        self.check_channel(s[1], "γ")?;
        self.check_channel(s[2], "β")?;
        Ok(s[0])
    }

    /// Shape rule of `BatchNormTrainGrad { wrt }`: [x, γ, dy] → dx, dγ or dβ.
    pub fn train_grad_shape(self, wrt: usize, s: &[Shape]) -> Result<Shape, String> {
        Self::arity(s, 3)?;
        self.check(s[0], true)?;
        self.check_channel(s[1], "γ")?;
        if s[2] != s[0] {
            return Err(format!("dy {} must match x {}", s[2], s[0]));
        }
        self.grad_output(wrt, s[0])
    }

    /// Shape rule of `BatchNormRunning`: [running_mean, running_var, x], a side effect.
    pub fn running_shape(self, momentum: f32, s: &[Shape]) -> Result<Shape, String> {
        Self::arity(s, 3)?;
        self.check(s[2], true)?;
        self.check_channel(s[0], "the running mean")?;
        self.check_channel(s[1], "the running variance")?;
        if !(0.0..=1.0).contains(&momentum) {
            return Err(format!("momentum must lie in [0, 1], got {momentum}"));
        }
        Ok(Shape::NONE)
    }

    /// Shape rule of `BatchNormEval`: [x, γ, β, running_mean, running_var] → x's shape.
    pub fn eval_shape(self, s: &[Shape]) -> Result<Shape, String> {
        Self::arity(s, 5)?;
        self.check(s[0], false)?;
        self.check_channel(s[1], "γ")?;
        self.check_channel(s[2], "β")?;
        self.check_channel(s[3], "the running mean")?;
        self.check_channel(s[4], "the running variance")?;
        Ok(s[0])
    }

    /// Shape rule of `BatchNormEvalGrad { wrt }`: [x, γ, running_mean, running_var, dy].
    pub fn eval_grad_shape(self, wrt: usize, s: &[Shape]) -> Result<Shape, String> {
        Self::arity(s, 5)?;
        self.check(s[0], false)?;
        self.check_channel(s[1], "γ")?;
        self.check_channel(s[2], "the running mean")?;
        self.check_channel(s[3], "the running variance")?;
        if s[4] != s[0] {
            return Err(format!("dy {} must match x {}", s[4], s[0]));
        }
        self.grad_output(wrt, s[0])
    }

    fn grad_output(self, wrt: usize, x: Shape) -> Result<Shape, String> {
        match wrt {
            0 => Ok(x),
            1 | 2 => Ok(Shape::new(1, self.channels())),
            _ => Err(format!(
                "differentiates x (0), γ (1) or β (2), not operand {wrt}"
            )),
        }
    }

    /// Per channel (μ_c, σ²_c), the biased batch statistics, in two passes with f64
    /// sums.
    pub fn batch_stats<T: Real>(self, x: &[T], rows: usize) -> Vec<(f64, f64)> {
        let n = self.count(rows);
        (0..self.channels())
            .map(|c| {
                let mut sum = 0.0f64;
                for k in 0..n {
                    sum += x[self.index(c, k)].to_f64();
                }
                let mean = sum / n as f64;
                let mut squares = 0.0f64;
                for k in 0..n {
                    let d = x[self.index(c, k)].to_f64() - mean;
                    squares += d * d;
                }
                (mean, squares / n as f64)
            })
            .collect()
    }

    /// Per channel (μ_c, r_c = 1/√(σ²_c + ε)) in the working precision.
    fn normalisers<T: Real>(self, x: &[T], rows: usize) -> Vec<(T, T)> {
        self.batch_stats(x, rows)
            .into_iter()
            .map(|(mean, var)| (T::from_f64(mean), self.reciprocal_std(T::from_f64(var))))
            .collect()
    }

    /// 1/√(var + ε), as the kernels evaluate it.
    fn reciprocal_std<T: Real>(self, var: T) -> T {
        T::one() / (var + T::from_f32(self.eps)).sqrt()
    }

    /// y = γ_c · ((x − μ_c) · r_c) + β_c for each element of `out`, the range of the
    /// output starting at flat index `start`, from per-channel (μ_c, r_c).
    pub fn cpu_normalise_range<T: Real>(
        self,
        stats: &[(T, T)],
        gamma: &[T],
        beta: &[T],
        start: usize,
        x: &[T],
        out: &mut [T],
    ) {
        for (k, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            let c = self.channel_of(start + k);
            let (mean, r) = stats[c];
            *o = gamma[c] * ((v - mean) * r) + beta[c];
        }
    }

    /// Per-channel (μ_c, r_c) of a training batch, for [`Self::cpu_normalise_range`].
    pub fn cpu_train_stats<T: Real>(self, x: &[T], rows: usize) -> Vec<(T, T)> {
        self.normalisers(x, rows)
    }

    /// Per-channel (mean_c, r_c) from the running statistics, for
    /// [`Self::cpu_normalise_range`].
    pub fn cpu_eval_stats<T: Real>(self, running_mean: &[T], running_var: &[T]) -> Vec<(T, T)> {
        running_mean
            .iter()
            .zip(running_var)
            .map(|(&m, &v)| (m, self.reciprocal_std(v)))
            .collect()
    }

    /// `BatchNormTrainGrad { wrt }` over [x, γ, dy] with x of `rows` rows.
    pub fn cpu_train_grad<T: Real>(
        self,
        wrt: usize,
        x: &[T],
        gamma: &[T],
        dy: &[T],
        rows: usize,
        out: &mut [T],
    ) {
        let n = self.count(rows);
        if wrt == 2 {
            self.cpu_sum_dy(dy, rows, out);
            return;
        }
        let stats = self.normalisers(x, rows);
        for (c, &(mean, r)) in stats.iter().enumerate() {
            let (mut sum_dy, mut sum_dy_xhat) = (0.0f64, 0.0f64);
            for k in 0..n {
                let e = self.index(c, k);
                let xhat = (x[e] - mean) * r;
                sum_dy += dy[e].to_f64();
                sum_dy_xhat += (dy[e] * xhat).to_f64();
            }
            if wrt == 1 {
                out[c] = T::from_f64(sum_dy_xhat);
                continue;
            }
            let mean_dy = T::from_f64(sum_dy / n as f64);
            let mean_dy_xhat = T::from_f64(sum_dy_xhat / n as f64);
            let scale = gamma[c] * r;
            for k in 0..n {
                let e = self.index(c, k);
                let xhat = (x[e] - mean) * r;
                out[e] = scale * ((dy[e] - mean_dy) - xhat * mean_dy_xhat);
            }
        }
    }

    /// The running statistics' update from a batch x of `rows` rows, `momentum` m.
    pub fn cpu_running<T: Real>(
        self,
        momentum: f32,
        running_mean: &mut [T],
        running_var: &mut [T],
        x: &[T],
        rows: usize,
    ) {
        let n = self.count(rows) as f64;
        let m = T::from_f32(momentum);
        let keep = T::from_f32(1.0 - momentum);
        for (c, (mean, var)) in self.batch_stats(x, rows).into_iter().enumerate() {
            // Σ (x − μ)² / (n − 1), PyTorch's unbiased running variance.
            let unbiased = T::from_f64(var * n / (n - 1.0));
            running_mean[c] = keep * running_mean[c] + m * T::from_f64(mean);
            running_var[c] = keep * running_var[c] + m * unbiased;
        }
    }

    /// `BatchNormEvalGrad { wrt }` over [x, γ, running_mean, running_var, dy] for
    /// wrt 1 and 2 (wrt 0 is element-wise: [`Self::cpu_eval_grad_x_range`]).
    #[allow(clippy::too_many_arguments)]
    pub fn cpu_eval_grad_affine<T: Real>(
        self,
        wrt: usize,
        x: &[T],
        running_mean: &[T],
        running_var: &[T],
        dy: &[T],
        rows: usize,
        out: &mut [T],
    ) {
        if wrt == 2 {
            self.cpu_sum_dy(dy, rows, out);
            return;
        }
        let n = self.count(rows);
        let stats = self.cpu_eval_stats(running_mean, running_var);
        for (c, &(mean, r)) in stats.iter().enumerate() {
            let mut acc = 0.0f64;
            for k in 0..n {
                let e = self.index(c, k);
                acc += (dy[e] * ((x[e] - mean) * r)).to_f64();
            }
            out[c] = T::from_f64(acc);
        }
    }

    /// dx = dy · (γ_c r_c) over a range of the output starting at flat index `start`.
    pub fn cpu_eval_grad_x_range<T: Real>(
        self,
        stats: &[(T, T)],
        gamma: &[T],
        start: usize,
        dy: &[T],
        out: &mut [T],
    ) {
        for (k, (o, &d)) in out.iter_mut().zip(dy).enumerate() {
            let c = self.channel_of(start + k);
            *o = d * (gamma[c] * stats[c].1);
        }
    }

    /// dβ_c = Σ dy over channel c.
    fn cpu_sum_dy<T: Real>(self, dy: &[T], rows: usize, out: &mut [T]) {
        let n = self.count(rows);
        for (c, o) in out.iter_mut().enumerate().take(self.channels()) {
            let mut acc = 0.0f64;
            for k in 0..n {
                acc += dy[self.index(c, k)].to_f64();
            }
            *o = T::from_f64(acc);
        }
    }

    /// VJP of `BatchNormTrain` over [x, γ, β]: one fused `BatchNormTrainGrad` per
    /// operand needed.
    pub fn train_vjp(
        self,
        g: &mut Graph,
        inputs: &[ValueId],
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        let operands = [inputs[0], inputs[1], dout];
        (0..3)
            .map(|wrt| {
                if needs[wrt] {
                    let op = Op::BatchNormTrainGrad { bn: self, wrt };
                    g.push(op, &operands).map(Some)
                } else {
                    Ok(None)
                }
            })
            .collect()
    }

    /// VJP of `BatchNormEval` over [x, γ, β, running_mean, running_var]: a fused
    /// `BatchNormEvalGrad` per operand needed among x, γ, β. The running statistics
    /// are not trained (they are updated by `BatchNormRunning`), so asking for their
    /// gradient is an error.
    pub fn eval_vjp(
        self,
        g: &mut Graph,
        inputs: &[ValueId],
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        if needs[3] || needs[4] {
            return Err(GraphError::NotDifferentiable {
                op: Op::BatchNormEval(self).name(),
                detail: "the running statistics are not trained by gradients".into(),
            });
        }
        let operands = [inputs[0], inputs[1], inputs[3], inputs[4], dout];
        let mut grads = (0..3)
            .map(|wrt| {
                if needs[wrt] {
                    let op = Op::BatchNormEvalGrad { bn: self, wrt };
                    g.push(op, &operands).map(Some)
                } else {
                    Ok(None)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        grads.extend([None, None]);
        Ok(grads)
    }
}

impl fmt::Display for BatchNorm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch norm {} ε={}", self.image, self.eps)
    }
}

/// Batch normalisation of `x` with scale `gamma` and shift `beta` (`[1, C]` each).
///
/// - `training`: normalises with the batch's own statistics (`BatchNormTrain`) and, when
///   `running` holds the `(running_mean, running_var)` store entries (`[1, C]`, values
///   of `Graph::entry`), also appends the side effect `BatchNormRunning` that moves
///   them towards the batch's statistics by `momentum` (PyTorch's default
///   [`DEFAULT_MOMENTUM`]).
/// - not `training`: normalises with the running statistics (`BatchNormEval`); they are
///   required then, and `momentum` is unused.
///
/// Side effects need no output to stay alive: the planner keeps every effect node and
/// the values it reads, and runs effects after every pure launch (as it does the
/// optimiser's `Update`s, which `src/train/` simply pushes), so the statistics change
/// only after every read of their old values. Autodiff never walks into an effect (it
/// reaches no loss), so building the gradient afterwards is unaffected. The update
/// runs once per run of a plan holding it: build an evaluation (or validation-loss)
/// plan with `training = false`, and note that an optimiser that evaluates its
/// objective several times per step (L-BFGS's line search) would update the
/// statistics at every evaluation.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    g: &mut Graph,
    x: ValueId,
    gamma: ValueId,
    beta: ValueId,
    running: Option<(ValueId, ValueId)>,
    bn: BatchNorm,
    momentum: f32,
    training: bool,
) -> Result<ValueId, GraphError> {
    if let Some((mean, var)) = running {
        for v in [mean, var] {
            if !matches!(g.node(v).op, Op::Entry { .. }) {
                return Err(GraphError::Invalid(format!(
                    "{bn}: the running statistics must be store entries (Graph::entry), \
                     got {}",
                    g.node(v).op.name()
                )));
            }
        }
    }
    if training {
        let y = g.push(Op::BatchNormTrain(bn), &[x, gamma, beta])?;
        if let Some((mean, var)) = running {
            g.push(Op::BatchNormRunning { bn, momentum }, &[mean, var, x])?;
        }
        Ok(y)
    } else {
        let (mean, var) = running.ok_or_else(|| {
            GraphError::Invalid(format!(
                "{bn}: evaluation mode needs the running statistics"
            ))
        })?;
        g.push(Op::BatchNormEval(bn), &[x, gamma, beta, mean, var])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::CpuBackend;
    use crate::backend::{Backend, Feed};
    use crate::graph::{DType, EntryKind, ParamStore, Plan};

    /// With γ = 1, β = 0 every channel of y has mean ≈ 0 and biased variance ≈ 1
    /// (σ²/(σ² + ε) exactly), and the running statistics move by the momentum towards
    /// the batch's mean and unbiased variance.
    #[test]
    fn normalised_channels_have_zero_mean_unit_variance() {
        let bn = BatchNorm::new(ImageShape::new(3, 2, 5), DEFAULT_EPS);
        let rows = 4;
        let cols = bn.image.len();
        // Channel c centred at 10·c with spread c + 1, so the channels differ.
        let x: Vec<f32> = (0..rows * cols)
            .map(|e| {
                let c = bn.channel_of(e) as f32;
                10.0 * c + (c + 1.0) * ((e * 37 % 11) as f32 - 5.0) / 3.0
            })
            .collect();
        let mut store = ParamStore::new();
        let c = bn.channels();
        let entry = |store: &mut ParamStore, name: &str, v: f32| {
            store.add(name, Shape::new(1, c), EntryKind::State, vec![v; c])
        };
        let gamma = entry(&mut store, "gamma", 1.0);
        let beta = entry(&mut store, "beta", 0.0);
        let mean = entry(&mut store, "running mean", 0.0);
        let var = entry(&mut store, "running var", 1.0);
        let mut g = Graph::new();
        let xv = g.input("x", Shape::new(rows, cols), DType::F32);
        let (gv, bv) = (g.entry(&store, gamma), g.entry(&store, beta));
        let running = Some((g.entry(&store, mean), g.entry(&store, var)));
        let y = batch_norm(&mut g, xv, gv, bv, running, bn, 0.25, true).unwrap();
        g.mark_output(y);
        let mut cpu = CpuBackend::<f32>::new();
        cpu.upload_store(&store).unwrap();
        let plan = cpu.prepare(&Plan::new(&g, &store).unwrap()).unwrap();
        cpu.run(plan, &[Feed::F32(&x)]).unwrap();
        let y = cpu.read_output(plan, y).unwrap();

        let n = bn.count(rows);
        let stats = bn.batch_stats(&x, rows);
        let y_stats = bn.batch_stats(&y, rows);
        let (new_mean, new_var) = (cpu.read_entry(mean).unwrap(), cpu.read_entry(var).unwrap());
        for ch in 0..c {
            let (m, v) = y_stats[ch];
            let (xm, xv) = stats[ch];
            assert!(m.abs() < 1e-6, "channel {ch}: mean {m}");
            let expected = xv / (xv + DEFAULT_EPS as f64);
            assert!((v - expected).abs() < 1e-5, "channel {ch}: variance {v}");
            assert!((v - 1.0).abs() < 1e-3, "channel {ch}: variance {v}");
            let want_mean = 0.75 * 0.0 + 0.25 * xm;
            let want_var = 0.75 * 1.0 + 0.25 * xv * n as f64 / (n - 1) as f64;
            assert!((new_mean[ch] as f64 - want_mean).abs() < 1e-5);
            assert!((new_var[ch] as f64 - want_var).abs() < 1e-5);
        }
    }

    /// The running-statistics effect needs no output to be planned, and runs after every
    /// pure launch (after the reads of the statistics' old values); eval mode pushes no
    /// effect, and needs the statistics.
    #[test]
    fn the_running_update_is_planned_last_and_only_when_training() {
        let bn = BatchNorm::dense(5, DEFAULT_EPS);
        let mut store = ParamStore::new();
        let channel = |store: &mut ParamStore, name: &str| {
            store.add(name, Shape::new(1, 5), EntryKind::State, vec![1.0; 5])
        };
        let ids: Vec<_> = ["gamma", "beta", "mean", "var"]
            .iter()
            .map(|name| channel(&mut store, name))
            .collect();
        for training in [true, false] {
            let mut g = Graph::new();
            let x = g.input("x", Shape::new(8, 5), DType::F32);
            let v: Vec<ValueId> = ids.iter().map(|&id| g.entry(&store, id)).collect();
            let running = Some((v[2], v[3]));
            let y = batch_norm(&mut g, x, v[0], v[1], running, bn, 0.1, training).unwrap();
            let h = g.push(Op::Scale(2.0), &[y]).unwrap();
            g.mark_output(h);
            let plan = Plan::new(&g, &store).unwrap();
            let ops: Vec<&Op> = plan.launches.iter().map(|l| &l.op).collect();
            if training {
                assert!(matches!(
                    ops[..],
                    [
                        Op::BatchNormTrain(_),
                        Op::Scale(_),
                        Op::BatchNormRunning { .. }
                    ]
                ));
            } else {
                assert!(matches!(ops[..], [Op::BatchNormEval(_), Op::Scale(_)]));
                assert!(batch_norm(&mut g, x, v[0], v[1], None, bn, 0.1, false).is_err());
            }
            // A computed value cannot stand for a running statistic.
            assert!(batch_norm(&mut g, x, v[0], v[1], Some((h, v[3])), bn, 0.1, training).is_err());
        }
    }

    #[test]
    fn shape_rules_refuse_single_value_channels_and_wrong_parameters() {
        let bn = BatchNorm::dense(4, DEFAULT_EPS);
        let x = Shape::new(1, 4);
        let c = Shape::new(1, 4);
        assert!(bn.train_shape(&[x, c, c]).is_err(), "n = 1 when training");
        assert!(
            bn.eval_shape(&[x, c, c, c, c]).is_ok(),
            "n = 1 is fine in eval"
        );
        let x = Shape::new(2, 4);
        assert_eq!(bn.train_shape(&[x, c, c]), Ok(x));
        assert!(bn.train_shape(&[x, Shape::new(1, 3), c]).is_err());
        assert!(bn.train_shape(&[Shape::new(2, 5), c, c]).is_err());
        assert_eq!(bn.train_grad_shape(1, &[x, c, x]), Ok(c));
        assert!(bn.train_grad_shape(3, &[x, c, x]).is_err());
        assert!(bn.running_shape(1.5, &[c, c, x]).is_err());
        assert_eq!(bn.running_shape(0.1, &[c, c, x]), Ok(Shape::NONE));
    }
}
