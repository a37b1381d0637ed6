//! 2-D pooling over the images of a batch ([`ImageShape`] rows, NCHW): square windows
//! of `size` moved by `stride`, no padding, so an H × W plane gives
//! OH × OW = ((H − size)/stride + 1) × ((W − size)/stride + 1), floors (PyTorch's
//! `MaxPool2d(size, stride)` / `AvgPool2d(size, stride)` with their defaults otherwise).
//!
//! ```text
//! Pool      [x [N, C·H·W]]        → y [N, C·OH·OW]   max or mean of each window
//! PoolGrad  [x, dy [N, C·OH·OW]]  → dx [N, C·H·W]
//! ```
//!
//! Max takes the FIRST maximum of a window in row-major order (ties go to the earliest
//! element), and its gradient routes each window's dy to that element. The argmax is
//! not stored: the gradient recomputes it from the saved input x with the same reads in
//! the same order ([`Pool::window_argmax`] on the CPU, `window_argmax` in WGSL), so it
//! always agrees with the forward pass and needs no index buffer. Avg spreads dy/size²
//! over its window. Windows may overlap (stride < size); an element under several
//! windows sums their contributions, in window order.
//!
//! VJP: `Pool` → `PoolGrad` over [x, dout]; `PoolGrad` itself is not differentiable.
//!
//! WGSL: `shaders/pool.wgsl`, entries `max_pool`, `avg_pool` (one invocation per
//! output element) and `max_pool_grad`, `avg_pool_grad` in gather form: one invocation
//! per input element loops over the windows that contain it, so no two invocations
//! write the same element and no atomics are needed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{ImageShape, Op, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    Avg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pool {
    pub kind: PoolKind,
    /// The shape of each input image (a row of the operand).
    pub input: ImageShape,
    /// The window is size × size.
    pub size: usize,
    /// Windows start every `stride` pixels, down and across.
    pub stride: usize,
}

/// Output length along one axis: (len − size)/stride + 1, or 0 when no window fits.
fn out_len(len: usize, size: usize, stride: usize) -> usize {
    if size == 0 || stride == 0 || size > len {
        0
    } else {
        (len - size) / stride + 1
    }
}

impl Pool {
    /// The shape of each output image: the same channels, OH × OW (0 × 0 when the window
    /// does not fit, which the shape rule refuses).
    pub fn output(&self) -> ImageShape {
        ImageShape::new(
            self.input.channels,
            out_len(self.input.height, self.size, self.stride),
            out_len(self.input.width, self.size, self.stride),
        )
    }

    /// The avg pool's factor 1/size² (rounded once, the same on every backend); 1 for
    /// max.
    pub fn scale(&self) -> f32 {
        match self.kind {
            PoolKind::Max => 1.0,
            PoolKind::Avg => 1.0 / (self.size * self.size) as f32,
        }
    }

    fn check(&self, x: Shape) -> Result<(), String> {
        if self.size == 0 || self.stride == 0 {
            return Err(format!(
                "window size and stride must be at least 1, got size {} stride {}",
                self.size, self.stride
            ));
        }
        self.input.check_cols(x.cols, "input")?;
        if self.size > self.input.height || self.size > self.input.width {
            return Err(format!(
                "a {0}×{0} window does not fit the {1} input",
                self.size, self.input
            ));
        }
        Ok(())
    }

    /// Shape rule of `Pool` over [x].
    pub fn shape(&self, s: &[Shape]) -> Result<Shape, String> {
        self.check(s[0])?;
        Ok(Shape::new(s[0].rows, self.output().len()))
    }

    /// Shape rule of `PoolGrad` over [x, dy].
    pub fn grad_shape(&self, s: &[Shape]) -> Result<Shape, String> {
        let (x, dy) = (s[0], s[1]);
        self.check(x)?;
        let want = Shape::new(x.rows, self.output().len());
        if dy != want {
            return Err(format!(
                "incoming gradient must be {want} (the pooled {x}), got {dy}"
            ));
        }
        Ok(x)
    }

    /// The flat index, within one H × W plane, of the first maximum of window
    /// (oy, ox) in row-major order.
    pub fn window_argmax<T: Real>(&self, plane: &[T], oy: usize, ox: usize) -> usize {
        let w = self.input.width;
        let (top, left) = (oy * self.stride, ox * self.stride);
        let mut best = top * w + left;
        for ky in 0..self.size {
            for kx in 0..self.size {
                let at = (top + ky) * w + left + kx;
                if plane[at] > plane[best] {
                    best = at;
                }
            }
        }
        best
    }

