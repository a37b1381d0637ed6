//! The CPU path of the convolution ops: im2col + sgemm, blocked for the cache.
//!
//! ```text
//! forward:     Y [OC, P] = W [OC, K] · cols [K, P]          cols = im2col(x), P = OH·OW
//! transposed:  cols [K, P] = Wᵀ [K, OC] · X [OC, P]         y = col2im(cols)
//! weight grad: dW [OC, K] += F [OC, P] · colsᵀ [P, K]       cols = im2col(image side)
//! ```
//!
//! Two things decide the speed, and neither is the multiply-adds (a single-threaded
//! sgemm runs these shapes at 80–140 GFLOP/s here):
//!
//! - **The column matrix has to stay in the core's cache.** It is K/OC times larger
//!   than the output (9× for 3×3 kernels), and sgemm copies it once more into its
//!   packed panels. So each sgemm takes a [`ColumnBlock`] of about
//!   [`COLUMNS_PER_GEMM`] columns: a band of feature rows of one large image, or
//!   several small images side by side (for a 7×7 map one sgemm per image would be
//!   mostly call and packing overhead). Several images' columns are regrouped
//!   channel-major (`[C][n·P]`, [`planes_to_channels`]).
//! - **im2col is one contiguous copy per tap and feature row.** The image is first
//!   copied zero-padded and split by column phase ([`ConvGeometry::split_phases`]):
//!   padded column s·ow + j is element ow + ⌊j/s⌋ of phase row j mod s, so the OW reads
//!   of a tap are adjacent whatever the stride, and no read needs a bounds test.

use std::ops::Range;

use super::{Conv, ConvGeometry, Direction};
use crate::ops::activation::cpu_bias_activate;
use crate::ops::Real;

/// Columns one sgemm should have: enough that call and packing overhead are small
/// (MNIST's 7×7 maps have 49 columns an image), few enough that the column matrix and
/// its packed copy stay in a core's L2 (K·1024 floats are 1.2 MB for K = 288).
const COLUMNS_PER_GEMM: usize = 512;

impl ConvGeometry {
    /// Rows and row length of the padded, phase-split image: for each channel,
    /// H + 2p padded rows, each split into s phase rows of ⌈(W + 2p)/s⌉ elements (phase
    /// φ holding padded columns φ, φ + s, …).
    fn phase_rows(&self) -> (usize, usize) {
        let s = self.stride;
        let rows = self.image.channels * (self.image.height + 2 * self.padding) * s;
        (rows, (self.image.width + 2 * self.padding).div_ceil(s))
    }

    /// Elements of a phase-split image ([`ConvGeometry::split_phases`]).
    pub fn split_len(&self) -> usize {
        let (rows, len) = self.phase_rows();
        rows * len
    }

    /// Where tap (c, i, j) of feature row `oh` starts in the phase-split image: padded
    /// row s·oh + i, phase j mod s, element ⌊j/s⌋. Its OW reads follow contiguously
    /// (the window fits the padded image, so they stay inside the phase row).
    fn phase_start(&self, c: usize, i: usize, j: usize, oh: usize) -> usize {
        let (s, (_, len)) = (self.stride, self.phase_rows());
        let hp = self.image.height + 2 * self.padding;
        ((c * hp + s * oh + i) * s + j % s) * len + j / s
    }

    /// Calls `f(pixels, step, at)` for runs of image pixels along one phase row:
    /// `x[pixels].step_by(step)` are elements `at, at + 1, …` of the phase-split image.
    fn for_each_phase_run(&self, mut f: impl FnMut(Range<usize>, usize, usize)) {
        let (s, p, (_, len)) = (self.stride, self.padding, self.phase_rows());
        let (h, w) = (self.image.height, self.image.width);
        for c in 0..self.image.channels {
            for row in 0..h {
                let padded_row = (c * (h + 2 * p) + row + p) * s;
                let pixels = (c * h + row) * w;
                for phase in 0..s {
                    // The first image column x with (x + p) mod s = phase.
                    let first = (phase + s - p % s) % s;
                    if first < w {
                        let at = (padded_row + phase) * len + (first + p) / s;
                        f(pixels + first..pixels + w, s, at);
                    }
                }
            }
        }
    }

