//! Regularisation penalties: each reduces its operands to a raw [1, 1] sum (the caller
//! multiplies by its weight with `Op::Scale` and adds it to the loss), with a fused
//! gradient `PenaltyGrad { penalty, wrt }` over `[operands…, dout]`.
//!
//! ```text
//! L1           h [n, m]                      Σ |h|                         ∂/∂h = sign(h)  (0 at 0)
//! KL sparsity  ρ̂ [1, m]                      Σ_j KL(ρ‖ρ̂_j)                 ∂/∂ρ̂ = −ρ/ρ̂ + (1−ρ)/(1−ρ̂)
//! contractive  h [n, m], colnorm [1, m]      Σ_ij φ(h_ij) colnorm_j        ∂/∂h = φ'(h) colnorm_j
//!                                                                          ∂/∂colnorm_j = Σ_i φ(h_ij)
//! squared L2   w                             ½ Σ w²                        ∂/∂w = w
//! ```
//!
//! KL sparsity (Ng, CS294A "Sparse autoencoder" notes, §3):
//! KL(ρ‖ρ̂_j) = ρ log(ρ/ρ̂_j) + (1−ρ) log((1−ρ)/(1−ρ̂_j)), where ρ̂ is the batch mean
//! activation (the caller takes a `Reduce` mean over rows). ρ̂ is clamped to
//! [`KL_EPSILON`, 1 − `KL_EPSILON`] in the value and the gradient alike, so a dead or
//! saturated unit gives a large but finite penalty, never inf or NaN.
//!
//! Contractive (Rifai et al., ICML 2011, eq. 4): for an encoder h = f(xW + b) the
//! squared Frobenius norm of the Jacobian is ‖J_f(x)‖²_F = Σ_j f'(a_j)² Σ_i W_ij²; the
//! op takes colnorm_j = Σ_i W_ij² (built by the caller: W ⊙ W, then a sum over rows)
//! and φ(h) = f'(a)² written through the output h:
//!
//! ```text
//! sigmoid  φ = (h (1−h))²    φ' = 2 h (1−h) (1−2h)
//! tanh     φ = (1−h²)²       φ' = −4 h (1−h²)
//! relu     φ = [h > 0]       φ' = 0
//! linear   φ = 1             φ' = 0
//! ```
//!
//! The gradient with respect to h continues through the activation's own VJP to the
//! pre-activation a, which yields φ'(h) f'(a) = 2 f'(a) f''(a), the derivative of f'(a)².
//! Other activations are refused by the shape rule.
//!
//! WGSL: `shaders/penalty.wgsl`, entries `penalty_value` (one workgroup: strided
//! shares, then a tree), `penalty_grad` (element-wise) and `penalty_colnorm_grad` (the
//! contractive gradient with respect to colnorm, one invocation per column); override
//! constants `PENALTY` (see [`Penalty::code`]) and `ACT`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{Activation, Op, Real};

/// ρ̂ is clamped to [ε, 1 − ε] with this ε before the KL penalty or its gradient is
/// evaluated: ln(1e-6) ≈ −13.8 keeps the penalty finite, and 1 − 1e-6 is still
/// distinct from 1 in f32 (whose spacing below 1 is 6e-8).
pub const KL_EPSILON: f32 = 1e-6;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Penalty {
    /// Σ|h| over an activation (or any value).
    L1,
    /// Σ_j KL(ρ‖ρ̂_j) over the mean activation ρ̂ [1, m], for target sparsity `rho`.
    Kl { rho: f32 },
    /// Σ_i ‖J_f(x_i)‖²_F of an encoder h = f(xW + b) over the batch, from
    /// [h, colnorm] with colnorm_j = Σ_i W_ij².
    Contractive(Activation),
    /// ½ Σ w² (weight decay written in the loss).
    SquaredL2,
}

