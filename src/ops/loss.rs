//! Reconstruction losses, averaged over every element (per pixel, as PyTorch's
//! `reduction="mean"`), and their fused gradients; and the classifier's softmax
//! cross-entropy, averaged over rows ([`softmax_xent`], at the end).
//!
//! MSE:  L = (1/N) Σ (p − t)²,             ∂L/∂p = 2 (p − t) / N
//! BCE on logits z (numerically stable, never forms σ(z) then log):
//!       ℓ(z, t) = max(z, 0) − z t + ln(1 + e^{−|z|}),   ∂ℓ/∂z = σ(z) − t
//! `LossGrad` takes [pred, target, dloss] and scales by the incoming dloss, so the
//! loss can sit anywhere in a graph. Targets are data: the VJP with respect to the
//! target is not provided.
//! WGSL: `shaders/loss.wgsl`, entries `loss_value` (one workgroup: strided shares,
//! then a tree) and `loss_grad`, override constant `LOSS`.

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{activation::sigmoid, Op, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error on the (already activated) prediction.
    Mse,
    /// Binary cross-entropy on logits: the output layer stays linear and σ is applied
    /// inside the loss.
    BceWithLogits,
}

impl Loss {
    pub fn code(self) -> u32 {
        match self {
            Loss::Mse => 0,
            Loss::BceWithLogits => 1,
        }
    }

    pub fn shape(s: &[Shape]) -> Result<Shape, String> {
        if s[0] != s[1] {
            return Err(format!("prediction {} and target {} differ", s[0], s[1]));
        }
        Ok(Shape::SCALAR)
    }

    pub fn grad_shape(s: &[Shape]) -> Result<Shape, String> {
        Loss::shape(&s[..2])?;
        if s[2] != Shape::SCALAR {
            return Err(format!("incoming gradient must be [1, 1], got {}", s[2]));
        }
        Ok(s[0])
    }

    /// The loss of one element, before averaging.
    pub fn element<T: Real>(self, p: T, t: T) -> T {
        match self {
            Loss::Mse => (p - t) * (p - t),
            Loss::BceWithLogits => p.max(T::zero()) - p * t + (-p.abs()).exp().ln_1p(),
        }
    }

    /// ∂ℓ/∂p of one element, before averaging.
    pub fn element_grad<T: Real>(self, p: T, t: T) -> T {
        match self {
            Loss::Mse => T::from_f32(2.0) * (p - t),
            Loss::BceWithLogits => sigmoid(p) - t,
        }
    }

    pub fn cpu<T: Real>(self, p: &[T], t: &[T], out: &mut [T]) {
        let mut acc = 0.0f64;
        for (&p, &t) in p.iter().zip(t) {
            acc += self.element(p, t).to_f64();
        }
        out[0] = T::from_f64(acc / p.len() as f64);
    }

    /// `∂ℓ/∂p · scale` element by element, with `scale = dloss / N` computed by the
    /// caller (so a range of the operand can be processed on its own).
    pub fn cpu_grad_scaled<T: Real>(self, p: &[T], t: &[T], scale: T, out: &mut [T]) {
        for ((o, &p), &t) in out.iter_mut().zip(p).zip(t) {
            *o = self.element_grad(p, t) * scale;
        }
    }

    pub fn vjp(
        self,
        g: &mut Graph,
        inputs: &[ValueId],
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        refuse_target_gradient(
            needs,
            format!("{self:?} loss"),
            "the target is data; gradients flow to the prediction only",
        )?;
        let dp = g.push(Op::LossGrad(self), &[inputs[0], inputs[1], dout])?;
        Ok(vec![Some(dp), None])
    }
}

/// A loss's second operand (the target) is data: asking for its gradient is an error.
fn refuse_target_gradient(needs: &[bool], op: String, detail: &str) -> Result<(), GraphError> {
    if needs[1] {
        return Err(GraphError::NotDifferentiable {
            op,
            detail: detail.into(),
        });
    }
    Ok(())
}

/// Softmax cross-entropy of logits z [B, K] against targets t [B, K] (one-hot rows
/// for hard labels; any rows of weights are accepted), averaged over the batch rows —
/// PyTorch's `cross_entropy(z, y)` with `reduction="mean"`:
///
///   L = (1/B) Σ_r ℓ_r,  ℓ_r = Σ_j t_rj (lse_r − z_rj),  lse_r = m_r + ln Σ_j e^{z_rj − m_r}
///
/// with m_r = max_j z_rj, so no exponent is positive (log-sum-exp never overflows). For
/// one-hot t, ℓ_r = −log softmax(z_r)_y. The gradient, with s_rj = e^{z_rj − lse_r}:
///
///   ∂L/∂z_rj = (s_rj Σ_k t_rk − t_rj) / B,   = (softmax(z_r) − onehot(y_r))_j / B.
///
/// WGSL: `shaders/loss.wgsl`, entries `softmax_xent_value` (one workgroup, a row per
/// invocation and stride) and `softmax_xent_grad` (a row per invocation).
pub mod softmax_xent {
    use super::*;