    /// The pooled images of `x` (whole images) into `out` (as many whole images).
    pub fn cpu<T: Real>(&self, x: &[T], out: &mut [T]) {
        let (o, scale) = (
            self.output(),
            T::one() / T::from_f64((self.size * self.size) as f64),
        );
        let w = self.input.width;
        for (plane, out) in x.chunks(self.input.plane()).zip(out.chunks_mut(o.plane())) {
            for oy in 0..o.height {
                for ox in 0..o.width {
                    out[oy * o.width + ox] = match self.kind {
                        PoolKind::Max => plane[self.window_argmax(plane, oy, ox)],
                        PoolKind::Avg => {
                            let (top, left) = (oy * self.stride, ox * self.stride);
                            let mut sum = T::zero();
                            for ky in 0..self.size {
                                for kx in 0..self.size {
                                    sum += plane[(top + ky) * w + left + kx];
                                }
                            }
                            sum * scale
                        }
                    };
                }
            }
        }
    }

    /// dx for whole images: each window's dy goes to its first maximum (max) or, times
    /// 1/size², to each of its elements (avg), windows taken in row-major order.
    pub fn cpu_grad<T: Real>(&self, x: &[T], dy: &[T], dx: &mut [T]) {
        let (o, scale) = (
            self.output(),
            T::one() / T::from_f64((self.size * self.size) as f64),
        );
        let w = self.input.width;
        dx.iter_mut().for_each(|d| *d = T::zero());
        for ((plane, dy), dx) in x
            .chunks(self.input.plane())
            .zip(dy.chunks(o.plane()))
            .zip(dx.chunks_mut(self.input.plane()))
        {
            for oy in 0..o.height {
                for ox in 0..o.width {
                    let g = dy[oy * o.width + ox];
                    match self.kind {
                        PoolKind::Max => dx[self.window_argmax(plane, oy, ox)] += g,
                        PoolKind::Avg => {
                            let (top, left) = (oy * self.stride, ox * self.stride);
                            for ky in 0..self.size {
                                for kx in 0..self.size {
                                    dx[(top + ky) * w + left + kx] += g * scale;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn vjp(
        &self,
        g: &mut Graph,
        inputs: &[ValueId],
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        Ok(vec![Some(g.push(Op::PoolGrad(*self), &[inputs[0], dout])?)])
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            PoolKind::Max => "max",
            PoolKind::Avg => "avg",
        };
        write!(
            f,
            "{kind} pool {0}×{0} stride {1} on {2}",
            self.size, self.stride, self.input
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(kind: PoolKind, h: usize, w: usize, size: usize, stride: usize) -> Pool {
        Pool {
            kind,
            input: ImageShape::new(1, h, w),
            size,
            stride,
        }
    }

    #[test]
    fn output_sizes_floor_like_pytorch() {
        // torch.nn.AvgPool2d(3, 2) and MaxPool2d(2, 3) on 7×5: 3×2 and 2×2.
        assert_eq!(
            pool(PoolKind::Avg, 7, 5, 3, 2).output(),
            ImageShape::new(1, 3, 2)
        );
        assert_eq!(
            pool(PoolKind::Max, 7, 5, 2, 3).output(),
            ImageShape::new(1, 2, 2)
        );
        assert_eq!(pool(PoolKind::Max, 2, 5, 3, 1).output().height, 0);
        let too_big = pool(PoolKind::Max, 2, 5, 3, 1);
        assert!(too_big.shape(&[Shape::new(1, 10)]).is_err());
        assert!(pool(PoolKind::Max, 2, 5, 2, 1)
            .shape(&[Shape::new(1, 9)])
            .is_err());
    }

    #[test]
    fn max_grad_goes_to_the_first_maximum() {
        // All equal: every window's first element is its maximum.
        let p = pool(PoolKind::Max, 3, 3, 2, 1);
        let mut dx = [0.0; 9];
        p.cpu_grad(&[1.0; 9], &[1.0, 2.0, 3.0, 4.0], &mut dx);
        assert_eq!(dx, [1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
        let mut y = [0.0; 4];
        p.cpu(&[0., 5., 1., 2., 5., 3., 4., 0., 6.], &mut y);
        assert_eq!(y, [5., 5., 5., 6.]);
    }

    #[test]
    fn avg_spreads_over_overlapping_windows() {
        let p = pool(PoolKind::Avg, 3, 3, 2, 1);
        let mut y = [0.0; 4];
        p.cpu(&[0., 1., 2., 3., 4., 5., 6., 7., 8.], &mut y);
        assert_eq!(y, [2.0, 3.0, 5.0, 6.0]);
        let mut dx = [0.0; 9];
        p.cpu_grad(&[0.0; 9], &[4.0; 4], &mut dx);
        assert_eq!(dx, [1., 2., 1., 2., 4., 2., 1., 2., 1.]);
    }
}
