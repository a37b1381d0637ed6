//! Collaborative Wiener filtering, the second stage of BM3D (Dabov, Foi, Katkovnik &
//! Egiazarian, "Image denoising by sparse 3-D transform-domain collaborative
//! filtering", IEEE TIP 2007; colour as in their CBM3D, ICIP 2007), run with any first
//! estimate as its *pilot*: here a network's output. The network sees 59 pixels each
//! way; this stage adds what BM3D is best at, the repeats of a pattern anywhere in a
//! 39-pixel window (Barbara's stripes, a building's windows), and it keeps the noisy
//! image's own detail wherever the pilot says there is signal.
//!
//! For every reference block (8 × 8, every `step` pixels in each direction):
//!
//! ```text
//! group   the blocks whose pilot luminance is closest to the reference block's
//!         (mean squared difference ≤ τ), at most N, in a window around it;
//!         the largest power of two of them is kept
//! T       an orthonormal 2-D DCT of each block, then a Haar transform across the group
//! W       = T(pilot)² / (T(pilot)² + σ_c²)       the empirical Wiener attenuation
//! Ŷ       = T⁻¹(W · T(noisy))                     the group's estimate
//! w       = 1 / (σ_c² · Σ W²)                     ∝ 1 / the estimate's noise variance
//! u(x)    = Σ w · kaiser(x) · Ŷ(x) / Σ w · kaiser(x)   over every block covering x
//! ```
//!
//! Colour images are filtered in the opponent colour space of the BM3D authors'
//! package (`bm3d.rgb_to(…, "opp")`): rows (1/3, 1/3, 1/3), (1/2, 0, −1/2),
//! (1/4, −1/2, 1/4), whose noise is σ times each row's norm. Groups are matched on the
//! first (luminance) channel and shared by all three. Other channel counts are filtered
//! as they are, matched on the mean of their channels.

use std::f32::consts::FRAC_1_SQRT_2;

use rayon::prelude::*;

use super::{Image, ImagingError};

/// Side of the blocks: 8, as BM3D's Wiener stage below σ = 40.
const BLOCK: usize = 8;
const AREA: usize = BLOCK * BLOCK;
/// Reference rows each parallel task filters.
const BAND_REFS: usize = 4;

/// One 8 × 8 block, row-major.
type Block = [f32; AREA];

/// BM3D's second stage with a given pilot ([`CollaborativeWiener::refine`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CollaborativeWiener {
    /// Pixels between reference blocks, in each direction.
    pub step: usize,
    /// The search window spans this many pixels each way from a reference block.
    pub search_radius: usize,
    /// The most blocks in a group (a power of two).
    pub max_group: usize,
    /// τ: the largest mean squared difference (0–255 scale) between the pilot's
    /// reference block and a block that joins its group.
    pub match_threshold_255: f32,
    /// β of the Kaiser window that weights each block's pixels when aggregating.
    pub kaiser_beta: f32,
}

impl Default for CollaborativeWiener {
    /// The BM3D authors' Wiener-stage profile (`bm3d.BM3DProfile()`): step 3, a
    /// 39 × 39 window, groups of up to 32 blocks, τ = 400, Kaiser β = 2.
    fn default() -> Self {
        CollaborativeWiener {
            step: 3,
            search_radius: 19,
            max_group: 32,
            match_threshold_255: 400.0,
            kaiser_beta: 2.0,
        }
    }
}