    /// Image `x` (one row of a batch) → its zero-padded, phase-split copy `split`
    /// ([`ConvGeometry::split_len`] elements).
    pub fn split_phases<T: Real>(&self, x: &[T], split: &mut [T]) {
        let split = &mut split[..self.split_len()];
        split.fill(T::zero());
        let p = self.padding;
        match self.stride {
            1 => {
                for (pixels, phases) in self.padded_rows() {
                    copy_short(&mut split[phases][p..p + pixels.len()], &x[pixels]);
                }
            }
            2 => {
                for (pixels, phases) in self.padded_rows() {
                    scatter_row2(&x[pixels], &mut split[phases], p);
                }
            }
            _ => self.for_each_phase_run(|pixels, step, at| {
                for (d, &v) in split[at..].iter_mut().zip(x[pixels].iter().step_by(step)) {
                    *d = v;
                }
            }),
        }
    }

    /// The inverse of [`ConvGeometry::split_phases`] on the image's pixels (the
    /// padding is dropped): `x` is overwritten.
    pub fn merge_phases<T: Real>(&self, split: &[T], x: &mut [T]) {
        let p = self.padding;
        match self.stride {
            1 => {
                for (pixels, phases) in self.padded_rows() {
                    let len = pixels.len();
                    copy_short(&mut x[pixels], &split[phases][p..p + len]);
                }
            }
            2 => {
                for (pixels, phases) in self.padded_rows() {
                    gather_row2(&mut x[pixels], &split[phases], p);
                }
            }
            _ => self.for_each_phase_run(|pixels, step, at| {
                for (&v, d) in split[at..].iter().zip(x[pixels].iter_mut().step_by(step)) {
                    *d = v;
                }
            }),
        }
    }

    /// For every image row: its W pixels in the image, and the s phase rows of its
    /// padded row in the phase-split image (s × ⌈(W + 2p)/s⌉ elements, phase by phase).
    fn padded_rows(&self) -> impl Iterator<Item = (Range<usize>, Range<usize>)> {
        let (s, p, (_, len)) = (self.stride, self.padding, self.phase_rows());
        let (h, w) = (self.image.height, self.image.width);
        (0..self.image.channels).flat_map(move |c| {
            (0..h).map(move |row| {
                let pixels = (c * h + row) * w;
                let at = (c * (h + 2 * p) + row + p) * s * len;
                (pixels..pixels + w, at..at + s * len)
            })
        })
    }

    /// cols[(c, i, j), (oh, ow)] = x[c, s·oh + i − p, s·ow + j − p] (0 in the padding)
    /// for the feature rows `rows`, read from the phase-split image; row r of `cols`
    /// starts at `r · ld` (ld ≥ the rows' columns, so blocks of several images sit side
    /// by side).
    pub fn im2col_rows<T: Real>(&self, split: &[T], rows: Range<usize>, cols: &mut [T], ld: usize) {
        let ow = self.features.width;
        let width = rows.len() * ow;
        // Feature row oh + 1 reads s padded rows further on: s² phase rows.
        let row_step = self.stride * self.stride * self.phase_rows().1;
        for (r, (c, i, j)) in self.taps().enumerate() {
            let first = self.phase_start(c, i, j, rows.start);
            let dst = &mut cols[r * ld..r * ld + width];
            for (k, out) in dst.chunks_exact_mut(ow).enumerate() {
                let at = first + k * row_step;
                copy_short(out, &split[at..at + ow]);
            }
        }
    }

