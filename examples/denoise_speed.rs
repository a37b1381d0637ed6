//! Denoising inference speed by model size: blind colour denoisers (`--model denoiser`,
//! no batch norm) of several widths and depths, and the bundled colour model, each
//! denoising the bundled colour test photos through `aegpu denoise`'s own tiling
//! (128-pixel tiles, or eight margins for a U-Net whose receptive field is wider), on the backend asked for. Prints Mpixel/s (the best of `REPEATS`
//! passes over the photos, after one warm-up pass that compiles the pipelines) and the
//! multiply-adds per pixel. Weights are random for the sizes other than the bundled one:
//! the speed does not depend on them.
//!
//! ```text
//! cargo run --release --example denoise_speed [-- cpu|gpu [REPEATS]]
//! ```
//!
//! CBM3D's speed on the same photos comes from `python3 scripts/bm3d_side_by_side.py`.
//!
//! Measured on the idle 2-core machine (`cargo run --release --example denoise_speed`,
//! 7 colour photos, 3.17 Mpixel, one timed pass after the warm-up):
//!
//! ```text
//! model                              parameters   MACs / pixel   Mpixel/s
//! width 16, depth 5                        7843           7776       2.89
//! width 32, depth 8                       57251          57024       0.62
//! bundled colour (unet3 w16 d2)          574067          33888       0.50
//! width 64, depth 17                     557443         556416       0.07
//! U-Net 2 levels, width 32, d 2          554595          92864       0.31
//! U-Net 3 levels, width 16, d 2          574067          33888       0.50
//! Wiener refinement alone (σ = 25)                                   0.31
//! ```
//!
//! So `aegpu denoise` (the bundled network, then the refinement) runs at
//! 1 / (1/0.50 + 1/0.31) ≈ 0.19 Mpixel/s.
//!
//! The U-Nets do fewer multiply-adds per pixel than their speed suggests: their tiles
//! (512 pixels for the bundled one) keep only a centre inside 64-pixel margins. CBM3D
//! (PyPI's `bm3d`) on a 256 × 256 crop of `tulips` at σ = 25, the same idle machine:
//! 6.6 s, 0.0099 Mpixel/s, so the bundled model is 50× faster, with the refinement 19×,
//! and DnCNN-B's size 7×.

use std::path::Path;
use std::time::Instant;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::gpu::{GpuBackend, GpuOptions};
use aegpu::backend::Backend;
use aegpu::imaging::{
    add_gaussian_noise, denoise, Bundled, CollaborativeWiener, Image, TileOptions,
};
use aegpu::models::{Denoiser, DenoiserConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let repeats: usize = args.get(1).map_or(Ok(1), |a| a.parse())?;
    let mut backend: Box<dyn Backend> = match args.first().map(String::as_str) {
        Some("gpu") => Box::new(GpuBackend::new(&GpuOptions {
            allow_software: true,
            ..GpuOptions::default()
        })?),
        _ => Box::new(CpuBackend::<f32>::new()),
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/photos/test");
    let mut photos = vec![];
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "png") {
            let image = Image::load(&path)?;
            if image.channels() == 3 {
                photos.push(image);
            }
        }
    }
    let pixels: usize = photos.iter().map(|p| p.width() * p.height()).sum();
    println!(
        "backend: {}; {} colour photos, {:.2} Mpixel; best of {repeats}",
        backend.describe(),
        photos.len(),
        pixels as f64 / 1e6
    );
    println!(
        "{:<34} {:>10} {:>14} {:>10}",
        "model", "parameters", "MACs / pixel", "Mpixel/s"
    );
    let bundled = Bundled::Colour.load()?;
    let mut models: Vec<(String, Denoiser)> = vec![];
    for (width, depth) in [(16, 5), (32, 8), (64, 17)] {
        let mut config = DenoiserConfig::blind(3, 40, width, depth);
        config.batch_norm = false;
        let name = format!("width {width}, depth {depth}");
        models.push((name, Denoiser::new(config, 0)?));
    }
    for (width, levels) in [(32, 2), (16, 3)] {
        let config = DenoiserConfig::unet(3, 48, width, levels, 2);
        let name = format!("U-Net {levels} levels, width {width}, d 2");
        models.push((name, Denoiser::new(config, 0)?));
    }
    models.insert(
        2,
        (
            format!("bundled colour ({})", bundled.config.describe()),
            bundled.clone(),
        ),
    );
    for (name, model) in &models {
        let macs = model.config.macs_per_pixel();
        let mut best = f64::INFINITY;
        for pass in 0..=repeats {
            let start = Instant::now();
            for photo in &photos {
                denoise(
                    model,
                    backend.as_mut(),
                    photo,
                    TileOptions::for_model(model)?,
                )?;
            }
            if pass > 0 {
                best = best.min(start.elapsed().as_secs_f64());
            }
        }
        println!(
            "{name:<34} {:>10} {:>14} {:>10.2}",
            aegpu::models::Autoencoder::parameter_count(model),
            macs,
            pixels as f64 / 1e6 / best
        );
    }
    // `aegpu denoise`'s default second step, on the photos with σ = 25 noise (the
    // groups, and so the time, depend on the noise): the bundled model's output
    // refined by collaborative Wiener filtering, on the CPU's threads.
    let mut inputs = vec![];
    for (k, photo) in photos.iter().enumerate() {
        let noisy = add_gaussian_noise(photo, 25.0, k as u64);
        let pilot = denoise(
            &bundled,
            backend.as_mut(),
            &noisy,
            TileOptions::for_model(&bundled)?,
        )?;
        inputs.push((noisy, pilot));
    }
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        for (noisy, pilot) in &inputs {
            CollaborativeWiener::default().refine_blind(noisy, pilot)?;
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{:<34} {:>10} {:>14} {:>10.2}",
        "Wiener refinement alone (σ = 25)",
        "",
        "",
        pixels as f64 / 1e6 / best
    );
    Ok(())
}
