//! Element-wise unary math (exp, log, sqrt, reciprocal) and stop-gradient.
//!
//! ```text
//! op           y                VJP (dx), written through the output y where it can be
//! Exp          eˣ               dy ⊙ y
//! Log          ln x             dy ÷ x
//! Sqrt         √x               ½ · dy ÷ y
//! Reciprocal   1/x              −dy ⊙ y ⊙ y
//! StopGradient x                none: autodiff does not flow through it
//! ```
//!
//! **Domains, as IEEE 754 says and on both backends:** ln 0 = −∞, ln x = NaN for x < 0,
//! ln ∞ = ∞; √(−0) = −0, √x = NaN for x < 0; 1/±0 = ±∞; eˣ overflows to ∞ above
//! x ≈ 88.7 and underflows to 0. NaN in gives NaN out. WGSL leaves `log` and `sqrt`
//! outside their domain indeterminate, so the kernel selects those results explicitly
//! (`tests/parity.rs`, `unary_domain_edges_follow_ieee`). The gradients follow from the
//! same IEEE arithmetic (the gradient of ln at 0 is dy ÷ 0 = ±∞).
//!
//! WGSL: `shaders/elementwise.wgsl`, entry `unary`, override constant `UNARY`
//! ([`UnaryOp::code`]; 0 is the identity, which `StopGradient` runs).

use std::fmt;

use crate::graph::{Graph, GraphError, ValueId};
use crate::ops::{BinaryOp, Op, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Exp,
    Log,
    Sqrt,
    Reciprocal,
}

/// `UNARY` for the identity (stop-gradient's forward pass).
pub const IDENTITY_CODE: u32 = 0;

impl UnaryOp {
    /// The integer the WGSL kernel switches on (override constant `UNARY`).
    pub fn code(self) -> u32 {
        match self {
            UnaryOp::Exp => 1,
            UnaryOp::Log => 2,
            UnaryOp::Sqrt => 3,
            UnaryOp::Reciprocal => 4,
        }
    }

    #[inline(always)]
    pub fn apply<T: Real>(self, x: T) -> T {
        match self {
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Reciprocal => T::one() / x,
        }
    }

    pub fn cpu<T: Real>(self, x: &[T], out: &mut [T]) {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = self.apply(x);
        }
    }

    pub fn vjp(
        self,
        g: &mut Graph,
        x: ValueId,
        out: ValueId,
        dout: ValueId,
    ) -> Result<ValueId, GraphError> {
        let mul = Op::Binary(BinaryOp::Mul);
        match self {
            UnaryOp::Exp => g.push(mul, &[dout, out]),
            UnaryOp::Log => g.push(Op::Binary(BinaryOp::Div), &[dout, x]),
            UnaryOp::Sqrt => {
                let q = g.push(Op::Binary(BinaryOp::Div), &[dout, out])?;
                g.push(Op::Scale(0.5), &[q])
            }
            UnaryOp::Reciprocal => {
                let y2 = g.push(mul.clone(), &[out, out])?;
                let d = g.push(mul, &[dout, y2])?;
                g.push(Op::Scale(-1.0), &[d])
            }
        }
    }
}

impl fmt::Display for UnaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Reciprocal => "reciprocal",
        })
    }
}

/// Stop-gradient's forward pass: a copy.
pub fn cpu_identity<T: Real>(x: &[T], out: &mut [T]) {
    out.copy_from_slice(x);
}