    /// [logits [B, K], targets [B, K]] → [1, 1].
    pub fn shape(s: &[Shape]) -> Result<Shape, String> {
        if s[0] != s[1] {
            return Err(format!("logits {} and targets {} differ", s[0], s[1]));
        }
        Ok(Shape::SCALAR)
    }

    /// [logits, targets, dloss [1, 1]] → [B, K].
    pub fn grad_shape(s: &[Shape]) -> Result<Shape, String> {
        shape(&s[..2])?;
        if s[2] != Shape::SCALAR {
            return Err(format!("incoming gradient must be [1, 1], got {}", s[2]));
        }
        Ok(s[0])
    }

    /// lse(z) = m + ln Σ e^{z_j − m}, m = max z.
    pub fn log_sum_exp<T: Real>(z: &[T]) -> T {
        let m = z.iter().fold(z[0], |m, &x| m.max(x));
        let mut sum = T::zero();
        for &x in z {
            sum += (x - m).exp();
        }
        m + sum.ln()
    }

    /// ℓ of one row: Σ_j t_j (lse − z_j).
    pub fn row_loss<T: Real>(z: &[T], t: &[T]) -> T {
        let lse = log_sum_exp(z);
        let mut loss = T::zero();
        for (&z, &t) in z.iter().zip(t) {
            loss += t * (lse - z);
        }
        loss
    }

    /// The mean of ℓ over the `cols`-wide rows of `z`, summed in f64.
    pub fn cpu<T: Real>(z: &[T], t: &[T], cols: usize, out: &mut [T]) {
        let mut acc = 0.0f64;
        for (z, t) in z.chunks(cols).zip(t.chunks(cols)) {
            acc += row_loss(z, t).to_f64();
        }
        out[0] = T::from_f64(acc / (z.len() / cols) as f64);
    }

    /// ∂ℓ/∂z of whole rows times `scale` (= dloss / B, from the caller, so that a
    /// thread can take any range of rows): (s_j Σ_k t_k − t_j) · scale.
    pub fn cpu_grad_scaled<T: Real>(z: &[T], t: &[T], cols: usize, scale: T, out: &mut [T]) {
        for ((z, t), o) in z.chunks(cols).zip(t.chunks(cols)).zip(out.chunks_mut(cols)) {
            let lse = log_sum_exp(z);
            let mut mass = T::zero();
            for &t in t {
                mass += t;
            }
            for ((o, &z), &t) in o.iter_mut().zip(z).zip(t) {
                *o = ((z - lse).exp() * mass - t) * scale;
            }
        }
    }

    /// Gradients flow to the logits only; the targets are data.
    pub fn vjp(
        g: &mut Graph,
        inputs: &[ValueId],
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        super::refuse_target_gradient(
            needs,
            "softmax cross-entropy".into(),
            "the targets are data; gradients flow to the logits only",
        )?;
        let dz = g.push(Op::SoftmaxCrossEntropyGrad, &[inputs[0], inputs[1], dout])?;
        Ok(vec![Some(dz), None])
    }

    /// The index of the largest logit of each `cols`-wide row (the first on ties): the
    /// predicted class.
    pub fn argmax_rows(z: &[f32], cols: usize) -> Vec<u32> {
        z.chunks(cols)
            .map(|row| {
                let mut best = 0;
                for (j, &x) in row.iter().enumerate() {
                    if x > row[best] {
                        best = j;
                    }
                }
                best as u32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::softmax_xent::{argmax_rows, cpu, cpu_grad_scaled};

    /// Logits of three rows — ordinary, ±1000 (where a naive e^z overflows), all
    /// equal — with labels 2, 0, 1; figures from PyTorch 2.15's
    /// `cross_entropy(z, y)` and its gradient, in f64.
    #[test]
    fn softmax_cross_entropy_matches_pytorch() {
        let z = [1.0, 2.0, 3.0, -1000.0, 0.0, 1000.0, 0.5, 0.5, 0.5];
        let t = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let mut loss = [0.0f64];
        cpu(&z, &t, 3, &mut loss);
        assert!((loss[0] - 667.1687394177042).abs() < 1e-12, "{}", loss[0]);
        let mut dz = [0.0f64; 9];
        cpu_grad_scaled(&z, &t, 3, 1.0 / 3.0, &mut dz);
        let torch = [
            0.030010191056793478,
            0.08157615701826587,
            -0.1115863480750594,
            -0.3333333333333333,
            0.0,
            0.3333333333333333,
            0.1111111111111111,
            -0.2222222222222222,
            0.1111111111111111,
        ];
        for (d, t) in dz.iter().zip(torch) {
            assert!((d - t).abs() < 1e-15, "{dz:?}");
        }
        let f32_logits: Vec<f32> = z.iter().map(|&x| x as f32).collect();
        // Ties go to the first maximum.
        assert_eq!(argmax_rows(&f32_logits, 3), [2, 2, 0]);
    }
}