    /// The adjoint of [`ConvGeometry::im2col_rows`]: adds each cols entry to the
    /// phase-split image element it was read from.
    pub fn col2im_rows<T: Real>(&self, cols: &[T], ld: usize, rows: Range<usize>, split: &mut [T]) {
        let ow = self.features.width;
        let width = rows.len() * ow;
        let row_step = self.stride * self.stride * self.phase_rows().1;
        for (r, (c, i, j)) in self.taps().enumerate() {
            let first = self.phase_start(c, i, j, rows.start);
            let src = &cols[r * ld..r * ld + width];
            for (k, row) in src.chunks_exact(ow).enumerate() {
                let at = first + k * row_step;
                add_short(&mut split[at..at + ow], row);
            }
        }
    }

    /// The weight's columns (c, i, j) in order.
    fn taps(&self) -> impl Iterator<Item = (usize, usize, usize)> {
        let [kh, kw] = self.kernel;
        (0..self.image.channels)
            .flat_map(move |c| (0..kh).flat_map(move |i| (0..kw).map(move |j| (c, i, j))))
    }
}

/// A stride-2 image row into its two phase rows: padded column q = x + p goes to phase
/// q mod 2, element ⌊q/2⌋, so pixels 2k and 2k + 1 land at element k of the phase rows
/// that start at (p mod 2, ⌊p/2⌋) and ((p + 1) mod 2, ⌊(p + 1)/2⌋): a deinterleave.
fn scatter_row2<T: Copy>(src: &[T], phases: &mut [T], p: usize) {
    let len = phases.len() / 2;
    let (even, odd) = phases.split_at_mut(len);
    let (first, second) = if p % 2 == 0 {
        (&mut even[p / 2..], &mut odd[p / 2..])
    } else {
        (&mut odd[p / 2..], &mut even[p / 2 + 1..])
    };
    let pairs = src.chunks_exact(2);
    let tail = pairs.remainder();
    let n = src.len() / 2;
    for ((a, b), pair) in first[..n].iter_mut().zip(&mut second[..n]).zip(pairs) {
        *a = pair[0];
        *b = pair[1];
    }
    if let [last] = tail {
        first[n] = *last;
    }
}

/// The inverse of [`scatter_row2`].
fn gather_row2<T: Copy>(dst: &mut [T], phases: &[T], p: usize) {
    let len = phases.len() / 2;
    let (even, odd) = phases.split_at(len);
    let (first, second) = if p % 2 == 0 {
        (&even[p / 2..], &odd[p / 2..])
    } else {
        (&odd[p / 2..], &even[p / 2 + 1..])
    };
    let n = dst.len() / 2;
    let mut pairs = dst.chunks_exact_mut(2);
    for ((&a, &b), pair) in first[..n].iter().zip(&second[..n]).zip(&mut pairs) {
        pair[0] = a;
        pair[1] = b;
    }
    if let [last] = pairs.into_remainder() {
        *last = first[n];
    }
}

/// `dst ← src` for the short rows of small feature maps (MNIST's are 7 and 14 wide):
/// below 16 elements as two overlapping fixed-size moves, which compile to vector
/// loads and stores, rather than a call to memmove for every row.
#[inline(always)]
fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    let n = dst.len();
    debug_assert_eq!(n, src.len());
    if n >= 16 {
        dst.copy_from_slice(src);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..n]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..n]);
    } else {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = v;
        }
    }
}

/// `dst += src`, four lanes at a time (a short row's vector loop would otherwise run
/// only its scalar remainder).
#[inline(always)]
fn add_short<T: Real>(dst: &mut [T], src: &[T]) {
    let mut d4 = dst.chunks_exact_mut(4);
    let mut s4 = src.chunks_exact(4);
    for (d, s) in (&mut d4).zip(&mut s4) {
        let (d, s): (&mut [T; 4], &[T; 4]) = (d.try_into().unwrap(), s.try_into().unwrap());
        for k in 0..4 {
            d[k] += s[k];
        }
    }
    for (d, &v) in d4.into_remainder().iter_mut().zip(s4.remainder()) {
        *d += v;
    }
}