impl CollaborativeWiener {
    /// `noisy` filtered with `pilot` (an estimate of the clean image, the same shape)
    /// guiding both the grouping and the Wiener attenuation, for white Gaussian noise
    /// of deviation `sigma_255` (0–255 scale). Images under 8 pixels on a side have no
    /// block to filter: the pilot comes back unchanged. σ = 0 gives the noisy image.
    pub fn refine(
        &self,
        noisy: &Image,
        pilot: &Image,
        sigma_255: f32,
    ) -> Result<Image, ImagingError> {
        self.check()?;
        if noisy.shape() != pilot.shape() {
            return Err(ImagingError::shape(format!(
                "the pilot is {:?} and the noisy image {:?}: they must match",
                pilot.shape(),
                noisy.shape()
            )));
        }
        if !(sigma_255.is_finite() && sigma_255 >= 0.0) {
            return Err(ImagingError::shape(format!(
                "collaborative Wiener filtering needs a noise level σ ≥ 0, got {sigma_255}"
            )));
        }
        let (height, width) = (noisy.height(), noisy.width());
        if height < BLOCK || width < BLOCK {
            return Ok(pilot.clone());
        }
        if sigma_255 == 0.0 {
            return Ok(noisy.clone());
        }
        let space = ColourSpace::for_channels(noisy.channels());
        let planes = Planes {
            noisy: space.forward(noisy),
            pilot: space.forward(pilot),
            luma: space.luma(pilot),
            height,
            width,
        };
        let sigma = sigma_255 / 255.0;
        let filter = GroupFilter {
            options: *self,
            noise_variance: space
                .noise_gains()
                .into_iter()
                .map(|g| (g * sigma) * (g * sigma))
                .collect(),
            kaiser: kaiser_block(self.kaiser_beta),
            dct: dct_matrix(),
            threshold: self.match_threshold_255 / (255.0 * 255.0) * AREA as f32,
        };

        let channels = noisy.channels();
        let mut numerator = vec![0.0f32; channels * height * width];
        let mut denominator = vec![0.0f32; channels * height * width];
        let rows = block_origins(height, self.step);
        let bands: Vec<&[usize]> = rows.chunks(BAND_REFS).collect();
        // Bands in batches, so at most a few partial sums are alive at once.
        for batch in bands.chunks(rayon::current_num_threads().max(1)) {
            let partials: Vec<Partial> = batch
                .par_iter()
                .map(|band| filter.band(&planes, band))
                .collect();
            for part in partials {
                part.add_to(&mut numerator, &mut denominator, height, width);
            }
        }
        let mut filtered = planes.pilot;
        for ((value, num), den) in filtered.iter_mut().zip(&numerator).zip(&denominator) {
            if *den > 0.0 {
                *value = num / den;
            }
        }
        // At most four planes per channel were alive at once (besides the inputs).
        drop((numerator, denominator, planes.noisy));
        Image::new(noisy.shape(), space.inverse(&filtered, height * width))
    }

    /// `denoised` (a blind denoiser's output for `noisy`) refined for the noise level
    /// it removed ([`residual_sigma`]), with that level: the step `aegpu denoise` takes
    /// after the network.
    pub fn refine_blind(
        &self,
        noisy: &Image,
        denoised: &Image,
    ) -> Result<(Image, f32), ImagingError> {
        let sigma = residual_sigma(noisy, denoised)?;
        Ok((self.refine(noisy, denoised, sigma)?, sigma))
    }

    fn check(&self) -> Result<(), ImagingError> {
        let bad = |what: &str| {
            Err(ImagingError::shape(format!(
                "collaborative Wiener filtering: {what}"
            )))
        };
        if self.step == 0 {
            return bad("the step between reference blocks must be at least 1");
        }
        if !self.max_group.is_power_of_two() || self.max_group > 256 {
            return bad("the largest group must be a power of two up to 256");
        }
        if self.search_radius > 64 {
            return bad("a search radius over 64 pixels is not supported");
        }
        if !(self.match_threshold_255.is_finite() && self.match_threshold_255 >= 0.0) {
            return bad("the match threshold τ must be finite and ≥ 0");
        }
        if !(self.kaiser_beta.is_finite() && self.kaiser_beta >= 0.0) {
            return bad("the Kaiser β must be finite and ≥ 0");
        }
        Ok(())
    }
}

/// The noise level (0–255 scale) a blind denoiser removed: the root mean square of
/// `noisy − denoised`. For a good denoiser the residual is mostly the noise, so this
/// is the σ to give [`CollaborativeWiener::refine`] when none is known
/// ([`CollaborativeWiener::refine_blind`]). It runs a
/// little low where the network leaves noise in and a little high where it removes
/// texture (on the bundled test photos at σ = 25: 23.3 to 24.5).
pub fn residual_sigma(noisy: &Image, denoised: &Image) -> Result<f32, ImagingError> {
    if noisy.shape() != denoised.shape() {
        return Err(ImagingError::shape(format!(
            "the denoised image is {:?} and the noisy one {:?}: they must match",
            denoised.shape(),
            noisy.shape()
        )));
    }
    let n = noisy.data().len().max(1) as f64;
    let sum: f64 = noisy
        .data()
        .iter()
        .zip(denoised.data())
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum();
    Ok(((sum / n).sqrt() * 255.0) as f32)
}

