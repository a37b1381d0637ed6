//! Sum and mean over rows (→ [1, cols]), over columns (→ [rows, 1]) or over all
//! elements (→ [1, 1]); broadcasting back (the VJP of a reduction); and two side
//! effects into a store entry: accumulation (`acc += x`, how losses add up on the
//! device between read-backs) and `Axpy` (`y ← a·x`, or `y ← a·x + y`, with a device
//! scalar `a`: the vector updates of host-driven algorithms such as L-BFGS).
//! VJP: sum → broadcast of d; mean → broadcast of d / count; broadcast → sum over the
//! broadcast axis.
//! WGSL: `shaders/reduce.wgsl`, entries `reduce_rows`, `reduce_cols`, `reduce_all`
//! (one workgroup: strided shares, then a tree), `broadcast`, and `axpy` for both side
//! effects (accumulation is axpy with a = 1); a mean is a sum with the factor 1/count
//! in the launch's parameters.

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{Op, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Mean,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Collapse the rows: [r, c] → [1, c] (e.g. a bias gradient over the batch).
    Rows,
    /// Collapse the columns: [r, c] → [r, 1] (e.g. a per-sample error).
    Cols,
    /// Everything: [r, c] → [1, 1].
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub axis: Axis,
}

impl Reduce {
    pub fn shape(&self, s: &[Shape]) -> Result<Shape, String> {
        let x = s[0];
        if x.is_empty() {
            return Err(format!("cannot reduce an empty value {x}"));
        }
        Ok(match self.axis {
            Axis::Rows => Shape::new(1, x.cols),
            Axis::Cols => Shape::new(x.rows, 1),
            Axis::All => Shape::SCALAR,
        })
    }

    /// How many elements each output element sums over.
    pub fn count(&self, x: Shape) -> usize {
        match self.axis {
            Axis::Rows => x.rows,
            Axis::Cols => x.cols,
            Axis::All => x.len(),
        }
    }

    /// 1 for a sum, 1/count for a mean.
    pub fn scale(&self, x: Shape) -> f32 {
        match self.kind {
            ReduceKind::Sum => 1.0,
            ReduceKind::Mean => 1.0 / self.count(x) as f32,
        }
    }

    pub fn cpu<T: Real>(&self, x: &[T], s: Shape, out: &mut [T]) {
        let scale = T::from_f32(self.scale(s));
        let (r, c) = (s.rows, s.cols);
        match self.axis {
            Axis::Rows => {
                out.iter_mut().for_each(|o| *o = T::zero());
                for row in x.chunks(c).take(r) {
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o += v;
                    }
                }
                out.iter_mut().for_each(|o| *o = *o * scale);
            }
            Axis::Cols => {
                for (o, row) in out.iter_mut().zip(x.chunks(c)) {
                    let mut acc = T::zero();
                    for &v in row {
                        acc += v;
                    }
                    *o = acc * scale;
                }
            }
            Axis::All => {
                let mut acc = T::zero();
                for &v in &x[..r * c] {
                    acc += v;
                }
                out[0] = acc * scale;
            }
        }
    }

    pub fn vjp(&self, g: &mut Graph, x: ValueId, dout: ValueId) -> Result<ValueId, GraphError> {
        let s = g.shape(x);
        let b = g.push(Op::Broadcast(s), &[dout])?;
        match self.kind {
            ReduceKind::Sum => Ok(b),
            ReduceKind::Mean => g.push(Op::Scale(self.scale(s)), &[b]),
        }
    }
}

/// Shape rule of `Broadcast(to)`: the input is [1, c], [r, 1] or [1, 1] of `to`.
pub fn broadcast_shape(to: Shape, s: &[Shape]) -> Result<Shape, String> {
    let x = s[0];
    let ok = (x.rows == to.rows || x.rows == 1) && (x.cols == to.cols || x.cols == 1);
    if !ok {
        return Err(format!("cannot broadcast {x} to {to}"));
    }
    Ok(to)
}

pub fn cpu_broadcast<T: Real>(x: &[T], xs: Shape, to: Shape, out: &mut [T]) {
    for i in 0..to.rows {
        for j in 0..to.cols {
            let si = if xs.rows == 1 { 0 } else { i };
            let sj = if xs.cols == 1 { 0 } else { j };
            out[i * to.cols + j] = x[si * xs.cols + sj];
        }
    }
}

/// VJP of a broadcast: sum over the axes that were stretched.
pub fn broadcast_vjp(
    g: &mut Graph,
    x: ValueId,
    to: Shape,
    dout: ValueId,
) -> Result<ValueId, GraphError> {
    let xs = g.shape(x);
    let sum = |axis| {
        Op::Reduce(Reduce {
            kind: ReduceKind::Sum,
            axis,
        })
    };
    match (xs.rows == to.rows, xs.cols == to.cols) {
        (true, true) => Ok(dout),
        (false, true) => g.push(sum(Axis::Rows), &[dout]),
        (true, false) => g.push(sum(Axis::Cols), &[dout]),
        (false, false) => g.push(sum(Axis::All), &[dout]),
    }
}

/// Shape rule of `Accumulate`: [acc, x] of equal shape; a side effect.
pub fn accumulate_shape(s: &[Shape]) -> Result<Shape, String> {
    if s[0] != s[1] {
        return Err(format!("accumulator {} and value {} differ", s[0], s[1]));
    }
    Ok(Shape::NONE)
}

/// Shape rule of `Axpy`: [y, x, a] with y and x of equal shape and a scalar a.
pub fn axpy_shape(s: &[Shape]) -> Result<Shape, String> {
    if s[0] != s[1] {
        return Err(format!("target {} and value {} differ", s[0], s[1]));
    }
    if s[2] != Shape::SCALAR {
        return Err(format!("the factor a must be [1, 1], got {}", s[2]));
    }
    Ok(Shape::NONE)
}

/// y ← a·x + (accumulate ? y : 0). `Accumulate` is the case a = 1, accumulate.
pub fn cpu_axpy<T: Real>(accumulate: bool, y: &mut [T], x: &[T], a: T) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = if accumulate { a * x + *y } else { a * x };
    }
}