impl Penalty {
    /// The integer the WGSL kernels switch on (override constant `PENALTY`).
    pub fn code(self) -> u32 {
        match self {
            Penalty::L1 => 0,
            Penalty::Kl { .. } => 1,
            Penalty::Contractive(_) => 2,
            Penalty::SquaredL2 => 3,
        }
    }

    /// How many operands the penalty takes (its gradient takes one more: dout).
    pub fn arity(self) -> usize {
        match self {
            Penalty::Contractive(_) => 2,
            _ => 1,
        }
    }

    /// The target activation ρ of the KL penalty (0 for the others); a kernel
    /// parameter.
    pub fn rho(self) -> f32 {
        match self {
            Penalty::Kl { rho } => rho,
            _ => 0.0,
        }
    }

    /// The encoder activation of the contractive penalty (linear for the others).
    pub fn activation(self) -> Activation {
        match self {
            Penalty::Contractive(act) => act,
            _ => Activation::Linear,
        }
    }

    pub fn shape(self, s: &[Shape]) -> Result<Shape, String> {
        if s.len() != self.arity() {
            return Err(format!(
                "expects {} operands, got {}",
                self.arity(),
                s.len()
            ));
        }
        let x = s[0];
        if x.is_empty() {
            return Err(format!("cannot penalise an empty value {x}"));
        }
        match self {
            Penalty::L1 | Penalty::SquaredL2 => {}
            Penalty::Kl { rho } => {
                if !(rho > 0.0 && rho < 1.0) {
                    return Err(format!("target sparsity ρ must lie in (0, 1), got {rho}"));
                }
                if x.rows != 1 {
                    return Err(format!(
                        "takes the mean activation ρ̂ [1, m] (a mean over rows), got {x}"
                    ));
                }
            }
            Penalty::Contractive(act) => {
                if !matches!(
                    act,
                    Activation::Sigmoid | Activation::Tanh | Activation::Relu | Activation::Linear
                ) {
                    return Err(format!(
                        "supports sigmoid, tanh, relu and linear encoders, not {act}"
                    ));
                }
                if s[1] != Shape::new(1, x.cols) {
                    return Err(format!(
                        "column norms must be [1, {}] for an encoder output {x}, got {}",
                        x.cols, s[1]
                    ));
                }
            }
        }
        Ok(Shape::SCALAR)
    }

    /// Shape rule of `PenaltyGrad { wrt }` over `[operands…, dout]`.
    pub fn grad_shape(self, wrt: usize, s: &[Shape]) -> Result<Shape, String> {
        let n = self.arity();
        if s.len() != n + 1 {
            return Err(format!("expects {} operands, got {}", n + 1, s.len()));
        }
        self.shape(&s[..n])?;
        if wrt >= n {
            return Err(format!(
                "has {n} operand(s), no operand {wrt} to differentiate"
            ));
        }
        if s[n] != Shape::SCALAR {
            return Err(format!("incoming gradient must be [1, 1], got {}", s[n]));
        }
        Ok(s[wrt])
    }

    /// The penalty of one element x (with its column's norm for the contractive one).
    pub fn element<T: Real>(self, x: T, colnorm: T) -> T {
        match self {
            Penalty::L1 => x.abs(),
            Penalty::Kl { rho } => {
                // KL(ρ‖ρ̂) = ρ log(ρ/ρ̂) + (1-ρ) log((1-ρ)/(1-ρ̂))  (Ng, CS294A notes)
                let (rho, p) = (T::from_f32(rho), kl_clamp(x));
                let one = T::one();
                rho * (rho / p).ln() + (one - rho) * ((one - rho) / (one - p)).ln()
            }
            Penalty::Contractive(act) => contractive_phi(act, x) * colnorm,
            Penalty::SquaredL2 => T::from_f32(0.5) * x * x,
        }
    }

