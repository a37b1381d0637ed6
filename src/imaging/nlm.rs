//! Non-local means, the stronger classical baseline (Buades, Coll & Morel, "A non-local
//! algorithm for image denoising", CVPR 2005), pixelwise.

use rayon::prelude::*;

use super::{reflect, Image, ImagingError};

/// Rows of output each parallel task computes.
const BAND_ROWS: usize = 16;

/// Pixelwise non-local means: every pixel becomes a weighted mean of the pixels in a
/// search window around it, weighted by how alike the patches around the two are.
///
/// ```text
/// u(p) = Σ_q w(p, q) v(q) / Σ_q w(p, q)          q over the search window of p
/// w(p, q) = exp(−max(d²(p, q) − 2σ², 0) / h²)     h = h_per_sigma · σ
/// d²(p, q) = mean over the patch offsets k and channels c of (v_c(p + k) − v_c(q + k))²
/// ```
///
/// Subtracting 2σ², the expected d² of two patches of the same content under noise σ,
/// gives such pairs full weight; this is the variant of Buades, Coll & Morel's IPOL
/// paper ("Non-local means denoising", IPOL 2011) and of scikit-image's
/// `denoise_nl_means`. The patch distance is unweighted (the 2005 paper weights it by a
/// Gaussian), which lets it be computed for each offset q − p over the whole image with
/// box sums (Darbon et al. 2008): O(search²) per pixel instead of O(search²·patch²).
/// Borders are reflected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonLocalMeans {
    /// Side of the compared patches in pixels (odd): 7 in Buades et al. 2005.
    pub patch: usize,
    /// Side of the search window in pixels (odd): 21 in Buades et al. 2005.
    pub search: usize,
    /// The filtering parameter h as a multiple of the noise σ.
    pub h_per_sigma: f32,
}

impl Default for NonLocalMeans {
    /// 7 × 7 patches and a 21 × 21 search window (Buades et al. 2005), h = 0.6 σ: of
    /// 0.3σ to 1σ, the best or near it on the bundled training photos (camera, brick,
    /// coins, astronaut grey and colour, chelsea) at σ = 25, and scikit-image's advice.
    fn default() -> Self {
        NonLocalMeans {
            patch: 7,
            search: 21,
            h_per_sigma: 0.6,
        }
    }
}

impl NonLocalMeans {
    /// Denoises `noisy`, whose noise has standard deviation `sigma_255` on the 0–255
    /// scale, on all cores (rayon).
    pub fn denoise(&self, noisy: &Image, sigma_255: f32) -> Result<Image, ImagingError> {
        for (what, side) in [("patch", self.patch), ("search window", self.search)] {
            if side % 2 == 0 {
                return Err(ImagingError::shape(format!(
                    "the non-local means {what} needs an odd side, got {side}"
                )));
            }
        }
        let sigma = sigma_255 / 255.0;
        let h = self.h_per_sigma * sigma;
        if !(sigma.is_finite() && sigma > 0.0 && h.is_finite() && h > 0.0) {
            return Err(ImagingError::shape(format!(
                "non-local means needs σ > 0 and h > 0, got σ = {sigma_255}/255, h = {h}"
            )));
        }
        let geometry = Geometry::new(noisy, self.patch / 2, self.search / 2);
        let weight = WeightRule {
            inverse_count: 1.0 / (self.patch * self.patch * noisy.channels()) as f32,
            two_sigma_squared: 2.0 * sigma * sigma,
            minus_inverse_h_squared: -1.0 / (h * h),
        };
        let padded = geometry.pad(noisy);
        let bands: Vec<Vec<f32>> = (0..noisy.height().div_ceil(BAND_ROWS))
            .into_par_iter()
            .map(|band| geometry.band(&padded, band * BAND_ROWS, weight))
            .collect();

        let (height, width) = (noisy.height(), noisy.width());
        let mut data = vec![0.0; noisy.data().len()];
        for (band, values) in bands.iter().enumerate() {
            let y0 = band * BAND_ROWS;
            let rows = values.len() / (noisy.channels() * width);
            for (c, plane) in values.chunks_exact(rows * width).enumerate() {
                let start = (c * height + y0) * width;
                data[start..start + plane.len()].copy_from_slice(plane);
            }
        }
        Ok(noisy.with_data(data))
    }
}

/// w = exp(−max(d² − 2σ², 0) / h²) with d² = (sum of squared differences) / count.
#[derive(Clone, Copy)]
struct WeightRule {
    inverse_count: f32,
    two_sigma_squared: f32,
    minus_inverse_h_squared: f32,
}

impl WeightRule {
    fn weight(self, squared_difference_sum: f32) -> f32 {
        let excess = squared_difference_sum * self.inverse_count - self.two_sigma_squared;
        (excess.max(0.0) * self.minus_inverse_h_squared).exp()
    }
}

