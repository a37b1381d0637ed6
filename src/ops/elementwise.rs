//! Element-wise binary ops on equal shapes (add, sub, mul, div) and scaling by a constant.
//! VJP: add → (d, d); sub → (d, −d); mul → (d ⊙ b, d ⊙ a); div → (d ÷ b, −(d ⊙ y) ÷ b)
//! with y = a ÷ b the output; scale(s) → s·d.
//! Division is IEEE's, on both backends: x ÷ ±0 = ±∞ for x ≠ 0, 0 ÷ 0 = NaN (and its
//! gradients inherit those values).
//! WGSL: `shaders/elementwise.wgsl`, entries `binary` (override `BINOP`) and `scale`.

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{activation, Op, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    /// The integer the WGSL kernel switches on (override constant `BINOP`).
    pub fn code(self) -> u32 {
        match self {
            BinaryOp::Add => 0,
            BinaryOp::Sub => 1,
            BinaryOp::Mul => 2,
            BinaryOp::Div => 3,
        }
    }

    pub fn shape(s: &[Shape]) -> Result<Shape, String> {
        activation::shape_same(s)
    }

    pub fn cpu<T: Real>(self, a: &[T], b: &[T], out: &mut [T]) {
        for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
            *o = match self {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => a / b,
            };
        }
    }

    pub fn vjp(
        self,
        g: &mut Graph,
        inputs: &[ValueId],
        out: ValueId,
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        let (a, b) = (inputs[0], inputs[1]);
        let (da, db) = match self {
            BinaryOp::Add => (Some(dout), Some(dout)),
            BinaryOp::Sub => (
                Some(dout),
                if needs[1] {
                    Some(g.push(Op::Scale(-1.0), &[dout])?)
                } else {
                    None
                },
            ),
            BinaryOp::Mul => (
                if needs[0] {
                    Some(g.push(Op::Binary(BinaryOp::Mul), &[dout, b])?)
                } else {
                    None
                },
                if needs[1] {
                    Some(g.push(Op::Binary(BinaryOp::Mul), &[dout, a])?)
                } else {
                    None
                },
            ),
            BinaryOp::Div => (
                if needs[0] {
                    Some(g.push(Op::Binary(BinaryOp::Div), &[dout, b])?)
                } else {
                    None
                },
                if needs[1] {
                    let dy = g.push(Op::Binary(BinaryOp::Mul), &[dout, out])?;
                    let q = g.push(Op::Binary(BinaryOp::Div), &[dy, b])?;
                    Some(g.push(Op::Scale(-1.0), &[q])?)
                } else {
                    None
                },
            ),
        };
        Ok(vec![da, db])
    }
}

/// Appends Σ `values` (all of one shape) as a chain of adds; None for no values.
pub fn sum_all(g: &mut Graph, values: &[ValueId]) -> Result<Option<ValueId>, GraphError> {
    let mut total: Option<ValueId> = None;
    for &v in values {
        total = Some(match total {
            Some(t) => g.push(Op::Binary(BinaryOp::Add), &[t, v])?,
            None => v,
        });
    }
    Ok(total)
}

pub fn cpu_scale<T: Real>(s: f32, x: &[T], out: &mut [T]) {
    let s = T::from_f32(s);
    for (o, &x) in out.iter_mut().zip(x) {
        *o = s * x;
    }
}
