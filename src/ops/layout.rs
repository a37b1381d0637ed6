//! Transposes: a 2-D transpose, and the regrouping of a batch of images between one
//! row per image (`[N, C·H·W]`, NCHW, see [`crate::ops::ImageShape`]) and one row per
//! pixel (`[N·H·W, C]`, channels last), so a per-pixel dense layer or a codebook lookup
//! (VQ-VAE) is a matmul over rows; and a reshape, which keeps the values in their
//! order and cuts them into rows of another width (a batch of sequences `[N, T·F]` as
//! one row per step `[N·T, F]`, so a per-step layer is one matmul).
//!
//! ```text
//! Transpose                  [x [r, c]]       → [c, r]        out[j, i] = x[i, j]
//! ToPixelRows(C×H×W)         [x [N, C·H·W]]   → [N·H·W, C]    out[n·HW + p, ch] = x[n, ch·HW + p]
//! FromPixelRows(C×H×W)       [x [N·H·W, C]]   → [N, C·H·W]    the inverse
//! Reshape { cols }           [x [r, c]]       → [r·c / cols, cols]   the same values in order
//! ```
//!
//! All four are the same copy: N blocks, each an [a, b] matrix transposed to [b, a]
//! (Transpose: one block of [r, c]; ToPixelRows: N blocks of [C, H·W];
//! FromPixelRows: N blocks of [H·W, C]; Reshape: one block of [1, r·c], whose
//! transpose is itself). VJP: Transpose → Transpose; ToPixelRows and FromPixelRows →
//! each other; Reshape → Reshape to the operand's width. Copies: exact on both backends.
//!
//! WGSL: `shaders/layout.wgsl`, entry `transpose`, one invocation per output element.

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{ImageShape, Op, Real};

/// The blocks a transpose-like op copies: (blocks, rows, cols) of its operand's blocks.
pub fn blocks(op: &Op, x: Shape) -> (usize, usize, usize) {
    match op {
        Op::ToPixelRows(image) => (x.rows, image.channels, image.plane()),
        Op::FromPixelRows(image) => (x.rows / image.plane(), image.plane(), image.channels),
        Op::Reshape { .. } => (1, 1, x.len()),
        _ => (1, x.rows, x.cols),
    }
}

pub fn transpose_shape(s: &[Shape]) -> Result<Shape, String> {
    if s[0].is_empty() {
        return Err(format!("cannot transpose an empty value {}", s[0]));
    }
    Ok(Shape::new(s[0].cols, s[0].rows))
}

pub fn to_pixel_rows_shape(image: ImageShape, s: &[Shape]) -> Result<Shape, String> {
    image.check_cols(s[0].cols, "the")?;
    Ok(Shape::new(s[0].rows * image.plane(), image.channels))
}

pub fn from_pixel_rows_shape(image: ImageShape, s: &[Shape]) -> Result<Shape, String> {
    let x = s[0];
    if image.is_empty() {
        return Err(format!("the image {image} is empty"));
    }
    if x.cols != image.channels || x.rows % image.plane() != 0 || x.rows == 0 {
        return Err(format!(
            "pixel rows of {image} images must be [N·{}, {}], got {x}",
            image.plane(),
            image.channels
        ));
    }
    Ok(Shape::new(x.rows / image.plane(), image.len()))
}

pub fn reshape_shape(cols: usize, s: &[Shape]) -> Result<Shape, String> {
    let x = s[0];
    if x.is_empty() || cols == 0 || x.len() % cols != 0 {
        return Err(format!(
            "the {} values of {x} cannot be cut into rows of {cols}",
            x.len()
        ));
    }
    Ok(Shape::new(x.len() / cols, cols))
}

/// `blocks` consecutive [rows, cols] matrices of x, each transposed into out.
pub fn cpu_transpose<T: Real>(blocks: usize, rows: usize, cols: usize, x: &[T], out: &mut [T]) {
    let size = rows * cols;
    for (o, x) in out.chunks_mut(size).zip(x.chunks(size)).take(blocks) {
        for i in 0..rows {
            for j in 0..cols {
                o[j * rows + i] = x[i * cols + j];
            }
        }
    }
}

pub fn vjp(op: &Op, g: &mut Graph, x: ValueId, dout: ValueId) -> Result<ValueId, GraphError> {
    let adjoint = match op {
        Op::Reshape { .. } => Op::Reshape {
            cols: g.shape(x).cols,
        },
        Op::ToPixelRows(image) => Op::FromPixelRows(*image),
        Op::FromPixelRows(image) => Op::ToPixelRows(*image),
        _ => Op::Transpose,
    };
    g.push(adjoint, &[dout])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_rows_put_each_pixels_channels_in_a_row() {
        // One image of 2 channels × 1 × 3 pixels: channel 0 = 1 2 3, channel 1 = 4 5 6.
        let image = ImageShape::new(2, 1, 3);
        let x = [
            1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0,
        ];
        let to = Op::ToPixelRows(image);
        let s = to.shape(&[Shape::new(2, 6)], &[crate::graph::DType::F32]);
        assert_eq!(s, Ok(Shape::new(6, 2)));
        let (b, r, c) = blocks(&to, Shape::new(2, 6));
        let mut rows = [0.0f32; 12];
        cpu_transpose(b, r, c, &x, &mut rows);
        assert_eq!(
            rows,
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0, 7.0, 10.0, 8.0, 11.0, 9.0, 12.0]
        );
        let from = Op::FromPixelRows(image);
        let (b, r, c) = blocks(&from, Shape::new(6, 2));
        let mut back = [0.0f32; 12];
        cpu_transpose(b, r, c, &rows, &mut back);
        assert_eq!(back, x);
    }

    #[test]
    fn reshape_keeps_the_values_in_order() {
        let f32s = [crate::graph::DType::F32];
        // Two sequences of 3 steps × 2 values become 6 rows of one step each.
        let op = Op::Reshape { cols: 2 };
        assert_eq!(op.shape(&[Shape::new(2, 6)], &f32s), Ok(Shape::new(6, 2)));
        let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let (b, r, c) = blocks(&op, Shape::new(2, 6));
        let mut out = [0.0f32; 12];
        cpu_transpose(b, r, c, &x, &mut out);
        assert_eq!(out.as_slice(), x.as_slice());
        assert!(Op::Reshape { cols: 5 }
            .shape(&[Shape::new(2, 6)], &f32s)
            .is_err());
        assert!(Op::Reshape { cols: 0 }
            .shape(&[Shape::new(2, 6)], &f32s)
            .is_err());
    }

    #[test]
    fn shape_rules_refuse_what_does_not_fit() {
        let f32s = [crate::graph::DType::F32];
        let image = ImageShape::new(2, 1, 3);
        assert!(Op::ToPixelRows(image)
            .shape(&[Shape::new(2, 5)], &f32s)
            .is_err());
        // 7 rows are not whole images of 3 pixels; 3 columns are not 2 channels.
        assert!(Op::FromPixelRows(image)
            .shape(&[Shape::new(7, 2)], &f32s)
            .is_err());
        assert!(Op::FromPixelRows(image)
            .shape(&[Shape::new(6, 3)], &f32s)
            .is_err());
        assert_eq!(
            Op::Transpose.shape(&[Shape::new(2, 5)], &f32s),
            Ok(Shape::new(5, 2))
        );
    }
}