/// The image and its copy reflected by `border` = search radius + patch radius on every
/// side, so every patch of every candidate lies inside it.
struct Geometry {
    channels: usize,
    height: usize,
    width: usize,
    patch_radius: usize,
    search_radius: usize,
    border: usize,
    padded_width: usize,
    padded_height: usize,
}

impl Geometry {
    fn new(image: &Image, patch_radius: usize, search_radius: usize) -> Self {
        let border = patch_radius + search_radius;
        Geometry {
            channels: image.channels(),
            height: image.height(),
            width: image.width(),
            patch_radius,
            search_radius,
            border,
            padded_width: image.width() + 2 * border,
            padded_height: image.height() + 2 * border,
        }
    }

    fn pad(&self, image: &Image) -> Vec<f32> {
        let b = self.border as isize;
        let mut out = Vec::with_capacity(self.channels * self.padded_height * self.padded_width);
        for c in 0..self.channels {
            let plane = image.plane(c);
            for y in 0..self.padded_height as isize {
                let row = reflect(y - b, self.height) * self.width;
                out.extend(
                    (0..self.padded_width as isize)
                        .map(|x| plane[row + reflect(x - b, self.width)]),
                );
            }
        }
        out
    }

    /// Output rows `y0..y0 + BAND_ROWS` (fewer at the bottom), planar CHW.
    fn band(&self, padded: &[f32], y0: usize, weight: WeightRule) -> Vec<f32> {
        let rows = BAND_ROWS.min(self.height - y0);
        let (f, s, w) = (self.patch_radius, self.search_radius, self.width);
        let plane = self.padded_height * self.padded_width;
        // Squared differences over the band's rows and columns plus the patch radius.
        let (diff_rows, diff_cols) = (rows + 2 * f, w + 2 * f);
        let mut diff = vec![0.0f32; diff_rows * diff_cols];
        let mut column_sums = vec![0.0f32; rows * diff_cols];
        let mut weights = vec![0.0f32; w];
        let mut sums = vec![0.0f32; self.channels * rows * w];
        let mut total_weight = vec![0.0f32; rows * w];

        for dy in -(s as isize)..=s as isize {
            for dx in -(s as isize)..=s as isize {
                // 1. diff(i, j) = Σ_c (v(p) − v(p + δ))², p at image row y0 − f + i,
                //    column j − f, δ = (dy, dx).
                diff.fill(0.0);
                for c in 0..self.channels {
                    for i in 0..diff_rows {
                        let here = c * plane + (y0 + s + i) * self.padded_width + s;
                        let there = (here as isize + dy * self.padded_width as isize + dx) as usize;
                        let out = &mut diff[i * diff_cols..(i + 1) * diff_cols];
                        let a = &padded[here..here + diff_cols];
                        let b = &padded[there..there + diff_cols];
                        for ((o, &p), &q) in out.iter_mut().zip(a).zip(b) {
                            *o += (p - q) * (p - q);
                        }
                    }
                }
                // 2. Box sums over the patch: first down columns, then along rows.
                column_sums.fill(0.0);
                for i in 0..rows {
                    let out = &mut column_sums[i * diff_cols..(i + 1) * diff_cols];
                    for k in 0..=2 * f {
                        let src = &diff[(i + k) * diff_cols..(i + k + 1) * diff_cols];
                        for (o, &v) in out.iter_mut().zip(src) {
                            *o += v;
                        }
                    }
                }
                for i in 0..rows {
                    let columns = &column_sums[i * diff_cols..(i + 1) * diff_cols];
                    for (x, wgt) in weights.iter_mut().enumerate() {
                        let box_sum: f32 = columns[x..=x + 2 * f].iter().sum();
                        *wgt = weight.weight(box_sum);
                    }
                    // 3. Accumulate w(p, p + δ) and w(p, p + δ) · v(p + δ).
                    let total = &mut total_weight[i * w..(i + 1) * w];
                    for (t, &wgt) in total.iter_mut().zip(&weights) {
                        *t += wgt;
                    }
                    for c in 0..self.channels {
                        let there = (c * plane + (y0 + self.border + i) * self.padded_width)
                            as isize
                            + dy * self.padded_width as isize
                            + self.border as isize
                            + dx;
                        let candidates = &padded[there as usize..there as usize + w];
                        let out = &mut sums[(c * rows + i) * w..(c * rows + i + 1) * w];
                        for ((o, &wgt), &v) in out.iter_mut().zip(&weights).zip(candidates) {
                            *o += wgt * v;
                        }
                    }
                }
            }
        }
        for c_sums in sums.chunks_exact_mut(rows * w) {
            for (v, &t) in c_sums.iter_mut().zip(&total_weight) {
                *v /= t;
            }
        }
        sums
    }
}