/// The planar images the filter reads: noisy and pilot in the filtering colour space,
/// and, where that space has no luminance channel of its own, the plane groups are
/// matched on.
struct Planes {
    noisy: Vec<f32>,
    pilot: Vec<f32>,
    luma: Option<Vec<f32>>,
    height: usize,
    width: usize,
}

impl Planes {
    /// The plane groups are matched on: the pilot's mean of channels.
    fn luma(&self) -> &[f32] {
        match &self.luma {
            Some(luma) => luma,
            None => &self.pilot[..self.height * self.width],
        }
    }

    fn block(plane: &[f32], width: usize, y: usize, x: usize) -> Block {
        let mut block = [0.0; AREA];
        for (i, row) in block.chunks_exact_mut(BLOCK).enumerate() {
            let start = (y + i) * width + x;
            row.copy_from_slice(&plane[start..start + BLOCK]);
        }
        block
    }
}

/// Sums of weighted estimates and of weights over a band of rows.
struct Partial {
    first_row: usize,
    rows: usize,
    numerator: Vec<f32>,
    denominator: Vec<f32>,
}

impl Partial {
    fn add_to(&self, numerator: &mut [f32], denominator: &mut [f32], height: usize, width: usize) {
        let channels = self.numerator.len() / (self.rows * width).max(1);
        for c in 0..channels {
            let local = c * self.rows * width..(c + 1) * self.rows * width;
            let start = c * height * width + self.first_row * width;
            let global = start..start + self.rows * width;
            for (total, part) in numerator[global.clone()]
                .iter_mut()
                .zip(&self.numerator[local.clone()])
            {
                *total += part;
            }
            for (total, part) in denominator[global].iter_mut().zip(&self.denominator[local]) {
                *total += part;
            }
        }
    }
}

/// What filtering one group needs, shared by every task.
struct GroupFilter {
    options: CollaborativeWiener,
    /// σ_c² per channel of the filtering colour space (0–1 scale).
    noise_variance: Vec<f32>,
    kaiser: Block,
    dct: [[f32; BLOCK]; BLOCK],
    /// τ as a sum of squared differences over a block.
    threshold: f32,
}

impl GroupFilter {
    /// Filters the groups of the reference blocks whose top rows are `refs`.
    fn band(&self, planes: &Planes, refs: &[usize]) -> Partial {
        let (height, width) = (planes.height, planes.width);
        let radius = self.options.search_radius;
        let first_row = refs[0].saturating_sub(radius);
        let last_row = (refs[refs.len() - 1] + radius).min(height - BLOCK) + BLOCK;
        let rows = last_row - first_row;
        let channels = self.noise_variance.len();
        let mut part = Partial {
            first_row,
            rows,
            numerator: vec![0.0; channels * rows * width],
            denominator: vec![0.0; channels * rows * width],
        };
        let mut matches = Vec::new();
        let mut noisy = Vec::with_capacity(self.options.max_group);
        let mut pilot = Vec::with_capacity(self.options.max_group);
        let mut scratch = Vec::with_capacity(self.options.max_group);
        let columns = block_origins(width, self.options.step);
        for &y in refs {
            for &x in &columns {
                self.match_blocks(planes, y, x, &mut matches);
                for c in 0..channels {
                    let plane = c * height * width..(c + 1) * height * width;
                    noisy.clear();
                    pilot.clear();
                    for &(_, by, bx) in &matches {
                        noisy.push(self.dct2(&Planes::block(
                            &planes.noisy[plane.clone()],
                            width,
                            by,
                            bx,
                        )));
                        pilot.push(self.dct2(&Planes::block(
                            &planes.pilot[plane.clone()],
                            width,
                            by,
                            bx,
                        )));
                    }
                    haar_forward(&mut noisy, &mut scratch);
                    haar_forward(&mut pilot, &mut scratch);
                    let weight = wiener_shrink(&mut noisy, &pilot, self.noise_variance[c]);
                    haar_inverse(&mut noisy, &mut scratch);
                    let local = c * rows * width;
                    for (estimate, &(_, by, bx)) in noisy.iter().zip(&matches) {
                        let pixels = self.idct2(estimate);
                        for i in 0..BLOCK {
                            let start = local + (by + i - first_row) * width + bx;
                            let num = &mut part.numerator[start..start + BLOCK];
                            let den = &mut part.denominator[start..start + BLOCK];
                            for j in 0..BLOCK {
                                let w = weight * self.kaiser[i * BLOCK + j];
                                num[j] += w * pixels[i * BLOCK + j];
                                den[j] += w;
                            }
                        }
                    }
                }
            }
        }
        part
    }