/// The columns one sgemm takes: `count` whole images from `first` (small images), or
/// the feature rows `rows` of the one image `first` (large ones).
#[derive(Clone, Debug, PartialEq)]
struct ColumnBlock {
    first: usize,
    count: usize,
    rows: Range<usize>,
}

impl ColumnBlock {
    /// Columns of one of its images.
    fn image_columns(&self, g: &ConvGeometry) -> usize {
        self.rows.len() * g.features.width
    }

    fn columns(&self, g: &ConvGeometry) -> usize {
        self.count * self.image_columns(g)
    }

    /// Where its columns start in each image's feature planes.
    fn offset(&self, g: &ConvGeometry) -> usize {
        self.rows.start * g.features.width
    }

    fn ends_image(&self, g: &ConvGeometry) -> bool {
        self.rows.end == g.features.height
    }
}

/// Images `images` cut into blocks of about [`COLUMNS_PER_GEMM`] columns.
fn column_blocks(g: &ConvGeometry, images: Range<usize>) -> Vec<ColumnBlock> {
    let (oh, plane) = (g.features.height, g.features.plane());
    if plane >= COLUMNS_PER_GEMM {
        let band = (COLUMNS_PER_GEMM / g.features.width).max(1);
        images
            .flat_map(|n| {
                (0..oh).step_by(band).map(move |r| ColumnBlock {
                    first: n,
                    count: 1,
                    rows: r..(r + band).min(oh),
                })
            })
            .collect()
    } else {
        let per = COLUMNS_PER_GEMM.div_ceil(plane);
        images
            .clone()
            .step_by(per)
            .map(|n| ColumnBlock {
                first: n,
                count: per.min(images.end - n),
                rows: 0..oh,
            })
            .collect()
    }
}

/// The scratch one thread's blocks need: the column matrix, the channel-major
/// regrouping of several images, and one phase-split image.
struct Scratch<T> {
    cols: Vec<T>,
    grouped: Vec<T>,
    split: Vec<T>,
    /// The image `split` holds (a band of rows of a large image reuses it).
    split_of: Option<usize>,
}

impl<T: Real> Scratch<T> {
    fn new(g: &ConvGeometry, blocks: &[ColumnBlock]) -> Self {
        let widest = blocks.iter().map(|b| b.columns(g)).max().unwrap_or(0);
        let multi = blocks.iter().any(|b| b.count > 1);
        Scratch {
            cols: vec![T::zero(); g.window() * widest],
            grouped: if multi {
                vec![T::zero(); g.features.channels * widest]
            } else {
                vec![]
            },
            split: vec![T::zero(); g.split_len()],
            split_of: None,
        }
    }

    /// The block's column matrix ([K, block columns], row stride = its width), from
    /// the image-side images `image` (whole operand).
    fn im2col(&mut self, g: &ConvGeometry, image: &[T], block: &ColumnBlock) {
        let (ld, width, il) = (block.columns(g), block.image_columns(g), g.image.len());
        for i in 0..block.count {
            let n = block.first + i;
            if self.split_of != Some(n) {
                g.split_phases(&image[n * il..(n + 1) * il], &mut self.split);
                self.split_of = Some(n);
            }
            g.im2col_rows(
                &self.split,
                block.rows.clone(),
                &mut self.cols[i * width..],
                ld,
            );
        }
    }
}

/// The block's feature-side matrix [OC, block columns] with its row stride: the
/// image's own planes for one image, else regrouped channel-major into `grouped`.
fn feature_matrix<'a, T: Real>(
    g: &ConvGeometry,
    features: &'a [T],
    block: &ColumnBlock,
    grouped: &'a mut [T],
) -> (&'a [T], usize) {
    let (fl, plane) = (g.features.len(), g.features.plane());
    let images = &features[block.first * fl..(block.first + block.count) * fl];
    if block.count == 1 {
        (&images[block.offset(g)..], plane)
    } else {
        planes_to_channels(images, g.features.channels, plane, grouped);
        (&grouped[..images.len()], block.columns(g))
    }
}

