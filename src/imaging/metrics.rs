//! Image quality against a reference: PSNR and SSIM, in f64.
//!
//! Both compare the values as given, on a peak of 1.0, and **clamp nothing**: a noisy
//! image that leaves [0, 1] is scored on its true error. Clamp (or save and reload)
//! first to score what a viewer of an 8-bit file would see.

use super::filter::{gaussian_kernel, separable};
use super::{Image, ImagingError};

/// SSIM's constants (Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from
/// error visibility to structural similarity", IEEE TIP 13(4), 2004): C₁ = (K₁L)²,
/// C₂ = (K₂L)² with dynamic range L = 1.
const K1: f64 = 0.01;
const K2: f64 = 0.03;
/// The Gaussian window: σ = 1.5, truncated at 3.5σ, which gives the paper's 11 × 11 taps.
const WINDOW_SIGMA: f64 = 1.5;
const WINDOW_TRUNCATE: f64 = 3.5;

/// Peak signal-to-noise ratio of `a` against `b` in dB, with peak 1:
/// PSNR = 10 · log₁₀(1 / MSE), MSE the mean of (a − b)² over every value and channel.
/// Identical images give +∞. Values are not clamped (see the module doc). Equal to
/// scikit-image's `peak_signal_noise_ratio(b, a, data_range=1)`.
pub fn psnr(a: &Image, b: &Image) -> Result<f64, ImagingError> {
    same_shape(a, b, "PSNR")?;
    let squared_error: f64 = a
        .data()
        .iter()
        .zip(b.data())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = squared_error / a.data().len() as f64;
    Ok(-10.0 * mse.log10())
}

/// Mean structural similarity of `a` and `b` (Wang et al. 2004), computed exactly as
/// scikit-image's `structural_similarity(a, b, data_range=1, gaussian_weights=True,
/// sigma=1.5, use_sample_covariance=False)` (with `channel_axis` for colour):
///
/// ```text
/// μx = G∗x, μy = G∗y, σx² = G∗x² − μx², σy² = G∗y² − μy², σxy = G∗xy − μx μy
/// SSIM(p) = (2 μx μy + C₁)(2 σxy + C₂) / ((μx² + μy² + C₁)(σx² + σy² + C₂))
/// ```
///
/// with G the 11 × 11 Gaussian window (σ = 1.5, truncated at 3.5σ, reflected at the
/// borders), C₁ = 0.01², C₂ = 0.03². The map is averaged over the valid crop, the image
/// less a 5-pixel border, and then over channels. Both sides need at least 11 × 11
/// pixels. Values are not clamped (see the module doc).
pub fn ssim(a: &Image, b: &Image) -> Result<f64, ImagingError> {
    same_shape(a, b, "SSIM")?;
    let kernel = gaussian_kernel(WINDOW_SIGMA, WINDOW_TRUNCATE);
    let (height, width) = (a.height(), a.width());
    if height < kernel.len() || width < kernel.len() {
        return Err(ImagingError::shape(format!(
            "SSIM needs images of at least {n}×{n} pixels (its window), got {height}×{width}",
            n = kernel.len()
        )));
    }
    let per_channel: f64 = (0..a.channels())
        .map(|c| ssim_plane(a.plane(c), b.plane(c), height, width, &kernel))
        .sum();
    Ok(per_channel / a.channels() as f64)
}

/// The mean SSIM of one channel over the crop that drops the window's radius.
fn ssim_plane(x: &[f32], y: &[f32], height: usize, width: usize, kernel: &[f64]) -> f64 {
    let c1 = K1 * K1;
    let c2 = K2 * K2;
    let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let y: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
    let blur = |values: Vec<f64>| separable(&values, height, width, kernel);
    let product = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(a, b)| a * b).collect();
    let mu_x = blur(x.clone());
    let mu_y = blur(y.clone());
    let mean_xx = blur(product(&x, &x));
    let mean_yy = blur(product(&y, &y));
    let mean_xy = blur(product(&x, &y));

    let pad = kernel.len() / 2;
    let mut sum = 0.0;
    for row in pad..height - pad {
        for i in row * width + pad..row * width + width - pad {
            let (mx, my) = (mu_x[i], mu_y[i]);
            let var_x = mean_xx[i] - mx * mx;
            let var_y = mean_yy[i] - my * my;
            let cov = mean_xy[i] - mx * my;
            sum += (2.0 * mx * my + c1) * (2.0 * cov + c2)
                / ((mx * mx + my * my + c1) * (var_x + var_y + c2));
        }
    }
    sum / ((height - 2 * pad) * (width - 2 * pad)) as f64
}

fn same_shape(a: &Image, b: &Image, what: &str) -> Result<(), ImagingError> {
    if a.shape() == b.shape() {
        Ok(())
    } else {
        Err(ImagingError::shape(format!(
            "{what} compares images of one shape, got {} and {}",
            a.shape(),
            b.shape()
        )))
    }
}