    /// The group of the reference block at (`y`, `x`) into `matches` as (distance,
    /// row, column), closest first, the reference itself always first.
    fn match_blocks(
        &self,
        planes: &Planes,
        y: usize,
        x: usize,
        matches: &mut Vec<(f32, usize, usize)>,
    ) {
        let (height, width) = (planes.height, planes.width);
        let radius = self.options.search_radius;
        let luma = planes.luma();
        let reference = Planes::block(luma, width, y, x);
        matches.clear();
        for by in y.saturating_sub(radius)..=(y + radius).min(height - BLOCK) {
            for bx in x.saturating_sub(radius)..=(x + radius).min(width - BLOCK) {
                let distance = if (by, bx) == (y, x) {
                    // Sorts before every tie, so the reference is always kept.
                    -1.0
                } else {
                    squared_distance(&reference, luma, width, by, bx)
                };
                if distance <= self.threshold {
                    matches.push((distance, by, bx));
                }
            }
        }
        let keep = self.options.max_group.min(matches.len());
        let by_distance = |a: &(f32, usize, usize), b: &(f32, usize, usize)| {
            a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2)))
        };
        if matches.len() > keep {
            matches.select_nth_unstable_by(keep - 1, by_distance);
        }
        matches.truncate(keep);
        matches.sort_unstable_by(by_distance);
        // The Haar transform across the group needs a power of two.
        matches.truncate(1 << keep.ilog2());
    }

    /// The orthonormal 2-D DCT-II: D · B · Dᵀ.
    fn dct2(&self, block: &Block) -> Block {
        let d = &self.dct;
        let mut rows = [0.0; AREA];
        for i in 0..BLOCK {
            for k in 0..BLOCK {
                rows[i * BLOCK + k] = (0..BLOCK).map(|n| block[i * BLOCK + n] * d[k][n]).sum();
            }
        }
        let mut out = [0.0; AREA];
        for k in 0..BLOCK {
            for i in 0..BLOCK {
                let coefficient = d[k][i];
                for l in 0..BLOCK {
                    out[k * BLOCK + l] += coefficient * rows[i * BLOCK + l];
                }
            }
        }
        out
    }

    /// The inverse of [`Self::dct2`]: Dᵀ · C · D.
    fn idct2(&self, coefficients: &Block) -> Block {
        let d = &self.dct;
        let mut rows = [0.0; AREA];
        for k in 0..BLOCK {
            for i in 0..BLOCK {
                let coefficient = d[k][i];
                for l in 0..BLOCK {
                    rows[i * BLOCK + l] += coefficient * coefficients[k * BLOCK + l];
                }
            }
        }
        let mut out = [0.0; AREA];
        for i in 0..BLOCK {
            for n in 0..BLOCK {
                out[i * BLOCK + n] = (0..BLOCK).map(|k| rows[i * BLOCK + k] * d[k][n]).sum();
            }
        }
        out
    }
}

/// Σ (a − b)² between `reference` and the block of `plane` at (`y`, `x`), with eight
/// partial sums so that the loop vectorises.
fn squared_distance(reference: &Block, plane: &[f32], width: usize, y: usize, x: usize) -> f32 {
    let mut lanes = [0.0f32; BLOCK];
    for i in 0..BLOCK {
        let start = (y + i) * width + x;
        let row = &plane[start..start + BLOCK];
        for j in 0..BLOCK {
            let t = reference[i * BLOCK + j] - row[j];
            lanes[j] += t * t;
        }
    }
    lanes.iter().sum()
}

