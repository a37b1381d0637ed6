//! Upsampling the images of a batch ([`ImageShape`] rows, NCHW) by an integer factor f:
//! H × W → H·f × W·f.
//!
//! ```text
//! Upsample      [x [N, C·H·W]]        → y [N, C·(H·f)·(W·f)]
//! UpsampleGrad  [dy [N, C·(H·f)·(W·f)]] → dx [N, C·H·W]   the exact adjoint
//! ```
//!
//! Nearest: output pixel (oy, ox) copies input pixel (oy/f, ox/f).
//!
//! Bilinear: as PyTorch's `nn.Upsample(scale_factor=f, mode='bilinear',
//! align_corners=False)`. Along each axis, output index d reads from the source
//! coordinate src = (d + 0.5)/f − 0.5, clamped below at 0; i0 = ⌊src⌋,
//! i1 = min(i0 + 1, len − 1), λ = src − i0, and the value is (1 − λ)·x[i0] + λ·x[i1]
//! (rows, then the two row values: (1−λy)·((1−λx)·x00 + λx·x01) + λy·((1−λx)·x10 + λx·x11),
//! PyTorch's order). src = (2d + 1 − f)/(2f) is a ratio of integers, so i0 and the
//! remainder r = (2d + 1 − f) − 2f·i0 are computed exactly in integers and
//! λ = r · (1/(2f)): one rounding of 1/(2f) and one of the product, identical on the CPU
//! and in WGSL (exact for f a power of two), where PyTorch's float arithmetic may
//! differ from it in the last bit.
//!
//! The adjoint sends each output pixel's dy back to the input pixels it read, with the
//! same weights. VJP: `Upsample` → `UpsampleGrad` of dout; `UpsampleGrad`, being linear
//! and the adjoint, → `Upsample` of its dout.
//!
//! WGSL: `shaders/pool.wgsl`, entries `upsample_nearest`, `upsample_bilinear` (one
//! invocation per output element) and `upsample_nearest_grad`, `upsample_bilinear_grad`
//! in gather form: one invocation per input pixel sums the output pixels that read it
//! (for bilinear, output indices f·(i − 1) … f·(i + 2) − 1 along each axis, the only
//! ones whose two taps can reach i), so no atomics are needed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{ImageShape, Op, Real};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsampleMode {
    Nearest,
    Bilinear,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Upsample {
    pub mode: UpsampleMode,
    /// The shape of each input image (a row of the operand).
    pub input: ImageShape,
    /// Each side grows by this integer factor.
    pub factor: usize,
}

/// The two taps along one axis for output index d: (i0, i1, λ), the value being
/// (1 − λ)·x[i0] + λ·x[i1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Taps<T> {
    pub i0: usize,
    pub i1: usize,
    pub lambda: T,
}

impl Upsample {
    /// The shape of each output image: the same channels, H·f × W·f.
    pub fn output(&self) -> ImageShape {
        ImageShape::new(
            self.input.channels,
            self.input.height * self.factor,
            self.input.width * self.factor,
        )
    }

    /// 1/(2f), rounded once (the bilinear weights' step; see the module comment).
    pub fn half_step(&self) -> f32 {
        1.0 / (2 * self.factor) as f32
    }

    fn check(&self, x: Shape) -> Result<(), String> {
        if self.factor == 0 {
            return Err("the upsampling factor must be at least 1".into());
        }
        self.input.check_cols(x.cols, "input")
    }

    /// Shape rule of `Upsample` over [x].
    pub fn shape(&self, s: &[Shape]) -> Result<Shape, String> {
        self.check(s[0])?;
        Ok(Shape::new(s[0].rows, self.output().len()))
    }

    /// Shape rule of `UpsampleGrad` over [dy].
    pub fn grad_shape(&self, s: &[Shape]) -> Result<Shape, String> {
        if self.factor == 0 {
            return Err("the upsampling factor must be at least 1".into());
        }
        self.output().check_cols(s[0].cols, "upsampled gradient")?;
        Ok(Shape::new(s[0].rows, self.input.len()))
    }

    /// Bilinear taps for output index `d` along an axis of `len` input pixels.
    pub fn taps<T: Real>(&self, d: usize, len: usize) -> Taps<T> {
        let f = self.factor;
        // src = (2d + 1 − f) / (2f), clamped below at 0.
        let (i0, lambda) = match (2 * d + 1).checked_sub(f) {
            Some(q) if q > 0 => (
                q / (2 * f),
                T::from_f64((q % (2 * f)) as f64) * (T::one() / T::from_f64((2 * f) as f64)),
            ),
            _ => (0, T::zero()),
        };
        Taps {
            i0,
            i1: (i0 + 1).min(len - 1),
            lambda,
        }
    }

    /// The upsampled images of `x` (whole images) into `out` (as many whole images).
    pub fn cpu<T: Real>(&self, x: &[T], out: &mut [T]) {
        let (h, w, f) = (self.input.height, self.input.width, self.factor);
        let o = self.output();
        for (plane, out) in x.chunks(self.input.plane()).zip(out.chunks_mut(o.plane())) {
            for oy in 0..o.height {
                let ty = self.taps::<T>(oy, h);
                for ox in 0..o.width {
                    out[oy * o.width + ox] = match self.mode {
                        UpsampleMode::Nearest => plane[(oy / f) * w + ox / f],
                        UpsampleMode::Bilinear => {
                            let tx = self.taps::<T>(ox, w);
                            let at = |i: usize, j: usize| plane[i * w + j];
                            let (one_y, one_x) = (T::one() - ty.lambda, T::one() - tx.lambda);
                            one_y * (one_x * at(ty.i0, tx.i0) + tx.lambda * at(ty.i0, tx.i1))
                                + ty.lambda
                                    * (one_x * at(ty.i1, tx.i0) + tx.lambda * at(ty.i1, tx.i1))
                        }
                    };
                }
            }
        }
    }

