//! The classical baseline: a separable Gaussian filter with reflected borders, and the
//! oracle choice of its width.

use super::{metrics::psnr, reflect, Image, ImagingError};

/// How far the Gaussian filter's kernel reaches, in standard deviations (scipy's
/// `gaussian_filter` default).
const TRUNCATE: f64 = 4.0;

/// Taps of a normalised Gaussian kernel, `w_k ∝ exp(−k² / 2σ²)` for
/// |k| ≤ r = ⌊truncate·σ + ½⌋, as scipy's `gaussian_filter1d` builds it.
pub(super) fn gaussian_kernel(sigma: f64, truncate: f64) -> Vec<f64> {
    let radius = (truncate * sigma + 0.5) as isize;
    let taps: Vec<f64> = (-radius..=radius)
        .map(|k| (-0.5 * (k * k) as f64 / (sigma * sigma)).exp())
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.into_iter().map(|w| w / sum).collect()
}

/// Correlates a `height`×`width` plane with `kernel` (odd length, centred) along rows and
/// then along columns, reflecting at the borders (scipy's `correlate1d`, mode `reflect`).
pub(super) fn separable(plane: &[f64], height: usize, width: usize, kernel: &[f64]) -> Vec<f64> {
    let radius = (kernel.len() / 2) as isize;
    let mut along_rows = vec![0.0; plane.len()];
    for (row, out) in plane
        .chunks_exact(width)
        .zip(along_rows.chunks_exact_mut(width))
    {
        for (x, o) in out.iter_mut().enumerate() {
            *o = kernel
                .iter()
                .zip(-radius..)
                .map(|(w, k)| w * row[reflect(x as isize + k, width)])
                .sum();
        }
    }
    let mut out = vec![0.0; plane.len()];
    for (y, out_row) in out.chunks_exact_mut(width).enumerate() {
        for (w, k) in kernel.iter().zip(-radius..) {
            let src = reflect(y as isize + k, height) * width;
            for (o, &v) in out_row.iter_mut().zip(&along_rows[src..src + width]) {
                *o += w * v;
            }
        }
    }
    out
}

/// Every channel filtered with a Gaussian of standard deviation `sigma` pixels
/// (truncated at 4σ, borders reflected, computed in f64). σ = 0 returns a copy.
pub fn gaussian_filter(image: &Image, sigma: f32) -> Image {
    if sigma <= 0.0 {
        return image.clone();
    }
    let kernel = gaussian_kernel(f64::from(sigma), TRUNCATE);
    let (height, width) = (image.height(), image.width());
    let data = (0..image.channels())
        .flat_map(|c| {
            let plane: Vec<f64> = image.plane(c).iter().map(|&v| f64::from(v)).collect();
            separable(&plane, height, width, &kernel)
        })
        .map(|v| v as f32)
        .collect();
    image.with_data(data)
}

/// The best Gaussian filter of a noisy image, chosen by [`best_gaussian_filter`].
#[derive(Clone, Debug)]
pub struct BestFilter {
    /// The chosen standard deviation, in pixels.
    pub sigma: f32,
    /// The noisy image filtered with it.
    pub image: Image,
    /// Its PSNR against the clean image, in dB.
    pub psnr: f64,
}

/// Filters `noisy` with each σ in `sigmas` and keeps the one whose result has the best
/// PSNR against `clean`.
///
/// This is an **oracle**: it looks at the clean image, which a real denoiser never
/// sees, so it is an upper bound on what a Gaussian filter of one fixed width can do,
/// and a fair (generous) baseline for a learned denoiser.
pub fn best_gaussian_filter(
    noisy: &Image,
    clean: &Image,
    sigmas: &[f32],
) -> Result<BestFilter, ImagingError> {
    let mut best: Option<BestFilter> = None;
    for &sigma in sigmas {
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(ImagingError::shape(format!(
                "a Gaussian filter's σ must be finite and ≥ 0, got {sigma}"
            )));
        }
        let image = gaussian_filter(noisy, sigma);
        let score = psnr(&image, clean)?;
        if best.as_ref().is_none_or(|b| score > b.psnr) {
            best = Some(BestFilter {
                sigma,
                image,
                psnr: score,
            });
        }
    }
    best.ok_or_else(|| ImagingError::shape("best_gaussian_filter needs at least one σ"))
}
