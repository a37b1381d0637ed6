//! Synthetic noise for denoising benchmarks.

use super::Image;
use crate::ops::random::{draw, rng_feed};
use crate::ops::Noise;

/// `image` plus white Gaussian noise of standard deviation `sigma_255` on the 0–255
/// scale (σ = 25 is the usual "σ = 25" benchmark level, 25/255 on our 0–1 scale).
///
/// The noise is drawn by Philox4x32-10 keyed by `seed` ([`crate::ops::random`]): value
/// `i` of the planar CHW data gets `σ · z` with `z = gaussian(w₀, w₁)` and
/// `w = draw(rng_feed(seed, 0), 0, i)`, which is exactly what the engine's
/// `Noise::Gaussian` op adds to the image as a row `[1, C·H·W]` at step 0 on stream 0.
/// So one seed gives the same noisy image here, on the CPU backend and (within WGSL's
/// `log`/`cos` accuracy) on the GPU.
///
/// The result is **not clipped** to [0, 1], following the usual convention of Gaussian
/// denoising benchmarks (DnCNN, BM3D, FFDNet evaluate on unclipped noisy images), so
/// the noise stays zero-mean and exactly Gaussian. Save it as PNG only to look at it:
/// that clamps and quantises.
///
/// # Panics
/// If the image holds 2³² values or more (the counter is a 32-bit element index).
pub fn add_gaussian_noise(image: &Image, sigma_255: f32, seed: u64) -> Image {
    assert!(
        u32::try_from(image.data().len()).is_ok(),
        "noise draws are keyed by a 32-bit index; {} values is too many",
        image.data().len()
    );
    let noise = Noise::Gaussian {
        sigma: sigma_255 / 255.0,
    };
    let rng = rng_feed(seed, 0);
    let data = image
        .data()
        .iter()
        .enumerate()
        .map(|(i, &x)| noise.apply(x, draw(rng, 0, i as u32)))
        .collect();
    image.with_data(data)
}

/// An estimate of the standard deviation (0–255 scale) of white Gaussian noise in
/// `image`, from the median absolute response to a Laplacian-like high-pass: each
/// interior pixel's response to Immerkær's mask
///
/// ```text
///  1 −2  1
/// −2  4 −2      (Immerkær 1996, "Fast noise variance estimation")
///  1 −2  1
/// ```
///
/// which cancels constants, ramps and planes (the mask is the outer product of two
/// second differences), so a smooth image gives ~0. For white noise of deviation σ
/// the response is N(0, 36σ²) (Σ m² = 36), and the median of its absolute value is
/// 0.6745 · 6σ. The median, as in Donoho's MAD estimator, ignores the minority of
/// pixels on edges and texture. Colour images: the mean of the channels' estimates.
/// Images smaller than 3 × 3 give 0.
pub fn estimate_noise_sigma(image: &Image) -> f32 {
    let (h, w) = (image.height(), image.width());
    if h < 3 || w < 3 {
        return 0.0;
    }
    let mut total = 0.0f64;
    for c in 0..image.channels() {
        let p = image.plane(c);
        let mut responses = Vec::with_capacity((h - 2) * (w - 2));
        for y in 1..h - 1 {
            let (up, row, down) = (
                &p[(y - 1) * w..y * w],
                &p[y * w..(y + 1) * w],
                &p[(y + 1) * w..(y + 2) * w],
            );
            for x in 1..w - 1 {
                let second = |r: &[f32]| r[x - 1] - 2.0 * r[x] + r[x + 1];
                let r = second(up) - 2.0 * second(row) + second(down);
                responses.push(r.abs());
            }
        }
        let mid = responses.len() / 2;
        let (_, median, _) = responses.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
        total += f64::from(*median) / (0.6745 * 6.0);
    }
    (total / image.channels() as f64 * 255.0) as f32
}