impl Conv {
    /// The CPU path for the images whose outputs are `out` (whole output rows), the
    /// first being image `first`; `x` and `weight` are the whole operands.
    pub fn cpu_images<T: Real>(
        &self,
        x: &[T],
        weight: &[T],
        bias: Option<&[T]>,
        first: usize,
        out: &mut [T],
    ) {
        let g = &self.geometry;
        let (_, output) = self.sides();
        let (k, oc, plane) = (g.window(), g.features.channels, output.plane());
        let images = out.len() / output.len();
        let blocks = column_blocks(g, first..first + images);
        let mut scratch = Scratch::new(g, &blocks);
        // Image n's output row within `out`, and that of `count` images from n.
        let outputs =
            |n: usize, count: usize| (n - first) * output.len()..(n - first + count) * output.len();
        let epilogue = |y: &mut [T], cols: Range<usize>| {
            for (c, yc) in y.chunks_mut(plane).enumerate() {
                let b = bias.map_or(T::zero(), |b| b[c]);
                cpu_bias_activate(self.act, b, &mut yc[cols.clone()]);
            }
        };
        for block in &blocks {
            let ld = block.columns(g);
            match self.direction {
                Direction::Forward => {
                    scratch.im2col(g, x, block);
                    let (cols, offset) = (&scratch.cols, block.offset(g));
                    let n0 = block.first;
                    // Y [OC, block columns]: straight into the image's planes for one
                    // image, else channel-major into `grouped`, scattered after.
                    let (y, ldy) = if block.count == 1 {
                        (&mut out[outputs(n0, 1)][offset..], plane)
                    } else {
                        (&mut scratch.grouped[..oc * ld], ld)
                    };
                    let (sw, sc) = ((k as isize, 1), (ld as isize, 1));
                    T::gemm_ld(oc, k, ld, weight, sw, cols, sc, T::zero(), y, ldy);
                    if block.count > 1 {
                        let ys = &mut out[outputs(n0, block.count)];
                        channels_to_planes(&scratch.grouped[..oc * ld], oc, plane, ys);
                    }
                    let cols = offset..offset + block.image_columns(g);
                    for n in n0..n0 + block.count {
                        epilogue(&mut out[outputs(n, 1)], cols.clone());
                    }
                }
                Direction::Transposed => {
                    let (xs, ldx) = feature_matrix(g, x, block, &mut scratch.grouped);
                    // cols [K, ld] = Wᵀ [K, OC] · X [OC, ld]
                    let cols = &mut scratch.cols;
                    T::gemm(
                        k,
                        oc,
                        ld,
                        weight,
                        (1, k as isize),
                        xs,
                        (ldx as isize, 1),
                        cols,
                    );
                    let width = block.image_columns(g);
                    for i in 0..block.count {
                        let n = block.first + i;
                        if block.rows.start == 0 {
                            scratch.split.fill(T::zero());
                            scratch.split_of = None;
                        }
                        g.col2im_rows(
                            &scratch.cols[i * width..],
                            ld,
                            block.rows.clone(),
                            &mut scratch.split,
                        );
                        if block.ends_image(g) {
                            let y = &mut out[outputs(n, 1)];
                            g.merge_phases(&scratch.split, y);
                            epilogue(y, 0..plane);
                        }
                    }
                }
            }
        }
    }
}