    /// ∂(penalty of one element)/∂x, before the incoming gradient.
    pub fn element_grad<T: Real>(self, x: T, colnorm: T) -> T {
        match self {
            Penalty::L1 => {
                if x > T::zero() {
                    T::one()
                } else if x < T::zero() {
                    -T::one()
                } else {
                    T::zero()
                }
            }
            Penalty::Kl { rho } => {
                let (rho, p) = (T::from_f32(rho), kl_clamp(x));
                -rho / p + (T::one() - rho) / (T::one() - p)
            }
            Penalty::Contractive(act) => contractive_phi_grad(act, x) * colnorm,
            Penalty::SquaredL2 => x,
        }
    }

    /// The penalty's value: `operands` as the shape rule takes them, `x` of shape `xs`.
    pub fn cpu<T: Real>(self, operands: &[&[T]], xs: Shape, out: &mut [T]) {
        let x = operands[0];
        let mut acc = 0.0f64;
        for row in x.chunks(xs.cols).take(xs.rows) {
            for (j, &v) in row.iter().enumerate() {
                acc += self.element(v, column_norm(operands, j)).to_f64();
            }
        }
        out[0] = T::from_f64(acc);
    }

    /// The element-wise gradient with respect to operand 0 (x) over a range of it that
    /// starts at flat index `start`, times `dout`.
    pub fn cpu_grad<T: Real>(
        self,
        operands: &[&[T]],
        cols: usize,
        x: &[T],
        start: usize,
        dout: T,
        out: &mut [T],
    ) {
        for (k, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            let colnorm = column_norm(operands, (start + k) % cols);
            *o = self.element_grad(v, colnorm) * dout;
        }
    }

    /// The contractive gradient with respect to colnorm: dout · Σ_i φ(h_ij), [1, m].
    pub fn cpu_colnorm_grad<T: Real>(self, h: &[T], hs: Shape, dout: T, out: &mut [T]) {
        let act = self.activation();
        out.iter_mut().for_each(|o| *o = T::zero());
        for row in h.chunks(hs.cols).take(hs.rows) {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += contractive_phi(act, v);
            }
        }
        out.iter_mut().for_each(|o| *o = *o * dout);
    }

    pub fn vjp(
        self,
        g: &mut Graph,
        inputs: &[ValueId],
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        let mut operands = inputs.to_vec();
        operands.push(dout);
        (0..inputs.len())
            .map(|wrt| {
                if needs[wrt] {
                    let op = Op::PenaltyGrad { penalty: self, wrt };
                    g.push(op, &operands).map(Some)
                } else {
                    Ok(None)
                }
            })
            .collect()
    }
}

/// colnorm_j for the contractive penalty; unused (1) by the single-operand ones.
fn column_norm<T: Real>(operands: &[&[T]], j: usize) -> T {
    match operands.get(1) {
        Some(colnorm) => colnorm[j],
        None => T::one(),
    }
}

fn kl_clamp<T: Real>(p: T) -> T {
    let (lo, hi) = (T::from_f32(KL_EPSILON), T::one() - T::from_f32(KL_EPSILON));
    if p < lo {
        lo
    } else if p > hi {
        hi
    } else {
        p
    }
}

/// φ(h) = f'(a)², written through the output h = f(a).
pub fn contractive_phi<T: Real>(act: Activation, h: T) -> T {
    let d = act.derivative_from_output(h);
    d * d
}

/// dφ/dh.
pub fn contractive_phi_grad<T: Real>(act: Activation, h: T) -> T {
    let one = T::one();
    match act {
        Activation::Sigmoid => T::from_f32(2.0) * h * (one - h) * (one - T::from_f32(2.0) * h),
        Activation::Tanh => T::from_f32(-4.0) * h * (one - h * h),
        _ => T::zero(),
    }
}

impl fmt::Display for Penalty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Penalty::L1 => write!(f, "l1"),
            Penalty::Kl { rho } => write!(f, "kl sparsity ρ={rho}"),
            Penalty::Contractive(act) => write!(f, "contractive {act}"),
            Penalty::SquaredL2 => write!(f, "squared l2"),
        }
    }
}
