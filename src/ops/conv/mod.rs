//! 2-D convolution, its adjoint (the transposed convolution), the weight gradient and
//! the per-channel sum that gives the bias gradient. Images are rows `[N, C·H·W]`
//! (`spatial.rs`), weights `[OC, C·KH·KW]` (PyTorch's `[OC, C, KH, KW]`, flattened).
//!
//! One [`ConvGeometry`] relates an *image* side (C × H × W) and a *feature* side
//! (OC × OH × OW) through a KH × KW kernel, a stride s and a zero padding p:
//!
//! ```text
//! conv:        y[oc, oh, ow] = Σ_{c,i,j} W[oc, c, i, j] · x[c, s·oh + i − p, s·ow + j − p]
//! transposed:  x[c, h, w]    = Σ_{oc,i,j} W[oc, c, i, j] · y[oc, (h + p − i)/s, (w + p − j)/s]
//!                              (terms where the division is inexact or out of range are 0)
//! weight grad: dW[oc, c, i, j] = Σ_{n,oh,ow} dy[n, oc, oh, ow] · x[n, c, s·oh + i − p, s·ow + j − p]
//! ```
//!
//! with OH = ⌊(H + 2p − KH)/s⌋ + 1. The transposed convolution is the exact adjoint of
//! the convolution with the same weight, which is why the same weight layout serves
//! PyTorch's `Conv2d` (`[out, in, k, k]`) and `ConvTranspose2d` (`[in, out, k, k]`) —
//! for a transposed layer the "feature" side is its input. So the VJPs close over the
//! three ops:
//!
//! ```text
//! y = act(conv(x, W) + b):       dz = dy ⊙ act'(y),  dx = convᵀ(dz, W),  dW = wgrad(x, dz),  db = Σ_c dz
//! x' = act(convᵀ(y, W) + b):     dz = dx' ⊙ act'(x'), dy = conv(dz, W),  dW = wgrad(dz, y),  db = Σ_c dz
//! ```
//!
//! CPU (`cpu.rs`): im2col + sgemm on blocks of columns sized for the cache, threaded
//! over images (the reference is the formula above, gathered into a matrix). WGSL: the tiled matmul of `shaders/matmul.wgsl` with
//! override constant `LAYOUT` choosing loads that gather the im2col matrix on the fly
//! (an implicit GEMM: nothing is materialised) and a store in image layout. The
//! channel sum is `channel_sum` in `shaders/reduce.wgsl`, the sum of the weight
//! gradient's partials ([`WeightGradSplit`]) `sum_blocks` there.

mod cpu;

pub use cpu::cpu_weight_grad;

use serde::{Deserialize, Serialize};

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{Activation, ImageShape, Op, Real};

