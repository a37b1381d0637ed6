//! Activations and their derivatives.
//!
//! Forward: `y = f(x)`. Backward: `dx = dy * f'(x)`, written in terms of the output
//! `y` so the backward pass needs no copy of the pre-activation (the same trick the
//! matmul epilogue relies on):
//!
//! ```text
//! sigmoid  f' = y (1 - y)          tanh      f' = 1 - y²
//! relu     f' = [y > 0]            leaky     f' = [y > 0] + α [y ≤ 0]
//! softplus f' = σ(x) = 1 - e^{-y}  linear    f' = 1     (leaky needs α ≥ 0)
//! ```
//!
//! WGSL: `shaders/elementwise.wgsl`, entry points `activate` and `activation_grad`,
//! specialised by the override constant `ACT` (see [`Activation::code`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::graph::Shape;
use crate::ops::Real;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Linear,
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu { alpha: f32 },
    Softplus,
}

impl Activation {
    /// The gradient before an activation fused into an op's epilogue, from the op's
    /// output `out` and its gradient `dout`: `dout · f'(out)`, or `dout` itself when
    /// the activation is linear.
    pub fn grad_through(
        self,
        g: &mut crate::graph::Graph,
        out: crate::graph::ValueId,
        dout: crate::graph::ValueId,
    ) -> Result<crate::graph::ValueId, crate::graph::GraphError> {
        if self == Activation::Linear {
            Ok(dout)
        } else {
            g.push(super::Op::ActivationGrad(self), &[out, dout])
        }
    }

    /// The integer the WGSL kernels switch on (override constant `ACT`).
    pub fn code(self) -> u32 {
        match self {
            Activation::Linear => 0,
            Activation::Sigmoid => 1,
            Activation::Tanh => 2,
            Activation::Relu => 3,
            Activation::LeakyRelu { .. } => 4,
            Activation::Softplus => 5,
        }
    }

    /// The slope of leaky relu (0 for the others); a second override constant.
    pub fn alpha(self) -> f32 {
        match self {
            Activation::LeakyRelu { alpha } => alpha,
            _ => 0.0,
        }
    }

    #[inline(always)]
    pub fn apply<T: Real>(self, x: T) -> T {
        match self {
            Activation::Linear => x,
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(T::zero()),
            Activation::LeakyRelu { alpha } => {
                if x > T::zero() {
                    x
                } else {
                    T::from_f32(alpha) * x
                }
            }
            // softplus(x) = max(x, 0) + ln(1 + e^{-|x|}), stable for large |x|.
            Activation::Softplus => x.max(T::zero()) + (-x.abs()).exp().ln_1p(),
        }
    }

    /// f'(x) expressed through y = f(x).
    #[inline(always)]
    pub fn derivative_from_output<T: Real>(self, y: T) -> T {
        match self {
            Activation::Linear => T::one(),
            Activation::Sigmoid => y * (T::one() - y),
            Activation::Tanh => T::one() - y * y,
            Activation::Relu => {
                if y > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::LeakyRelu { alpha } => {
                if y > T::zero() {
                    T::one()
                } else {
                    T::from_f32(alpha)
                }
            }
            // 1 − e^{−y} through expm1: exact for tiny y (x ≪ 0), where σ(x) ≈ y.
            Activation::Softplus => -(-y).exp_m1(),
        }
    }
}

/// σ(x) = 1 / (1 + e^{-x}), evaluated without overflow for either sign.
pub fn sigmoid<T: Real>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Linear => write!(f, "linear"),
            Activation::Sigmoid => write!(f, "sigmoid"),
            Activation::Tanh => write!(f, "tanh"),
            Activation::Relu => write!(f, "relu"),
            Activation::LeakyRelu { alpha } => write!(f, "leaky_relu:{alpha}"),
            Activation::Softplus => write!(f, "softplus"),
        }
    }
}

impl FromStr for Activation {
    type Err = String;
    /// `linear`, `sigmoid`, `tanh`, `relu`, `leaky_relu` (α = 0.01) or `leaky_relu:α`, `softplus`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.to_string(), Some(a.to_string())),
            None => (s.clone(), None),
        };
        let act = match name.as_str() {
            "linear" | "identity" | "none" => Activation::Linear,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" | "leakyrelu" | "leaky" => {
                let alpha = match arg.as_deref() {
                    Some(a) => a
                        .parse::<f32>()
                        .map_err(|_| format!("leaky_relu slope `{a}` is not a number"))?,
                    None => 0.01,
                };
                // The derivative is read off the output's sign, which needs α ≥ 0.
                if !(alpha.is_finite() && alpha >= 0.0) {
                    return Err(format!("leaky_relu slope must be finite and ≥ 0, got {alpha}"));
                }
                return Ok(Activation::LeakyRelu { alpha });
            }
            "softplus" => Activation::Softplus,
            other => {
                return Err(format!(
                    "unknown activation `{other}` (expected linear, sigmoid, tanh, relu, leaky_relu[:α], softplus)"
                ))
            }
        };
        if arg.is_some() {
            return Err(format!("activation `{name}` takes no parameter"));
        }
        Ok(act)
    }
}

/// Shape rule of `Activate` and `ActivationGrad`: element-wise, same shape.
pub fn shape_same(inputs: &[Shape]) -> Result<Shape, String> {
    let first = inputs[0];
    for s in &inputs[1..] {
        if *s != first {
            return Err(format!("element-wise operands differ: {first} and {s}"));
        }
    }
    Ok(first)
}

/// Expands `$body` once per activation with `$a` bound to that activation as a
/// constant, so a loop calling `$a.apply(…)` compiles to one specialised loop per kind
/// (vectorised where the kind allows) instead of a match per element.
macro_rules! specialise_activation {
    ($act:expr, |$a:ident| $body:expr) => {
        match $act {
            $crate::ops::Activation::Linear => {
                let $a = $crate::ops::Activation::Linear;
                $body
            }
            $crate::ops::Activation::Sigmoid => {
                let $a = $crate::ops::Activation::Sigmoid;
                $body
            }
            $crate::ops::Activation::Tanh => {
                let $a = $crate::ops::Activation::Tanh;
                $body
            }
            $crate::ops::Activation::Relu => {
                let $a = $crate::ops::Activation::Relu;
                $body
            }
            $a @ $crate::ops::Activation::LeakyRelu { .. } => $body,
            $crate::ops::Activation::Softplus => {
                let $a = $crate::ops::Activation::Softplus;
                $body
            }
        }
    };
}
pub(crate) use specialise_activation;

pub fn cpu_activate<T: Real>(act: Activation, x: &[T], y: &mut [T]) {
    specialise_activation!(act, |act| {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = act.apply(x);
        }
    })
}

/// `y = act(y + bias)` in place, one bias value for the whole slice (a channel plane,
/// or a matmul column when called per element).
pub fn cpu_bias_activate<T: Real>(act: Activation, bias: T, y: &mut [T]) {
    specialise_activation!(act, |act| {
        for y in y.iter_mut() {
            *y = act.apply(*y + bias);
        }
    })
}

/// dx = dy * f'(x), from the forward output y.
pub fn cpu_activation_grad<T: Real>(act: Activation, y: &[T], dy: &[T], dx: &mut [T]) {
    specialise_activation!(act, |act| {
        for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
            *dx = dy * act.derivative_from_output(y);
        }
    })
}
