//! Between f32 values and u32 indices: the nearest-code lookup of a VQ-VAE is
//! `one_hot(argmin_rows(distances))`, then a matmul with the codebook.
//!
//! ```text
//! ArgMinRows            [x [N, K]] f32 → [N, 1] u32, the column of each row's minimum
//! OneHot { classes }    [i [N, 1]] u32 → [N, classes] f32, row n is 1 at column i[n]
//! ```
//!
//! **Ties** go to the lowest index on both backends: each row is scanned from column 0
//! with a strict `<`, in the same order on the CPU and the GPU (one invocation per
//! row), so the result is identical, not merely close. **NaN** entries are skipped by
//! the CPU reference (a row of NaN only gives 0); WGSL does not promise IEEE NaN
//! comparisons, so on a GPU a row holding NaN may pick another column.
//! **An index ≥ classes** in `OneHot` is an error on the CPU; the GPU writes a row of
//! zeros (it cannot report, and must not write out of bounds), as `GatherRows` does.
//!
//! Neither op has a gradient: an index is a constant for autodiff (see
//! `crate::graph::grad`), so a loss through `one_hot(argmin_rows(x))` gives x no
//! gradient along that path. A straight-through estimator is built by the model, not
//! here (e.g. `z + stop_gradient(q − z)`).
//!
//! WGSL: `shaders/index.wgsl`, entries `argmin_rows` and `one_hot`.

use crate::graph::{DType, Shape};
use crate::ops::Real;

pub fn argmin_shape(s: &[Shape], d: &[DType]) -> Result<Shape, String> {
    if d[0] != DType::F32 {
        return Err("arg-min takes f32 values".into());
    }
    if s[0].is_empty() {
        return Err(format!(
            "cannot take the arg-min of an empty value {}",
            s[0]
        ));
    }
    Ok(Shape::new(s[0].rows, 1))
}

pub fn one_hot_shape(classes: usize, s: &[Shape], d: &[DType]) -> Result<Shape, String> {
    let i = s[0];
    if d[0] != DType::U32 || i.cols != 1 {
        return Err(format!(
            "one-hot takes a u32 column [n, 1], got {i} of {:?}",
            d[0]
        ));
    }
    if classes == 0 {
        return Err("one-hot needs at least one class".into());
    }
    Ok(Shape::new(i.rows, classes))
}

/// x ≠ x exactly for NaN (`Real` has no `is_nan`).
#[allow(clippy::eq_op)]
fn is_nan<T: Real>(x: T) -> bool {
    x != x
}

/// The first column of a row's minimum, NaN skipped (0 for a row of NaN).
pub fn argmin<T: Real>(row: &[T]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate().skip(1) {
        let b = row[best];
        if v < b || (is_nan(b) && !is_nan(v)) {
            best = j;
        }
    }
    best
}

/// Indices are stored through [`Real::from_index`], as every u32 value is.
pub fn cpu_argmin<T: Real>(x: &[T], cols: usize, out: &mut [T]) {
    for (o, row) in out.iter_mut().zip(x.chunks(cols)) {
        *o = T::from_index(argmin(row) as u32);
    }
}

pub fn cpu_one_hot<T: Real>(idx: &[T], classes: usize, out: &mut [T]) -> Result<(), String> {
    for (row, &i) in out.chunks_mut(classes).zip(idx) {
        let i = i.to_index();
        if i >= classes {
            return Err(format!("index {i} is not below {classes} classes"));
        }
        row.iter_mut().for_each(|o| *o = T::zero());
        row[i] = T::one();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Op;

    #[test]
    fn argmin_takes_the_first_minimum_and_skips_nan() {
        assert_eq!(argmin(&[2.0f32, 1.0, 1.0]), 1);
        assert_eq!(argmin(&[f32::NAN, 3.0, 1.0, f32::NAN]), 2);
        assert_eq!(argmin(&[f32::NAN, f32::NAN]), 0);
        assert_eq!(argmin(&[0.0f64, -0.0]), 0);
    }

    #[test]
    fn one_hot_refuses_an_index_past_the_classes() {
        let idx = [f32::from_bits(1), f32::from_bits(3)];
        let mut out = [9.0f32; 6];
        let err = cpu_one_hot(&idx, 3, &mut out).unwrap_err();
        assert_eq!(err, "index 3 is not below 3 classes");
        assert_eq!(out[..3], [0.0, 1.0, 0.0]);
    }

    #[test]
    fn dtype_rules() {
        let s = [Shape::new(4, 1)];
        let one_hot = Op::OneHot { classes: 5 };
        assert_eq!(one_hot.shape(&s, &[DType::U32]), Ok(Shape::new(4, 5)));
        assert!(one_hot.shape(&s, &[DType::F32]).is_err());
        assert!(Op::ArgMinRows.shape(&s, &[DType::U32]).is_err());
        assert_eq!(Op::ArgMinRows.dtype(), DType::U32);
        // Index values are not f32 operands of other ops.
        assert!(Op::StopGradient.shape(&s, &[DType::U32]).is_err());
    }
}