/// The two sides of a convolution and how a kernel window maps between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvGeometry {
    pub image: ImageShape,
    pub features: ImageShape,
    pub kernel: [usize; 2],
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    /// A convolution of `image` to `out_channels` channels; the feature size follows.
    pub fn conv(
        image: ImageShape,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self, String> {
        let out = |size: usize| -> Result<usize, String> {
            if stride == 0 || kernel == 0 {
                return Err("kernel size and stride must be at least 1".into());
            }
            if size + 2 * padding < kernel {
                return Err(format!(
                    "a {kernel}×{kernel} kernel does not fit image {image} with padding {padding}"
                ));
            }
            Ok((size + 2 * padding - kernel) / stride + 1)
        };
        let g = ConvGeometry {
            image,
            features: ImageShape::new(out_channels, out(image.height)?, out(image.width)?),
            kernel: [kernel, kernel],
            stride,
            padding,
        };
        g.validate()?;
        Ok(g)
    }

    /// A transposed convolution reading `input` (the feature side) and producing
    /// `out_channels` channels of size (H − 1)·s − 2p + k + output_padding, as PyTorch's
    /// `ConvTranspose2d`.
    pub fn transposed(
        input: ImageShape,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        output_padding: usize,
    ) -> Result<Self, String> {
        if stride == 0 || kernel == 0 {
            return Err("kernel size and stride must be at least 1".into());
        }
        if output_padding >= stride {
            return Err(format!(
                "output padding {output_padding} must be below the stride {stride}"
            ));
        }
        let size = |h: usize| {
            ((h.max(1) - 1) * stride + kernel + output_padding)
                .checked_sub(2 * padding)
                .filter(|&s| s > 0)
                .ok_or_else(|| format!("padding {padding} leaves nothing of input {input}"))
        };
        let g = ConvGeometry {
            image: ImageShape::new(out_channels, size(input.height)?, size(input.width)?),
            features: input,
            kernel: [kernel, kernel],
            stride,
            padding,
        };
        g.validate()?;
        Ok(g)
    }

    /// Checks that the feature size is the one the image size, kernel, stride and
    /// padding give.
    pub fn validate(&self) -> Result<(), String> {
        let [kh, kw] = self.kernel;
        if self.image.is_empty() || self.features.is_empty() || kh == 0 || kw == 0 {
            return Err(format!("empty convolution {self:?}"));
        }
        if self.stride == 0 {
            return Err("stride must be at least 1".into());
        }
        let fits = |size: usize, k: usize, out: usize| {
            size + 2 * self.padding >= k && (size + 2 * self.padding - k) / self.stride + 1 == out
        };
        if !fits(self.image.height, kh, self.features.height)
            || !fits(self.image.width, kw, self.features.width)
        {
            return Err(format!(
                "a {kh}×{kw} kernel with stride {} and padding {} does not map {} to {}",
                self.stride, self.padding, self.image, self.features
            ));
        }
        Ok(())
    }

    /// Columns of the weight: C·KH·KW.
    pub fn window(&self) -> usize {
        self.image.channels * self.kernel[0] * self.kernel[1]
    }

    pub fn weight_shape(&self) -> Shape {
        Shape::new(self.features.channels, self.window())
    }

    /// Multiply-adds of one image's convolution (and of its transpose).
    pub fn macs_per_image(&self) -> usize {
        self.features.len() * self.window()
    }
}

/// Which way a [`Conv`] maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Image side → feature side (`Conv2d`).
    Forward,
    /// Feature side → image side (`ConvTranspose2d`, and the convolution's dx).
    Transposed,
}

/// `out = act(conv(x, W) + bias)` or its transposed form, with a per-channel bias of
/// the output side. Operands: [x, weight [OC, C·KH·KW], (bias [1, out channels])].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv {
    pub geometry: ConvGeometry,
    pub direction: Direction,
    pub bias: bool,
    pub act: Activation,
}

impl Conv {
    /// The (input, output) sides.
    pub fn sides(&self) -> (ImageShape, ImageShape) {
        match self.direction {
            Direction::Forward => (self.geometry.image, self.geometry.features),
            Direction::Transposed => (self.geometry.features, self.geometry.image),
        }
    }

    pub fn shape(&self, s: &[Shape]) -> Result<Shape, String> {
        let expected = if self.bias { 3 } else { 2 };
        if s.len() != expected {
            return Err(format!("expects {expected} operands, got {}", s.len()));
        }
        self.geometry.validate()?;
        let (input, output) = self.sides();
        input.check_cols(s[0].cols, "input")?;
        if s[1] != self.geometry.weight_shape() {
            return Err(format!(
                "weight must be {} for a {}×{} kernel from {} to {} channels, got {}",
                self.geometry.weight_shape(),
                self.geometry.kernel[0],
                self.geometry.kernel[1],
                self.geometry.image.channels,
                self.geometry.features.channels,
                s[1]
            ));
        }
        if self.bias && s[2] != Shape::new(1, output.channels) {
            return Err(format!(
                "bias must be [1, {}], got {}",
                output.channels, s[2]
            ));
        }
        Ok(Shape::new(s[0].rows, output.len()))
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
        let (x, w) = (inputs[0], inputs[1]);
        let geometry = self.geometry;
        let opposite = match self.direction {
            Direction::Forward => Direction::Transposed,
            Direction::Transposed => Direction::Forward,
        };
        let dx = if needs[0] {
            let back = Conv {
                geometry,
                direction: opposite,
                bias: false,
                act: Activation::Linear,
            };
            Some(g.push(Op::Conv(back), &[dz, w])?)
        } else {
            None
        };
        let dw = if needs[1] {
            let (image, features) = match self.direction {
                Direction::Forward => (x, dz),
                Direction::Transposed => (dz, x),
            };
            let batch = g.shape(x).rows;
            let split = WeightGradSplit::for_batch(&geometry, batch);
            let partials = g.push(
                Op::ConvWeightGrad {
                    geometry,
                    images_per_split: split.images_per_split,
                },
                &[image, features],
            )?;
            Some(if split.splits == 1 {
                partials
            } else {
                g.push(
                    Op::SumBlocks {
                        blocks: split.splits,
                    },
                    &[partials],
                )?
            })
        } else {
            None
        };
        let mut grads = vec![dx, dw];
        if self.bias {
            grads.push(if needs[2] {
                let (_, output) = self.sides();
                Some(g.push(Op::ChannelSum(output), &[dz])?)
            } else {
                None
            });
        }
        Ok(grads)
    }
}