    /// The adjoint for whole images: each output pixel's dy, times its weights, added to
    /// the input pixels it read, output pixels in row-major order.
    pub fn cpu_grad<T: Real>(&self, dy: &[T], dx: &mut [T]) {
        let (h, w, f) = (self.input.height, self.input.width, self.factor);
        let o = self.output();
        dx.iter_mut().for_each(|d| *d = T::zero());
        for (dy, dx) in dy.chunks(o.plane()).zip(dx.chunks_mut(self.input.plane())) {
            for oy in 0..o.height {
                let ty = self.taps::<T>(oy, h);
                for ox in 0..o.width {
                    let g = dy[oy * o.width + ox];
                    match self.mode {
                        UpsampleMode::Nearest => dx[(oy / f) * w + ox / f] += g,
                        UpsampleMode::Bilinear => {
                            let tx = self.taps::<T>(ox, w);
                            let rows = [(ty.i0, T::one() - ty.lambda), (ty.i1, ty.lambda)];
                            let cols = [(tx.i0, T::one() - tx.lambda), (tx.i1, tx.lambda)];
                            for (i, wy) in rows {
                                for (j, wx) in cols {
                                    dx[i * w + j] += wy * wx * g;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    pub fn vjp(&self, g: &mut Graph, dout: ValueId) -> Result<Vec<Option<ValueId>>, GraphError> {
        Ok(vec![Some(g.push(Op::UpsampleGrad(*self), &[dout])?)])
    }

    /// The adjoint's adjoint is the upsampling itself.
    pub fn grad_vjp(
        &self,
        g: &mut Graph,
        dout: ValueId,
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        Ok(vec![Some(g.push(Op::Upsample(*self), &[dout])?)])
    }
}

impl fmt::Display for Upsample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            UpsampleMode::Nearest => "nearest",
            UpsampleMode::Bilinear => "bilinear",
        };
        write!(f, "{mode} upsample ×{} on {}", self.factor, self.input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsample(mode: UpsampleMode, h: usize, w: usize, factor: usize, x: &[f32]) -> Vec<f32> {
        let u = Upsample {
            mode,
            input: ImageShape::new(1, h, w),
            factor,
        };
        let mut out = vec![0.0; u.output().len()];
        u.cpu(x, &mut out);
        out
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-6, "element {i}: {g} vs {w}");
        }
    }

    /// Values from PyTorch 2.x, `nn.Upsample(scale_factor=f, mode='bilinear',
    /// align_corners=False)`; PyTorch's float source coordinates differ from the exact
    /// ones in the last bits for f = 3 (its −1.19e-7 is our 0).
    #[test]
    fn bilinear_matches_pytorch() {
        let got = upsample(UpsampleMode::Bilinear, 2, 3, 2, &[1., 4., -2., 0.5, 3., 7.]);
        #[rustfmt::skip]
        let want = [
            1.0, 1.75, 3.25, 2.5, -0.5, -2.0,
            0.875, 1.59375, 3.03125, 2.875, 1.125, 0.25,
            0.625, 1.28125, 2.59375, 3.625, 4.375, 4.75,
            0.5, 1.125, 2.375, 4.0, 6.0, 7.0,
        ];
        assert_eq!(got, want, "exact for f = 2");
        let got = upsample(UpsampleMode::Bilinear, 2, 2, 3, &[1., 4., -2., 0.5]);
        #[rustfmt::skip]
        let want = [
            1.0, 1.0, 2.0, 3.0, 4.0, 4.0,
            1.0, 1.0, 2.0, 3.0, 4.0, 4.0,
            -1.1920929e-7, -5.712112e-8, 0.9444445, 1.8888888, 2.8333333, 2.8333333,
            -1.0, -1.0, -0.11111102, 0.7777778, 1.6666666, 1.6666666,
            -2.0, -2.0, -1.1666665, -0.33333328, 0.5, 0.5,
            -2.0, -2.0, -1.1666665, -0.33333328, 0.5, 0.5,
        ];
        assert_close(&got, &want);
    }

    #[test]
    fn nearest_repeats_pixels() {
        let got = upsample(UpsampleMode::Nearest, 1, 2, 2, &[1., 2.]);
        assert_eq!(got, [1., 1., 2., 2., 1., 1., 2., 2.]);
    }

    #[test]
    fn taps_clamp_at_both_borders() {
        let u = Upsample {
            mode: UpsampleMode::Bilinear,
            input: ImageShape::new(1, 3, 3),
            factor: 4,
        };
        // d = 0: src = −0.375 → 0; d = 11: src = 2.375 → i0 = 2 = i1.
        assert_eq!(
            u.taps::<f64>(0, 3),
            Taps {
                i0: 0,
                i1: 1,
                lambda: 0.0
            }
        );
        assert_eq!(
            u.taps::<f64>(11, 3),
            Taps {
                i0: 2,
                i1: 2,
                lambda: 0.375
            }
        );
        // d = 5: src = 0.875.
        assert_eq!(
            u.taps::<f64>(5, 3),
            Taps {
                i0: 0,
                i1: 1,
                lambda: 0.875
            }
        );
        // The factor 1 is the identity.
        assert_eq!(u.taps::<f64>(2, 3).i0, 0);
        let one = Upsample { factor: 1, ..u };
        assert_eq!(
            one.taps::<f64>(2, 3),
            Taps {
                i0: 2,
                i1: 2,
                lambda: 0.0
            }
        );
    }
}