/// The weight gradient of images `images` into `out` (overwritten):
/// Σ_n features_n [OC, P] · im2col(image_n)ᵀ [P, K], block by block.
pub fn cpu_weight_grad<T: Real>(
    geometry: &ConvGeometry,
    image: &[T],
    features: &[T],
    images: Range<usize>,
    out: &mut [T],
) {
    let g = geometry;
    let (k, oc) = (g.window(), g.features.channels);
    let blocks = column_blocks(g, images);
    let mut scratch = Scratch::new(g, &blocks);
    out.iter_mut().for_each(|v| *v = T::zero());
    for block in &blocks {
        let ld = block.columns(g);
        scratch.im2col(g, image, block);
        let (fs, ldf) = feature_matrix(g, features, block, &mut scratch.grouped);
        let cols = &scratch.cols;
        T::gemm_accumulate(
            oc,
            ld,
            k,
            fs,
            (ldf as isize, 1),
            cols,
            (1, ld as isize),
            out,
        );
    }
}

/// Images `[n][C][P]` (rows of a batch) → `[C][n·P]` in `out`: channel c's planes of
/// every image side by side, the layout whose rows a gemm over several images reads.
fn planes_to_channels<T: Real>(images: &[T], channels: usize, plane: usize, out: &mut [T]) {
    let n = images.len() / (channels * plane);
    for (i, image) in images.chunks(channels * plane).enumerate() {
        for (c, src) in image.chunks(plane).enumerate() {
            let at = c * n * plane + i * plane;
            out[at..at + plane].copy_from_slice(src);
        }
    }
}