/// Multiplies each coefficient of `noisy` by W = p² / (p² + σ²), p the pilot's, and
/// returns the group's aggregation weight 1 / (σ² Σ W²) (1 when every W is 0, as in
/// BM3D).
fn wiener_shrink(noisy: &mut [Block], pilot: &[Block], noise_variance: f32) -> f32 {
    let mut energy = 0.0f32;
    for (z, p) in noisy.iter_mut().zip(pilot) {
        for (zi, &pi) in z.iter_mut().zip(p) {
            let power = pi * pi;
            let w = power / (power + noise_variance);
            *zi *= w;
            energy += w * w;
        }
    }
    if energy > 0.0 {
        1.0 / (noise_variance * energy)
    } else {
        1.0
    }
}

/// The orthonormal multi-level Haar transform across a group (its length a power of
/// two), coefficient by coefficient: averages (a + b)/√2 first, differences (a − b)/√2
/// after, repeated on the averages.
fn haar_forward(group: &mut [Block], scratch: &mut Vec<Block>) {
    let mut len = group.len();
    while len > 1 {
        let half = len / 2;
        scratch.clear();
        scratch.extend_from_slice(&group[..len]);
        for i in 0..half {
            let (a, b) = (&scratch[2 * i], &scratch[2 * i + 1]);
            for e in 0..AREA {
                group[i][e] = (a[e] + b[e]) * FRAC_1_SQRT_2;
                group[half + i][e] = (a[e] - b[e]) * FRAC_1_SQRT_2;
            }
        }
        len = half;
    }
}

/// The inverse of [`haar_forward`].
fn haar_inverse(group: &mut [Block], scratch: &mut Vec<Block>) {
    let mut len = 2;
    while len <= group.len() {
        let half = len / 2;
        scratch.clear();
        scratch.extend_from_slice(&group[..len]);
        for i in 0..half {
            let (a, d) = (&scratch[i], &scratch[half + i]);
            for e in 0..AREA {
                group[2 * i][e] = (a[e] + d[e]) * FRAC_1_SQRT_2;
                group[2 * i + 1][e] = (a[e] - d[e]) * FRAC_1_SQRT_2;
            }
        }
        len *= 2;
    }
}

/// Top-left corners of blocks along a side of `n ≥ 8` pixels: every `step`, and the
/// last block flush with the edge so every pixel is covered.
fn block_origins(n: usize, step: usize) -> Vec<usize> {
    let last = n - BLOCK;
    let mut origins: Vec<usize> = (0..=last).step_by(step).collect();
    if origins.last() != Some(&last) {
        origins.push(last);
    }
    origins
}

/// D[k][n] = α_k cos(π (2n + 1) k / 16), α_0 = √(1/8), α_k = √(2/8): the orthonormal
/// DCT-II of length 8.
fn dct_matrix() -> [[f32; BLOCK]; BLOCK] {
    let mut d = [[0.0; BLOCK]; BLOCK];
    let n = BLOCK as f64;
    for (k, row) in d.iter_mut().enumerate() {
        let alpha = if k == 0 {
            (1.0 / n).sqrt()
        } else {
            (2.0 / n).sqrt()
        };
        for (i, value) in row.iter_mut().enumerate() {
            let angle = std::f64::consts::PI * (2 * i + 1) as f64 * k as f64 / (2.0 * n);
            *value = (alpha * angle.cos()) as f32;
        }
    }
    d
}

/// The 8 × 8 Kaiser window, the outer product of two length-8 windows
/// w(n) = I₀(β √(1 − (2n/7 − 1)²)) / I₀(β).
fn kaiser_block(beta: f32) -> Block {
    let beta = f64::from(beta);
    let window: Vec<f64> = (0..BLOCK)
        .map(|n| {
            let r = 2.0 * n as f64 / (BLOCK - 1) as f64 - 1.0;
            bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
        })
        .collect();
    let mut block = [0.0; AREA];
    for i in 0..BLOCK {
        for j in 0..BLOCK {
            block[i * BLOCK + j] = (window[i] * window[j]) as f32;
        }
    }
    block
}

