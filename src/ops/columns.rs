//! Joining and cutting values along their columns, row by row. With images as rows
//! ([`crate::ops::ImageShape`], NCHW), concatenating columns is concatenating channels:
//! a U-Net skip connection is `ConcatCols` of two feature maps of the same H × W.
//!
//! ```text
//! ConcatCols              [a [N, ca], b [N, cb]] → [N, ca + cb]   a's columns, then b's
//! SliceCols { start, len } [x [N, c]]            → [N, len]       columns start … start + len − 1
//! PadCols { start, total } [x [N, len]]          → [N, total]     x at columns start …, zeros elsewhere
//! ```
//!
//! VJP: concat → a slice of dout for each operand; slice → pad; pad → slice. All three
//! are copies.
//!
//! WGSL: `shaders/pool.wgsl` (its columns section), entries `concat_cols`, `slice_cols`,
//! `pad_cols`, one invocation per output element.

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{Op, Real};

/// Shape rule of `ConcatCols` over [a, b].
pub fn concat_shape(s: &[Shape]) -> Result<Shape, String> {
    let (a, b) = (s[0], s[1]);
    if a.rows != b.rows {
        return Err(format!("operands must have the same rows, got {a} and {b}"));
    }
    if a.is_empty() || b.is_empty() {
        return Err(format!("cannot concatenate empty values {a} and {b}"));
    }
    Ok(Shape::new(a.rows, a.cols + b.cols))
}

/// Shape rule of `SliceCols { start, len }` over [x].
pub fn slice_shape(start: usize, len: usize, s: &[Shape]) -> Result<Shape, String> {
    let x = s[0];
    if len == 0 || x.rows == 0 || start.checked_add(len).is_none_or(|end| end > x.cols) {
        return Err(format!(
            "columns {start}..{} are not a non-empty range of {x}",
            start.saturating_add(len)
        ));
    }
    Ok(Shape::new(x.rows, len))
}

/// Shape rule of `PadCols { start, total }` over [x].
pub fn pad_shape(start: usize, total: usize, s: &[Shape]) -> Result<Shape, String> {
    let x = s[0];
    if x.is_empty() || start.checked_add(x.cols).is_none_or(|end| end > total) {
        return Err(format!(
            "{x} placed at column {start} does not fit in {total} columns"
        ));
    }
    Ok(Shape::new(x.rows, total))
}

/// Whole rows of [a | b] into `out`.
pub fn cpu_concat<T: Real>(a: &[T], ca: usize, b: &[T], cb: usize, out: &mut [T]) {
    for ((out, a), b) in out.chunks_mut(ca + cb).zip(a.chunks(ca)).zip(b.chunks(cb)) {
        out[..ca].copy_from_slice(a);
        out[ca..].copy_from_slice(b);
    }
}

/// Whole rows of x (`cols` wide) cut to columns start … start + len − 1 into `out`.
pub fn cpu_slice<T: Real>(x: &[T], cols: usize, start: usize, len: usize, out: &mut [T]) {
    for (out, x) in out.chunks_mut(len).zip(x.chunks(cols)) {
        out.copy_from_slice(&x[start..start + len]);
    }
}

/// Whole rows of x (`len` wide) placed at column `start` of zero rows into `out`.
pub fn cpu_pad<T: Real>(x: &[T], len: usize, start: usize, total: usize, out: &mut [T]) {
    for (out, x) in out.chunks_mut(total).zip(x.chunks(len)) {
        out.iter_mut().for_each(|o| *o = T::zero());
        out[start..start + len].copy_from_slice(x);
    }
}

pub fn concat_vjp(
    g: &mut Graph,
    inputs: &[ValueId],
    dout: ValueId,
    needs: &[bool],
) -> Result<Vec<Option<ValueId>>, GraphError> {
    let (ca, cb) = (g.shape(inputs[0]).cols, g.shape(inputs[1]).cols);
    let slice = |g: &mut Graph, need: bool, start, len| {
        if need {
            g.push(Op::SliceCols { start, len }, &[dout]).map(Some)
        } else {
            Ok(None)
        }
    };
    Ok(vec![
        slice(g, needs[0], 0, ca)?,
        slice(g, needs[1], ca, cb)?,
    ])
}

/// The slice's VJP: dout padded back to the operand's columns.
pub fn slice_vjp(
    g: &mut Graph,
    x: ValueId,
    start: usize,
    dout: ValueId,
) -> Result<Vec<Option<ValueId>>, GraphError> {
    let total = g.shape(x).cols;
    Ok(vec![Some(g.push(Op::PadCols { start, total }, &[dout])?)])
}

/// The pad's VJP: dout cut back to the operand's columns.
pub fn pad_vjp(
    g: &mut Graph,
    x: ValueId,
    start: usize,
    dout: ValueId,
) -> Result<Vec<Option<ValueId>>, GraphError> {
    let len = g.shape(x).cols;
    Ok(vec![Some(g.push(Op::SliceCols { start, len }, &[dout])?)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_slice_and_pad_rows() {
        let mut out = [0.0; 6];
        cpu_concat(&[1., 2.], 1, &[3., 4., 5., 6.], 2, &mut out);
        assert_eq!(out, [1., 3., 4., 2., 5., 6.]);
        let mut cut = [0.0; 2];
        cpu_slice(&out, 3, 1, 1, &mut cut);
        assert_eq!(cut, [3., 5.]);
        let mut padded = [9.0; 8];
        cpu_pad(&cut, 1, 2, 4, &mut padded);
        assert_eq!(padded, [0., 0., 3., 0., 0., 0., 5., 0.]);
    }

    #[test]
    fn shape_rules_refuse_bad_ranges() {
        let x = [Shape::new(2, 5)];
        assert_eq!(slice_shape(1, 4, &x), Ok(Shape::new(2, 4)));
        assert!(slice_shape(2, 4, &x).is_err());
        assert!(slice_shape(0, 0, &x).is_err());
        assert!(slice_shape(usize::MAX, 2, &x).is_err());
        assert_eq!(pad_shape(3, 8, &x), Ok(Shape::new(2, 8)));
        assert!(pad_shape(4, 8, &x).is_err());
        assert!(concat_shape(&[Shape::new(2, 1), Shape::new(3, 1)]).is_err());
    }
}