/// The inverse of [`planes_to_channels`].
fn channels_to_planes<T: Real>(grouped: &[T], channels: usize, plane: usize, images: &mut [T]) {
    let n = images.len() / (channels * plane);
    for (i, image) in images.chunks_mut(channels * plane).enumerate() {
        for (c, dst) in image.chunks_mut(plane).enumerate() {
            let at = c * n * plane + i * plane;
            dst.copy_from_slice(&grouped[at..at + plane]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Activation, ImageShape};

    /// y[n, oc, oh, ow] = Σ_{c,i,j} W[oc, c, i, j] · x[n, c, s·oh + i − p, s·ow + j − p],
    /// summed term by term.
    fn direct_conv(g: &ConvGeometry, x: &[f64], w: &[f64], batch: usize) -> Vec<f64> {
        let (im, f, [kh, kw]) = (g.image, g.features, g.kernel);
        let mut y = vec![0.0; batch * f.len()];
        for n in 0..batch {
            for oc in 0..f.channels {
                for oh in 0..f.height {
                    for ow in 0..f.width {
                        let mut sum = 0.0;
                        for (t, (c, i, j)) in g.taps().enumerate() {
                            let h = (g.stride * oh + i) as isize - g.padding as isize;
                            let v = (g.stride * ow + j) as isize - g.padding as isize;
                            if h >= 0
                                && v >= 0
                                && (h as usize) < im.height
                                && (v as usize) < im.width
                            {
                                let xi = n * im.len()
                                    + c * im.plane()
                                    + h as usize * im.width
                                    + v as usize;
                                sum += w[oc * kh * kw * im.channels + t] * x[xi];
                            }
                        }
                        y[n * f.len() + oc * f.plane() + oh * f.width + ow] = sum;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, salt: usize) -> Vec<f64> {
        (0..len)
            .map(|i| (((i + salt) * 37 % 23) as f64 - 11.0) / 13.0)
            .collect()
    }

    /// The stride-1 and stride-2 fast paths of the phase split and merge agree with
    /// the general one (any stride), for odd and even widths and every padding.
    #[test]
    fn phase_split_fast_paths_match_the_general_one() {
        for (width, stride, pad) in [
            (7, 2, 0),
            (7, 2, 1),
            (8, 2, 1),
            (9, 2, 2),
            (8, 2, 3),
            (5, 1, 1),
            (6, 1, 0),
        ] {
            let g = ConvGeometry::conv(ImageShape::new(2, 3, width), 2, 3, stride, pad).unwrap();
            let x = values(g.image.len(), 5);
            let mut fast = vec![f64::NAN; g.split_len()];
            g.split_phases(&x, &mut fast);
            let mut general = vec![0.0; g.split_len()];
            g.for_each_phase_run(|pixels, step, at| {
                for (d, &v) in general[at..].iter_mut().zip(x[pixels].iter().step_by(step)) {
                    *d = v;
                }
            });
            assert_eq!(fast, general, "width {width} stride {stride} pad {pad}");
            let mut back = vec![f64::NAN; x.len()];
            g.merge_phases(&fast, &mut back);
            assert_eq!(back, x, "width {width} stride {stride} pad {pad}");
        }
    }

    #[test]
    fn blocks_cover_every_column_once() {
        // Bands of rows of large images, several small images per block.
        for (image, stride) in [
            (ImageShape::new(2, 41, 30), 1),
            (ImageShape::new(3, 9, 7), 2),
        ] {
            let g = ConvGeometry::conv(image, 4, 3, stride, 1).unwrap();
            let blocks = column_blocks(&g, 3..8);
            let covered: usize = blocks.iter().map(|b| b.columns(&g)).sum();
            assert_eq!(covered, 5 * g.features.plane(), "{blocks:?}");
            let plane = g.features.plane();
            for b in &blocks {
                if plane >= COLUMNS_PER_GEMM {
                    assert!(b.count == 1 && b.columns(&g) <= COLUMNS_PER_GEMM, "{b:?}");
                } else {
                    assert!(b.rows == (0..g.features.height), "{b:?}");
                    assert!(b.columns(&g) < COLUMNS_PER_GEMM + plane, "{b:?}");
                }
            }
        }
    }

    #[test]
    fn every_block_regime_matches_the_direct_formula() {
        // Large maps go in bands of feature rows, small ones several images at a time;
        // forward, transposed (through ⟨conv x, y⟩ = ⟨x, convᵀ y⟩) and weight gradient
        // (dW = Σ dy ⊗ x, checked as ⟨dW, W'⟩ = ⟨conv_{W'}(x), dy⟩) against the formula.
        for (image, oc, stride, pad, batch) in [
            (ImageShape::new(2, 40, 33), 3, 1, 1, 3),
            (ImageShape::new(3, 14, 14), 4, 2, 1, 5),
            (ImageShape::new(1, 9, 8), 2, 3, 2, 4),
        ] {
            let g = ConvGeometry::conv(image, oc, 3, stride, pad).unwrap();
            let x = values(batch * image.len(), 1);
            let w = values(g.weight_shape().len(), 2);
            let dy = values(batch * g.features.len(), 3);
            let conv = |direction| Conv {
                geometry: g,
                direction,
                bias: false,
                act: Activation::Linear,
            };

            let mut y = vec![f64::NAN; batch * g.features.len()];
            conv(Direction::Forward).cpu_images(&x, &w, None, 0, &mut y);
            let expected = direct_conv(&g, &x, &w, batch);
            for (a, b) in y.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
            }

            let mut tx = vec![f64::NAN; batch * image.len()];
            conv(Direction::Transposed).cpu_images(&dy, &w, None, 0, &mut tx);
            let lhs: f64 = expected.iter().zip(&dy).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&tx).map(|(a, b)| a * b).sum();
            assert!((lhs - rhs).abs() < 1e-9, "{g:?}: {lhs} vs {rhs}");

            let mut dw = vec![f64::NAN; w.len()];
            cpu_weight_grad(&g, &x, &dy, 0..batch, &mut dw);
            let probe = values(w.len(), 4);
            let lhs: f64 = dw.iter().zip(&probe).map(|(a, b)| a * b).sum();
            let rhs: f64 = direct_conv(&g, &x, &probe, batch)
                .iter()
                .zip(&dy)
                .map(|(a, b)| a * b)
                .sum();
            assert!((lhs - rhs).abs() < 1e-9, "{g:?}: {lhs} vs {rhs}");
        }
    }
}