/// The weight gradient sums N·OH·OW terms per weight: a few thousand even for small
/// batches, while the weight has few elements. So it is computed as partial sums over
/// groups of images (more parallel work on a GPU, one group per thread on the CPU),
/// stacked as [splits·OC, K] and added by `SumBlocks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightGradSplit {
    pub images_per_split: usize,
    pub splits: usize,
}

/// Terms of the weight gradient's sum each split should at least have. Small, because
/// a GPU gets one workgroup per split and output tile, and a weight is only a few
/// tiles: at 4096 the MNIST conv AE's 16→32 layer had 3 workgroups (1 split); at 512
/// it has 21, and llvmpipe trained the AE 230 → 287 samples/s
/// (`cargo run --release --example conv_mnist -- gpu 2 10000`). The CPU backend
/// cuts its blocks by images anyway, so it is indifferent.
const TERMS_PER_SPLIT: usize = 512;

impl WeightGradSplit {
    pub fn for_batch(geometry: &ConvGeometry, batch: usize) -> Self {
        let batch = batch.max(1);
        let wanted = (batch * geometry.features.plane())
            .div_ceil(TERMS_PER_SPLIT)
            .clamp(1, batch);
        let images_per_split = batch.div_ceil(wanted);
        WeightGradSplit {
            images_per_split,
            splits: batch.div_ceil(images_per_split),
        }
    }
}

/// [image [N, C·H·W], features [N, OC·OH·OW]] → partial dW [splits·OC, C·KH·KW], block
/// s summing images s·per … (s+1)·per − 1.
pub fn weight_grad_shape(
    geometry: &ConvGeometry,
    images_per_split: usize,
    s: &[Shape],
) -> Result<Shape, String> {
    if images_per_split == 0 {
        return Err("a weight-gradient split needs at least one image".into());
    }
    if s.len() != 2 {
        return Err(format!("expects 2 operands, got {}", s.len()));
    }
    geometry.validate()?;
    geometry.image.check_cols(s[0].cols, "image-side")?;
    geometry.features.check_cols(s[1].cols, "feature-side")?;
    if s[0].rows != s[1].rows {
        return Err(format!(
            "image and feature batches differ: {} and {} rows",
            s[0].rows, s[1].rows
        ));
    }
    let splits = s[0].rows.max(1).div_ceil(images_per_split);
    let w = geometry.weight_shape();
    Ok(Shape::new(splits * w.rows, w.cols))
}

/// [x [b·r, c]] → [r, c]: the sum of `blocks` stacked blocks, added in block order.
pub fn sum_blocks_shape(blocks: usize, s: &[Shape]) -> Result<Shape, String> {
    if s.len() != 1 {
        return Err(format!("expects 1 operand, got {}", s.len()));
    }
    if blocks == 0 || s[0].rows % blocks != 0 {
        return Err(format!(
            "{} rows do not split into {blocks} blocks",
            s[0].rows
        ));
    }
    Ok(Shape::new(s[0].rows / blocks, s[0].cols))
}

pub fn cpu_sum_blocks<T: Real>(blocks: usize, x: &[T], out: &mut [T]) {
    let len = out.len();
    out.copy_from_slice(&x[..len]);
    for b in 1..blocks {
        out.iter_mut()
            .zip(&x[b * len..(b + 1) * len])
            .for_each(|(o, &v)| *o += v);
    }
}

/// [x [N, C·H·W]] → [1, C]: Σ over the batch and every pixel of each channel.
pub fn channel_sum_shape(image: ImageShape, s: &[Shape]) -> Result<Shape, String> {
    if s.len() != 1 {
        return Err(format!("expects 1 operand, got {}", s.len()));
    }
    image.check_cols(s[0].cols, "input")?;
    Ok(Shape::new(1, image.channels))
}

