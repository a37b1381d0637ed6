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