/// The modified Bessel function I₀(x) = Σ_k ((x/2)^k / k!)², summed until the terms
/// stop counting.
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-12 * sum {
        term *= (x / (2.0 * k)).powi(2);
        sum += term;
        k += 1.0;
    }
    sum
}

/// Where the filtering happens: the opponent colour space for RGB, the channels as
/// they are otherwise.
enum ColourSpace {
    Opponent,
    AsIs(usize),
}

/// Rows of the opponent transform and of its inverse (the BM3D package's `opp`).
const OPPONENT: [[f32; 3]; 3] = [
    [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
    [0.5, 0.0, -0.5],
    [0.25, -0.5, 0.25],
];
const OPPONENT_INVERSE: [[f32; 3]; 3] = [
    [1.0, 1.0, 2.0 / 3.0],
    [1.0, 0.0, -4.0 / 3.0],
    [1.0, -1.0, 2.0 / 3.0],
];

impl ColourSpace {
    fn for_channels(channels: usize) -> Self {
        if channels == 3 {
            ColourSpace::Opponent
        } else {
            ColourSpace::AsIs(channels)
        }
    }

    /// How much each filtering channel scales white noise of unit deviation.
    fn noise_gains(&self) -> Vec<f32> {
        match self {
            ColourSpace::Opponent => OPPONENT
                .iter()
                .map(|row| row.iter().map(|a| a * a).sum::<f32>().sqrt())
                .collect(),
            ColourSpace::AsIs(channels) => vec![1.0; *channels],
        }
    }

    fn forward(&self, image: &Image) -> Vec<f32> {
        match self {
            ColourSpace::Opponent => mix(&OPPONENT, image.data(), image.height() * image.width()),
            ColourSpace::AsIs(_) => image.data().to_vec(),
        }
    }

    fn inverse(&self, planes: &[f32], plane_len: usize) -> Vec<f32> {
        match self {
            ColourSpace::Opponent => mix(&OPPONENT_INVERSE, planes, plane_len),
            ColourSpace::AsIs(_) => planes.to_vec(),
        }
    }

    /// The plane groups are matched on, the mean of the channels, where the filtering
    /// space lacks it: the opponent space's first channel is that mean, and a grey
    /// image's one channel is its own.
    fn luma(&self, image: &Image) -> Option<Vec<f32>> {
        let channels = match self {
            ColourSpace::Opponent | ColourSpace::AsIs(1) => return None,
            ColourSpace::AsIs(channels) => *channels,
        };
        let plane_len = image.height() * image.width();
        let mut luma = vec![0.0f32; plane_len];
        for plane in image.data().chunks_exact(plane_len) {
            for (l, v) in luma.iter_mut().zip(plane) {
                *l += v;
            }
        }
        let scale = 1.0 / channels as f32;
        luma.iter_mut().for_each(|l| *l *= scale);
        Some(luma)
    }
}

/// `matrix` applied to every pixel of three planar channels.
fn mix(matrix: &[[f32; 3]; 3], planes: &[f32], plane_len: usize) -> Vec<f32> {
    let (r, rest) = planes.split_at(plane_len);
    let (g, b) = rest.split_at(plane_len);
    let mut out = vec![0.0f32; 3 * plane_len];
    for (c, row) in matrix.iter().enumerate() {
        let target = &mut out[c * plane_len..(c + 1) * plane_len];
        for (((t, &r), &g), &b) in target.iter_mut().zip(r).zip(g).zip(b) {
            *t = row[0] * r + row[1] * g + row[2] * b;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::{add_gaussian_noise, psnr, ImageShape};

    fn stripes(channels: usize, height: usize, width: usize) -> Image {
        let mut data = Vec::with_capacity(channels * height * width);
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let phase = (x + 2 * y) as f32 * 0.7 + c as f32;
                    data.push(0.5 + 0.3 * phase.sin());
                }
            }
        }
        Image::new(ImageShape::new(channels, height, width), data).unwrap()
    }

    #[test]
    fn the_transforms_are_orthonormal_and_invert() {
        let filter = GroupFilter {
            options: CollaborativeWiener::default(),
            noise_variance: vec![1.0],
            kaiser: kaiser_block(2.0),
            dct: dct_matrix(),
            threshold: 0.0,
        };
        let block: Block = std::array::from_fn(|i| (i as f32 * 0.37).sin());
        let coefficients = filter.dct2(&block);
        let energy = |b: &Block| b.iter().map(|v| v * v).sum::<f32>();
        assert!((energy(&coefficients) - energy(&block)).abs() < 1e-4);
        for (a, b) in filter.idct2(&coefficients).iter().zip(&block) {
            assert!((a - b).abs() < 1e-5);
        }
        let mut group: Vec<Block> = (0..8)
            .map(|k| std::array::from_fn(|i| (k * 64 + i) as f32))
            .collect();
        let original = group.clone();
        let mut scratch = vec![];
        haar_forward(&mut group, &mut scratch);
        // The first coefficient is the group's mean times √8.
        assert!(
            (group[0][0] - (0..8).map(|k| (k * 64) as f32).sum::<f32>() / 8f32.sqrt()).abs() < 1e-3
        );
        haar_inverse(&mut group, &mut scratch);
        for (a, b) in group.iter().flatten().zip(original.iter().flatten()) {
            assert!((a - b).abs() < 1e-3);
        }
    }

    /// PSNRs against `clean` of the noisy image (σ, `seed`), of `pilot` and of the
    /// noisy image refined with `pilot`.
    fn scores(clean: &Image, pilot: &Image, sigma: f32, seed: u64) -> [f64; 3] {
        let noisy = add_gaussian_noise(clean, sigma, seed);
        let refined = CollaborativeWiener::default()
            .refine(&noisy, pilot, sigma)
            .unwrap();
        [&noisy, pilot, &refined].map(|image| psnr(image, clean).unwrap())
    }

    #[test]
    fn a_perfect_pilot_removes_most_of_the_noise() {
        // With the clean image as pilot the filter is the oracle Wiener filter of the
        // group spectra: far better than the noisy image.
        let clean = stripes(3, 40, 48);
        let [noisy, _, refined] = scores(&clean, &clean, 25.0, 7);
        assert!(
            refined > noisy + 10.0,
            "noisy {noisy:.2} dB, refined {refined:.2} dB"
        );
    }

    #[test]
    fn a_pilot_that_misses_detail_is_improved_from_the_noisy_image() {
        // A pilot with the stripes at 70 % contrast: the Wiener weights still pass the
        // stripes' coefficients, so the refined image gets its contrast from the noisy
        // one and beats the pilot.
        let clean = stripes(1, 48, 48);
        let pilot = clean.with_data(clean.data().iter().map(|v| 0.5 + 0.7 * (v - 0.5)).collect());
        let [_, faded, refined] = scores(&clean, &pilot, 15.0, 3);
        assert!(
            refined > faded + 1.0,
            "pilot {faded:.2} dB, refined {refined:.2} dB"
        );
    }

    #[test]
    fn the_residual_sigma_measures_what_was_removed() {
        let clean = stripes(1, 64, 64);
        let noisy = add_gaussian_noise(&clean, 20.0, 11);
        let sigma = residual_sigma(&noisy, &clean).unwrap();
        assert!((sigma - 20.0).abs() < 1.0, "{sigma}");
    }

    #[test]
    fn edge_cases_are_defined() {
        let clean = stripes(3, 6, 30);
        let options = CollaborativeWiener::default();
        // Under one block tall: the pilot unchanged.
        let pilot = clean.with_data(vec![0.5; clean.data().len()]);
        assert_eq!(
            options.refine(&clean, &pilot, 25.0).unwrap().data(),
            pilot.data()
        );
        let big = stripes(3, 16, 16);
        assert_eq!(options.refine(&big, &big, 0.0).unwrap().data(), big.data());
        assert!(options.refine(&big, &clean, 25.0).is_err());
        assert!(options.refine(&big, &big, f32::NAN).is_err());
        assert!(options.refine(&big, &big, -1.0).is_err());
        let odd = CollaborativeWiener {
            max_group: 24,
            ..options
        };
        assert!(odd.refine(&big, &big, 25.0).is_err());
        let still = CollaborativeWiener { step: 0, ..options };
        assert!(still.refine(&big, &big, 25.0).is_err());
    }
}