pub fn cpu_channel_sum<T: Real>(image: ImageShape, x: &[T], out: &mut [T]) {
    out.iter_mut().for_each(|v| *v = T::zero());
    for row in x.chunks(image.len()) {
        for (o, plane) in out.iter_mut().zip(row.chunks(image.plane())) {
            let mut s = T::zero();
            for &v in plane {
                s += v;
            }
            *o += s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_sizes_follow_pytorch() {
        // Conv2d(1, 16, 3, stride=2, padding=1) on 28×28 → 14×14.
        let g = ConvGeometry::conv(ImageShape::new(1, 28, 28), 16, 3, 2, 1).unwrap();
        assert_eq!(g.features, ImageShape::new(16, 14, 14));
        // ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1) on 7×7 → 14×14.
        let t = ConvGeometry::transposed(ImageShape::new(32, 7, 7), 16, 3, 2, 1, 1).unwrap();
        assert_eq!(t.image, ImageShape::new(16, 14, 14));
        assert!(ConvGeometry::conv(ImageShape::new(1, 2, 2), 4, 5, 1, 0).is_err());
    }

    #[test]
    fn transposed_is_the_adjoint() {
        // ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩ for a strided, padded, non-square case.
        let g = ConvGeometry::conv(ImageShape::new(2, 7, 5), 3, 3, 2, 1).unwrap();
        let val = |i: usize| ((i * 37 % 11) as f64 - 5.0) / 7.0;
        let x: Vec<f64> = (0..g.image.len()).map(val).collect();
        let y: Vec<f64> = (0..g.features.len()).map(|i| val(i + 3)).collect();
        let w: Vec<f64> = (0..g.weight_shape().len()).map(|i| val(i + 5)).collect();
        let conv = |direction| Conv {
            geometry: g,
            direction,
            bias: false,
            act: Activation::Linear,
        };
        let mut cx = vec![0.0; g.features.len()];
        conv(Direction::Forward).cpu_images(&x, &w, None, 0, &mut cx);
        let mut ty = vec![0.0; g.image.len()];
        conv(Direction::Transposed).cpu_images(&y, &w, None, 0, &mut ty);
        let lhs: f64 = cx.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&ty).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12, "{lhs} vs {rhs}");
    }

    #[test]
    fn im2col_matches_the_formula() {
        // Every tap against x[c, s·oh + i − p, s·ow + j − p] read directly, on
        // geometries whose windows hang over every border.
        for (image, k, s, p) in [
            (ImageShape::new(2, 5, 7), 3, 1, 1),
            (ImageShape::new(1, 7, 6), 3, 2, 1),
            (ImageShape::new(1, 4, 4), 2, 2, 0),
            (ImageShape::new(1, 3, 5), 5, 1, 2),
            (ImageShape::new(1, 6, 6), 3, 3, 2),
        ] {
            let g = ConvGeometry::conv(image, 1, k, s, p).unwrap();
            let x: Vec<f64> = (0..image.len()).map(|v| v as f64 + 1.0).collect();
            let mut cols = vec![f64::NAN; g.window() * g.features.plane()];
            let mut split = vec![0.0; g.split_len()];
            g.split_phases(&x, &mut split);
            g.im2col_rows(&split, 0..g.features.height, &mut cols, g.features.plane());
            let mut at = 0;
            for c in 0..image.channels {
                for i in 0..k {
                    for j in 0..k {
                        for oh in 0..g.features.height {
                            for ow in 0..g.features.width {
                                let h = (oh * s + i) as isize - p as isize;
                                let w = (ow * s + j) as isize - p as isize;
                                let inside = h >= 0
                                    && w >= 0
                                    && (h as usize) < image.height
                                    && (w as usize) < image.width;
                                let expected = if inside {
                                    x[c * image.plane() + h as usize * image.width + w as usize]
                                } else {
                                    0.0
                                };
                                assert_eq!(
                                    cols[at], expected,
                                    "{g:?} tap {c},{i},{j} at {oh},{ow}"
                                );
                                at += 1;
                            }
                        }
                    }
                }
            }
        }
    }
}
