//! Reconstruction losses, averaged over every element (per pixel, as PyTorch's
//! `reduction="mean"`), and their fused gradients.
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
        if needs[1] {
            return Err(GraphError::NotDifferentiable {
                op: format!("{self:?} loss"),
                detail: "the target is data; gradients flow to the prediction only".into(),
            });
        }
        let dp = g.push(Op::LossGrad(self), &[inputs[0], inputs[1], dout])?;
        Ok(vec![Some(dp), None])
    }
}
