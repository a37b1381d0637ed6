//! Fused optimiser updates, one kernel per parameter tensor. They are side effects:
//! inputs are [param, grad, hyper, state…, (norm_sq)] and param and state are updated
//! in place. `hyper` is a [1, 4] host input set every step —
//! [lr, 1/(1−β1ᵗ), 1/(1−β2ᵗ), max_norm] — so schedules, Adam's bias correction and the
//! clipping threshold need no re-planning.
//!
//! Each formula is PyTorch's (`torch.optim.*`, defaults in the constructors below),
//! with weight decay w as L2 in the gradient unless decoupled:
//!
//! ```text
//! clip:    g = g · min(1, max_norm / (sqrt(norm_sq) + 1e-6))   when norm_sq is an
//!          operand and max_norm > 0, before anything else (torch.nn.utils.clip_grad_norm_)
//! SGD:     g' = g + w p;  v = μ v + g';  p -= lr · (nesterov ? g' + μ v : v)
//! Adam:    m = β1 m + (1−β1) g';  v = β2 v + (1−β2) g'²        (Kingma & Ba 2015)
//!          p -= lr · ( (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε) + (decoupled ? w p : 0) )
//!          with g' = decoupled ? g : g + w p  (decoupled: AdamW, Loshchilov & Hutter 2019)
//! AdaGrad: g' = g + w p;  s = s + g'²;  p -= lr · g' / (sqrt(s) + ε)
//!          (Duchi et al. 2011; PyTorch with lr_decay 0, initial accumulator 0)
//! RMSProp: g' = g + w p;  v = α v + (1−α) g'²;  d = g' / (sqrt(v) + ε)
//!          μ > 0: b = μ b + d;  p -= lr · b      else: p -= lr · d
//!          (Hinton, Coursera lecture 6e; PyTorch's non-centred form)
//! ```
//!
//! The clipping operand norm_sq = Σ over every gradient tensor of Σ g² is built by
//! [`global_norm_sq`]; all gradients are computed before any update runs (the planner
//! moves side effects last), so every parameter sees the same factor.
//!
//! WGSL: `shaders/optim.wgsl`, entries `sgd_update`, `adam_update`, `adagrad_update`
//! and `rmsprop_update`, override constant `CLIP` for the norm operand.

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::elementwise::sum_all;
use crate::ops::{Op, Penalty, Real};

