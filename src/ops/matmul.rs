//! Matrix product with transpose flags and a fused epilogue:
//!   out = act(op(A) · op(B) + bias),  op(X) = X or Xᵀ,  bias: [1, n] added to every row.
//! Transposes are strides (CPU) or index swaps (WGSL), never copies, so a tied decoder
//! multiplies by the encoder's weight with `trans_b` set.
//!
//! VJP, with dz = dout ⊙ act'(out) (see `activation.rs`):
//!   dA = dz · op(B)ᵀ        (or its transpose when trans_a)
//!   dB = op(A)ᵀ · dz        (or its transpose when trans_b)
//!   dbias = Σ_rows dz
//! each of which is again a MatMul with flipped flags.
//! WGSL: `shaders/matmul.wgsl`, entry `matmul`, override constants TRANS_A, TRANS_B,
//! HAS_BIAS, ACT, ALPHA.

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{Activation, Axis, Op, Real, Reduce, ReduceKind};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatMul {
    pub trans_a: bool,
    pub trans_b: bool,
    pub bias: bool,
    pub act: Activation,
}

impl MatMul {
    pub fn plain() -> Self {
        MatMul {
            trans_a: false,
            trans_b: false,
            bias: false,
            act: Activation::Linear,
        }
    }

    /// (m, k) of op(A) and (k, n) of op(B).
    pub fn dims(&self, a: Shape, b: Shape) -> ((usize, usize), (usize, usize)) {
        let opa = if self.trans_a {
            (a.cols, a.rows)
        } else {
            (a.rows, a.cols)
        };
        let opb = if self.trans_b {
            (b.cols, b.rows)
        } else {
            (b.rows, b.cols)
        };
        (opa, opb)
    }

    pub fn shape(&self, s: &[Shape]) -> Result<Shape, String> {
        let expected = if self.bias { 3 } else { 2 };
        if s.len() != expected {
            return Err(format!("expects {expected} operands, got {}", s.len()));
        }
        let ((m, k), (k2, n)) = self.dims(s[0], s[1]);
        if k != k2 {
            return Err(format!(
                "inner dimensions differ: {} has {k} columns{}, {} has {k2} rows{}",
                s[0],
                if self.trans_a { " after transpose" } else { "" },
                s[1],
                if self.trans_b { " after transpose" } else { "" },
            ));
        }
        if self.bias && s[2] != Shape::new(1, n) {
            return Err(format!("bias must be [1, {n}], got {}", s[2]));
        }
        Ok(Shape::new(m, n))
    }

    /// The CPU reference, part 1: rows `rows` of `op(A) · op(B)` through sgemm (the
    /// transposes are strides) into `out`, which holds just those rows, so callers can
    /// split the product across threads by output rows. Part 2 is [`MatMul::cpu_epilogue`].
    pub fn cpu_product_rows<T: Real>(
        &self,
        ins: &[&[T]],
        s: &[Shape],
        rows: std::ops::Range<usize>,
        out: &mut [T],
    ) {
        let ((_, k), (_, n)) = self.dims(s[0], s[1]);
        let m = rows.len();
        // Row-major X with shape [r, c] has strides (c, 1); its transpose (1, c).
        let strides = |shape: Shape, t: bool| {
            if t {
                (1, shape.cols as isize)
            } else {
                (shape.cols as isize, 1)
            }
        };
        let a_strides = strides(s[0], self.trans_a);
        let a = &ins[0][rows.start * a_strides.0 as usize..];
        T::gemm(
            m,
            k,
            n,
            a,
            a_strides,
            ins[1],
            strides(s[1], self.trans_b),
            out,
        );
    }

    pub fn has_epilogue(&self) -> bool {
        self.bias || self.act != Activation::Linear
    }

    /// `act(row + bias)` on whole rows of the product (any number of rows).
    pub fn cpu_epilogue<T: Real>(&self, bias: Option<&[T]>, rows: &mut [T]) {
        let n = match bias {
            Some(b) => b.len(),
            None => rows.len().max(1),
        };
        crate::ops::activation::specialise_activation!(self.act, |act| {
            for row in rows.chunks_mut(n) {
                match bias {
                    Some(b) => {
                        for (y, &b) in row.iter_mut().zip(b) {
                            *y = act.apply(*y + b);
                        }
                    }
                    None => {
                        for y in row.iter_mut() {
                            *y = act.apply(*y);
                        }
                    }
                }
            }
        })
    }

    pub fn vjp(
        &self,
        g: &mut Graph,
        inputs: &[ValueId],
        out: ValueId,
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        let dz = self.act.grad_through(g, out, dout)?;
        let (a, b) = (inputs[0], inputs[1]);
        let mm = |trans_a, trans_b| {
            Op::MatMul(MatMul {
                trans_a,
                trans_b,
                bias: false,
                act: Activation::Linear,
            })
        };
        let da = if needs[0] {
            Some(if self.trans_a {
                g.push(mm(self.trans_b, true), &[b, dz])?
            } else {
                g.push(mm(false, !self.trans_b), &[dz, b])?
            })
        } else {
            None
        };
        let db = if needs[1] {
            Some(if self.trans_b {
                g.push(mm(true, self.trans_a), &[dz, a])?
            } else {
                g.push(mm(!self.trans_a, false), &[a, dz])?
            })
        } else {
            None
        };
        let mut grads = vec![da, db];
        if self.bias {
            grads.push(if needs[2] {
                Some(g.push(
                    Op::Reduce(Reduce {
                        kind: ReduceKind::Sum,
                        axis: Axis::Rows,
                    }),
                    &[dz],
                )?)
            } else {
                None
            });
        }
        Ok(grads)
    }
}
