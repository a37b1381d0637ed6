//! Fused optimiser updates, one kernel per parameter tensor. They are side effects:
//! inputs are [param, grad, hyper, state…] and param and state are updated in place.
//! `hyper` is a [1, 4] host input set every step — [lr, 1/(1−β1ᵗ), 1/(1−β2ᵗ), 0] — so
//! schedules and Adam's bias correction need no re-planning.
//!
//! SGD with momentum μ (PyTorch's form), weight decay w as L2 in the gradient; Adam
//! (Kingma & Ba 2015), with L2 (`decoupled = false`, g' = g + w p) or decoupled weight
//! decay (AdamW, Loshchilov & Hutter 2019):
//!
//! ```text
//! SGD:   g' = g + w p;  v = μ v + g';  p -= lr · (nesterov ? g' + μ v : v)
//! Adam:  m = β1 m + (1−β1) g';  v = β2 v + (1−β2) g'²
//!        p -= lr · ( (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε) + (decoupled ? w p : 0) )
//! ```
//!
//! WGSL: `shaders/optim.wgsl`, entries `sgd_update` and `adam_update`.

use serde::{Deserialize, Serialize};

use crate::graph::Shape;
use crate::ops::Real;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Optimizer {
    Sgd {
        momentum: f32,
        nesterov: bool,
        weight_decay: f32,
    },
    Adam {
        beta1: f32,
        beta2: f32,
        eps: f32,
        weight_decay: f32,
        decoupled: bool,
    },
}

impl Optimizer {
    /// Adam as PyTorch's `torch.optim.Adam` (β = 0.9, 0.999, ε = 1e-8; weight decay,
    /// if any, as L2 in the gradient).
    pub fn adam() -> Self {
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }

    /// AdamW: Adam with decoupled weight decay `weight_decay`.
    pub fn adamw(weight_decay: f32) -> Self {
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            decoupled: true,
        }
    }

    /// The same optimiser with weight decay `w` (L2 or decoupled as it was).
    pub fn with_weight_decay(self, w: f32) -> Self {
        match self {
            Optimizer::Sgd {
                momentum, nesterov, ..
            } => Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay: w,
            },
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                decoupled,
                ..
            } => Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay: w,
                decoupled,
            },
        }
    }

    /// Number of state tensors per parameter (velocity; or first and second moments).
    pub fn state_count(&self) -> usize {
        match self {
            Optimizer::Sgd { .. } => 1,
            Optimizer::Adam { .. } => 2,
        }
    }

    /// The host-side hyper-parameter vector for step `t` (1-based).
    pub fn hyper(&self, lr: f32, t: u64) -> [f32; 4] {
        match *self {
            Optimizer::Sgd { .. } => [lr, 1.0, 1.0, 0.0],
            Optimizer::Adam { beta1, beta2, .. } => {
                let t = t.max(1) as i32;
                [
                    lr,
                    (1.0 / (1.0 - (beta1 as f64).powi(t))) as f32,
                    (1.0 / (1.0 - (beta2 as f64).powi(t))) as f32,
                    0.0,
                ]
            }
        }
    }

    pub fn shape(&self, s: &[Shape]) -> Result<Shape, String> {
        let expected = 3 + self.state_count();
        if s.len() != expected {
            return Err(format!("expects {expected} operands, got {}", s.len()));
        }
        if s[2] != Shape::new(1, 4) {
            return Err(format!("hyper-parameters must be [1, 4], got {}", s[2]));
        }
        for (i, x) in s.iter().enumerate() {
            if i != 2 && *x != s[0] {
                return Err(format!("parameter {} and operand {i} {} differ", s[0], x));
            }
        }
        Ok(Shape::NONE)
    }

    /// Updates `param` and `state` in place from `grad`.
    pub fn cpu<T: Real>(&self, param: &mut [T], grad: &[T], hyper: &[T], state: &mut [&mut [T]]) {
        let lr = hyper[0];
        match *self {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                let (mu, w) = (T::from_f32(momentum), T::from_f32(weight_decay));
                let v = &mut *state[0];
                for ((p, &g), v) in param.iter_mut().zip(grad).zip(v.iter_mut()) {
                    let g = g + w * *p;
                    *v = mu * *v + g;
                    let step = if nesterov { g + mu * *v } else { *v };
                    *p = *p - lr * step;
                }
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                decoupled,
            } => {
                let (b1, b2, eps, w) = (
                    T::from_f32(beta1),
                    T::from_f32(beta2),
                    T::from_f32(eps),
                    T::from_f32(weight_decay),
                );
                let (c1, c2) = (hyper[1], hyper[2]);
                let (ms, vs) = state.split_at_mut(1);
                let (m, v) = (&mut *ms[0], &mut *vs[0]);
                for (((p, &g), m), v) in param
                    .iter_mut()
                    .zip(grad)
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                {
                    let g = if decoupled { g } else { g + w * *p };
                    *m = b1 * *m + (T::one() - b1) * g;
                    *v = b2 * *v + (T::one() - b2) * g * g;
                    let mut step = (*m * c1) / ((*v * c2).sqrt() + eps);
                    if decoupled {
                        step += w * *p;
                    }
                    *p = *p - lr * step;
                }
            }
        }
    }
}