/// Added to the global norm before dividing, as PyTorch's `clip_grad_norm_` does: a
/// zero gradient gets the factor 1, never 0/0.
pub const CLIP_EPSILON: f32 = 1e-6;

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
    #[serde(rename = "adagrad")]
    AdaGrad { eps: f32, weight_decay: f32 },
    #[serde(rename = "rmsprop")]
    RmsProp {
        alpha: f32,
        eps: f32,
        momentum: f32,
        weight_decay: f32,
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

    /// AdaGrad as PyTorch's `torch.optim.Adagrad` (ε = 1e-10, no learning-rate decay,
    /// accumulator starting at 0).
    pub fn adagrad() -> Self {
        Optimizer::AdaGrad {
            eps: 1e-10,
            weight_decay: 0.0,
        }
    }

    /// RMSProp as PyTorch's `torch.optim.RMSprop` (α = 0.99, ε = 1e-8, no momentum,
    /// not centred).
    pub fn rmsprop() -> Self {
        Optimizer::RmsProp {
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            weight_decay: 0.0,
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
            Optimizer::AdaGrad { eps, .. } => Optimizer::AdaGrad {
                eps,
                weight_decay: w,
            },
            Optimizer::RmsProp {
                alpha,
                eps,
                momentum,
                ..
            } => Optimizer::RmsProp {
                alpha,
                eps,
                momentum,
                weight_decay: w,
            },
        }
    }

    /// Number of state tensors per parameter (velocity; first and second moments;
    /// the sum of squares; the square average and the momentum buffer).
    pub fn state_count(&self) -> usize {
        match self {
            Optimizer::Sgd { .. } | Optimizer::AdaGrad { .. } => 1,
            Optimizer::Adam { .. } | Optimizer::RmsProp { .. } => 2,
        }
    }

    /// The host-side hyper-parameter vector for step `t` (1-based), clipping the
    /// gradients to global norm `max_norm` (0: no clipping; it takes effect where the
    /// update has the norm_sq operand).
    pub fn hyper(&self, lr: f32, t: u64, max_norm: f32) -> [f32; 4] {
        match *self {
            Optimizer::Adam { beta1, beta2, .. } => {
                let t = t.max(1) as i32;
                [
                    lr,
                    (1.0 / (1.0 - (beta1 as f64).powi(t))) as f32,
                    (1.0 / (1.0 - (beta2 as f64).powi(t))) as f32,
                    max_norm,
                ]
            }
            _ => [lr, 1.0, 1.0, max_norm],
        }
    }

    /// Whether an update with `operands` operands has the trailing norm_sq.
    pub fn has_norm_operand(&self, operands: usize) -> bool {
        operands == 4 + self.state_count()
    }

    pub fn shape(&self, s: &[Shape]) -> Result<Shape, String> {
        let plain = 3 + self.state_count();
        if s.len() != plain && s.len() != plain + 1 {
            return Err(format!(
                "expects {plain} operands, or {} with the squared gradient norm, got {}",
                plain + 1,
                s.len()
            ));
        }
        if s[2] != Shape::new(1, 4) {
            return Err(format!("hyper-parameters must be [1, 4], got {}", s[2]));
        }
        if self.has_norm_operand(s.len()) && s[plain] != Shape::SCALAR {
            return Err(format!(
                "the squared gradient norm must be [1, 1], got {}",
                s[plain]
            ));
        }
        for (i, x) in s[..plain].iter().enumerate() {
            if i != 2 && *x != s[0] {
                return Err(format!("parameter {} and operand {i} {} differ", s[0], x));
            }
        }
        Ok(Shape::NONE)
    }

    /// Updates `param` and `state` in place from `grad`, clipped by the global norm
    /// when `norm_sq` is given and `hyper[3]` (max_norm) is positive.
    pub fn cpu<T: Real>(
        &self,
        param: &mut [T],
        grad: &[T],
        hyper: &[T],
        norm_sq: Option<T>,
        state: &mut [&mut [T]],
    ) {
        let lr = hyper[0];
        let clip = clip_factor(hyper[3], norm_sq);
        let grad = grad.iter().map(|&g| match clip {
            Some(c) => g * c,
            None => g,
        });
        match *self {
            Optimizer::Sgd {
                momentum,
                nesterov,
                weight_decay,
            } => {
                let (mu, w) = (T::from_f32(momentum), T::from_f32(weight_decay));
                let v = &mut *state[0];
                for ((p, g), v) in param.iter_mut().zip(grad).zip(v.iter_mut()) {
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
                for (((p, g), m), v) in param
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
            Optimizer::AdaGrad { eps, weight_decay } => {
                let (eps, w) = (T::from_f32(eps), T::from_f32(weight_decay));
                let s = &mut *state[0];
                for ((p, g), s) in param.iter_mut().zip(grad).zip(s.iter_mut()) {
                    let g = g + w * *p;
                    *s += g * g;
                    *p = *p - lr * (g / (s.sqrt() + eps));
                }
            }
            Optimizer::RmsProp {
                alpha,
                eps,
                momentum,
                weight_decay,
            } => {
                let (a, eps, mu, w) = (
                    T::from_f32(alpha),
                    T::from_f32(eps),
                    T::from_f32(momentum),
                    T::from_f32(weight_decay),
                );
                let (vs, bs) = state.split_at_mut(1);
                let (v, b) = (&mut *vs[0], &mut *bs[0]);
                for (((p, g), v), b) in param
                    .iter_mut()
                    .zip(grad)
                    .zip(v.iter_mut())
                    .zip(b.iter_mut())
                {
                    let g = g + w * *p;
                    *v = a * *v + (T::one() - a) * g * g;
                    let mut step = g / (v.sqrt() + eps);
                    if momentum > 0.0 {
                        *b = mu * *b + step;
                        step = *b;
                    }
                    *p = *p - lr * step;
                }
            }
        }
    }
}

/// The factor min(1, max_norm / (√norm_sq + ε)) that clips every gradient to global
/// norm `max_norm`, or None where there is no clipping (no norm operand, or
/// max_norm ≤ 0).
pub fn clip_factor<T: Real>(max_norm: T, norm_sq: Option<T>) -> Option<T> {
    let norm_sq = norm_sq?;
    if max_norm <= T::zero() {
        return None;
    }
    let factor = max_norm / (norm_sq.sqrt() + T::from_f32(CLIP_EPSILON));
    Some(if factor < T::one() { factor } else { T::one() })
}

/// Appends Σ over `grads` of Σ g², the squared global norm that clipping takes (the
/// norm_sq operand of `Op::Update`), as 2 · ½Σg² per tensor (`Penalty::SquaredL2`)
/// added up.
pub fn global_norm_sq(g: &mut Graph, grads: &[ValueId]) -> Result<ValueId, GraphError> {
    let mut sums = vec![];
    for &grad in grads {
        let half = g.push(Op::Penalty(Penalty::SquaredL2), &[grad])?;
        sums.push(g.push(Op::Scale(2.0), &[half])?);
    }
    sum_all(g, &sums)?
        .ok_or_else(|| GraphError::Invalid("a global norm needs at least one gradient".into()))
}
