//! The blind denoiser (`--model denoiser`, `src/models/denoiser.rs`) and what
//! `aegpu denoise` builds on it (`src/imaging/`):
//!
//! 1. Blind training draws one noise level per patch, uniform on [σ_min, σ_max]: a
//!    network that outputs its noisy input scores E[σ²] = (σ_max³ − σ_min³) / 3(σ_max − σ_min).
//! 2. A small blind model trained on the bundled photos improves noisy photos at two
//!    noise levels it was never told.
//! 3. Tiled inference equals whole-image inference (batch norm on running statistics),
//!    for the U-Net too, whose tiles stay on its grid of 2^L pixels; a pixel's change
//!    reaches no further than the receptive radius the tiles' margins are made of; the
//!    U-Net trains and denoises alike on the CPU and on the GPU backend.
//! 4. Channels: colour models take colour images, grey ones grey; a grey model on a
//!    colour image falls back per channel only when allowed; the refusals say why.
//! 5. The noise-level estimate finds the σ of synthetic noise, on a flat and a real image.
//! 6. The bundled models load from the binary through the model-file checks.

use std::path::Path;

#[path = "common/cli.rs"]
mod cli;
#[path = "common/gpu.rs"]
mod gpu;

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::Dataset;
use aegpu::imaging::{
    add_gaussian_noise, denoise, estimate_noise_sigma, psnr, Bundled, Channels, DenoiseError,
    Image, ImageShape, PatchSampler, Symmetry, TileOptions,
};
use aegpu::models::{registry, Autoencoder, Denoiser, DenoiserConfig};
use aegpu::train::{fit, Schedule, TrainConfig};
use cli::aegpu;

fn photo(name: &str) -> Image {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/photos")
        .join(name);
    Image::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The top-left `size` × `size` corner of `image`.
fn crop(image: &Image, size: usize) -> Image {
    crop_to(image, size, size)
}

/// The top-left `height` × `width` corner of `image`.
fn crop_to(image: &Image, height: usize, width: usize) -> Image {
    let c = image.channels();
    let mut data = Vec::with_capacity(c * height * width);
    for k in 0..c {
        for y in 0..height {
            data.extend((0..width).map(|x| image.get(k, y, x)));
        }
    }
    Image::new(ImageShape::new(c, height, width), data).unwrap()
}

/// The output convolution starts at zero (an untrained denoiser is the identity):
/// tests of what the body computes give it small fixed weights.
fn randomise_output(model: &mut Denoiser) {
    let ids = model.parameters();
    let weight = ids[ids.len() - 2];
    let n = model.store.values(weight).len();
    let values = (0..n).map(|i| 0.2 * (i as f32 * 0.77).sin()).collect();
    model.store.set_values(weight, values);
}

/// Running statistics away from their defaults, so an eval-mode batch norm matters.
fn move_running_statistics(model: &mut Denoiser) {
    for id in model.buffers() {
        let n = model.store.values(id).len();
        let name = model.store.get(id).name.clone();
        let value = if name.ends_with("running_var") {
            1.7
        } else {
            0.05
        };
        model.store.set_values(id, vec![value; n]);
    }
}

/// The largest absolute difference between two images of one shape.
fn worst_difference(a: &Image, b: &Image) -> f32 {
    a.data()
        .iter()
        .zip(b.data())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

/// The mean training loss of one epoch of a denoiser whose output convolution is zero
/// (so x̂ = x̃ and the loss is the noise's own mean square), learning rate ~0.
fn identity_loss(sigma_min: f32, sigma_max: f32) -> f32 {
    let mut config = DenoiserConfig::blind(1, 4, 2, 2);
    config.sigma_min = sigma_min;
    config.sigma_max = sigma_max;
    let mut model = Denoiser::new(config, 3).unwrap();
    let ids = model.parameters();
    for &id in &ids[ids.len() - 2..] {
        let n = model.store.values(id).len();
        model.store.set_values(id, vec![0.0; n]);
    }
    let rows = 8192;
    let data = Dataset::new(rows, 16, vec![0.5; rows * 16]).unwrap();
    let cfg = TrainConfig {
        epochs: 1,
        batch: 256,
        lr: 1e-12,
        seed: 5,
        ..TrainConfig::default()
    };
    let mut cpu = CpuBackend::<f32>::new();
    let report = fit(&mut model, &mut cpu, &data, None, &cfg, &mut |_| {}).unwrap();
    report.epochs[0].train_loss
}

// 1. Blind noise levels ------------------------------------------------------------------

#[test]
fn blind_training_draws_uniform_noise_levels_per_patch() {
    // Uniform σ on [0, 0.2]: E[σ²] = 0.04 / 3. Per row σ² has a relative spread of 0.89,
    // so 8192 rows (each 16 values of z²) give the mean within about 1.2 %: 4 % is wide.
    let loss = identity_loss(0.0, 0.2);
    let expected = 0.2f32.powi(2) / 3.0;
    assert!(
        (loss / expected - 1.0).abs() < 0.04,
        "loss {loss}, E[σ²] {expected}"
    );
    // [0.1, 0.3]: (0.027 − 0.001) / 0.6 = 0.04333; a fixed σ = 0.2 would give 0.04 and
    // the mean of σ², not of σ, is what a uniform level makes.
    let loss = identity_loss(0.1, 0.3);
    let expected = (0.3f32.powi(3) - 0.1f32.powi(3)) / (3.0 * 0.2);
    assert!(
        (loss / expected - 1.0).abs() < 0.04,
        "loss {loss}, E[σ²] {expected}"
    );
    // One level: the loss is σ² itself.
    let loss = identity_loss(0.1, 0.1);
    assert!((loss / 0.01 - 1.0).abs() < 0.02, "loss {loss}");
}

// 2. A trained blind model --------------------------------------------------------------

#[test]
fn a_small_blind_model_improves_photos_at_levels_it_was_not_told() {
    let train: Vec<Image> = ["train/camera.png", "train/brick.png", "train/coins.png"]
        .iter()
        .map(|p| photo(p).to_gray())
        .collect();
    let mut sampler = PatchSampler::new(train, 24, 11).unwrap();
    let patches = Dataset::new(768, 24 * 24, sampler.sample(768)).unwrap();
    let mut stack = DenoiserConfig::blind(1, 24, 12, 5);
    stack.batch_norm = false;
    // The U-Net body: 2 halvings, one convolution per level and side.
    let unet = DenoiserConfig::unet(1, 24, 8, 2, 1);
    for config in [stack, unet] {
        let mut model = Denoiser::new(config, 2).unwrap();
        let cfg = TrainConfig {
            epochs: 4,
            batch: 16,
            lr: 2e-3,
            seed: 4,
            schedule: Schedule::Cosine,
            ..TrainConfig::default()
        };
        let mut cpu = CpuBackend::<f32>::new();
        fit(&mut model, &mut cpu, &patches, None, &cfg, &mut |_| {}).unwrap();
        let clean = crop(&photo("test/ascent.png"), 96);
        for (sigma, gain) in [(15.0, 1.0), (40.0, 3.0)] {
            let noisy = add_gaussian_noise(&clean, sigma, 8);
            let out = denoise(&model, &mut cpu, &noisy, TileOptions::default()).unwrap();
            let (before, after) = (psnr(&noisy, &clean).unwrap(), psnr(&out, &clean).unwrap());
            assert!(
                after > before + gain,
                "{}, σ {sigma}: {before:.2} → {after:.2} dB, wanted +{gain}",
                model.describe()
            );
        }
    }
}

// 3. Tiles ------------------------------------------------------------------------------

/// A noisy 37 × 37 colour crop denoised by `model` in one tile (margins of `margin`
/// around the whole image) and in tiles of `tile`: the two must agree, and differ from
/// the input. Returns the image and the backend for further checks.
fn assert_tiles_equal_the_whole_image(
    model: &Denoiser,
    margin: usize,
    tile: usize,
) -> (Image, CpuBackend<f32>) {
    let image = add_gaussian_noise(&crop(&photo("test/china.png"), 37), 20.0, 1);
    let mut cpu = CpuBackend::<f32>::new();
    let exact = TileOptions {
        tile: 37 + 2 * margin,
        channels: Channels::Exact,
        ..TileOptions::default()
    };
    let whole = denoise(model, &mut cpu, &image, exact).unwrap();
    let tiled = denoise(model, &mut cpu, &image, TileOptions { tile, ..exact }).unwrap();
    let worst = worst_difference(&whole, &tiled);
    assert!(worst < 1e-5, "tiles differ by {worst}");
    let change = worst_difference(&whole, &image);
    assert!(change > 0.01, "the network did nothing ({change})");
    (image, cpu)
}

#[test]
fn tiled_inference_equals_the_whole_image_with_batch_norm() {
    let mut model = Denoiser::new(DenoiserConfig::blind(3, 8, 4, 4), 9).unwrap();
    randomise_output(&mut model);
    move_running_statistics(&mut model);
    let (image, mut cpu) = assert_tiles_equal_the_whole_image(&model, 4, 14);
    // Too small a tile for the 4-pixel margins is refused, not cropped.
    let small = TileOptions {
        tile: 8,
        channels: Channels::Exact,
        ..TileOptions::default()
    };
    let e = denoise(&model, &mut cpu, &image, small).unwrap_err();
    assert!(e.to_string().contains("margins"), "{e}");
}

#[test]
fn unet_tiles_stay_on_its_grid_and_equal_the_whole_image() {
    // 2 levels: the network halves the image twice, so it is shift-equivariant only by
    // multiples of 4 pixels; margins and tile origins are kept on that grid.
    let mut config = DenoiserConfig::unet(3, 8, 4, 2, 1);
    config.batch_norm = true;
    let mut model = Denoiser::new(config, 9).unwrap();
    randomise_output(&mut model);
    move_running_statistics(&mut model);
    // (2·1 + 2)(4 − 1) + 1·4 + 1: margins of 17, rounded up to 20 on the grid.
    assert_eq!(model.receptive_radius(), 17);
    // Centres of 8 pixels: the last of each row ends at 40, the side rounded up to
    // the grid, 3 pixels into the reflection.
    assert_tiles_equal_the_whole_image(&model, 20, 48);
}

#[test]
fn a_pixel_reaches_no_further_than_the_receptive_radius() {
    // A plain stack of 5 convolutions reaches 5 pixels; a U-Net of 2 levels with one
    // convolution per level and side 17, at a similar cost per pixel.
    let mut stack = DenoiserConfig::blind(1, 64, 4, 5);
    stack.batch_norm = false;
    let unet = DenoiserConfig::unet(1, 64, 4, 2, 1);
    let clean = crop(&photo("test/ascent.png").to_gray(), 64);
    let mut cpu = CpuBackend::<f32>::new();
    for (config, radius) in [(stack, 5), (unet, 17)] {
        let mut model = Denoiser::new(config, 5).unwrap();
        randomise_output(&mut model);
        assert_eq!(model.receptive_radius(), radius);
        let whole = TileOptions {
            tile: 64 + 2 * 20,
            channels: Channels::Exact,
            ..TileOptions::default()
        };
        let before = denoise(&model, &mut cpu, &clean, whole).unwrap();
        let mut poked = clean.clone();
        poked.data_mut()[32 * 64 + 32] += 0.5;
        let after = denoise(&model, &mut cpu, &poked, whole).unwrap();
        // The farthest pixel whose value moved, in the chessboard distance.
        let mut farthest = 0;
        for y in 0..64usize {
            for x in 0..64usize {
                let i = y * 64 + x;
                if (before.data()[i] - after.data()[i]).abs() > 0.0 {
                    farthest = farthest.max(y.abs_diff(32).max(x.abs_diff(32)));
                }
            }
        }
        assert!(
            farthest <= radius,
            "{}: moved {farthest} away",
            model.describe()
        );
        assert!(
            farthest > radius / 2,
            "{}: moved only {farthest} away",
            model.describe()
        );
    }
}

/// The self-ensemble averages the network over symmetries of the square, mapped back.
/// Over all eight the result is equivariant: denoising a turned or mirrored image
/// gives the turned or mirrored result (the network alone is not: its weights have no
/// symmetry). Over the first two it equals the mean of the two passes by hand.
#[test]
fn the_self_ensemble_averages_over_symmetries_mapped_back() {
    let mut model = Denoiser::new(DenoiserConfig::unet(3, 8, 4, 2, 1), 3).unwrap();
    randomise_output(&mut model);
    // Not square, and not a multiple of the U-Net's grid of 4.
    let image = crop_to(&photo("test/china.png"), 30, 27);
    let mut cpu = CpuBackend::<f32>::new();
    let with = |ensemble| TileOptions {
        ensemble,
        ..TileOptions::for_model(&model).unwrap()
    };
    let eight = denoise(&model, &mut cpu, &image, with(8)).unwrap();
    for s in Symmetry::ALL {
        let of_moved = denoise(&model, &mut cpu, &s.apply(&image), with(8)).unwrap();
        let worst = worst_difference(&of_moved, &s.apply(&eight));
        assert!(worst < 1e-5, "{s:?}: {worst}");
    }
    let single = denoise(&model, &mut cpu, &image, with(1)).unwrap();
    let mirror = Symmetry::ALL[1];
    assert!(
        worst_difference(&single, &eight) > 1e-3,
        "the network is symmetric already"
    );
    let mirrored =
        mirror.apply(&denoise(&model, &mut cpu, &mirror.apply(&image), with(1)).unwrap());
    let by_hand: Vec<f32> = single
        .data()
        .iter()
        .zip(mirrored.data())
        .map(|(a, b)| (a + b) / 2.0)
        .collect();
    let two = denoise(&model, &mut cpu, &image, with(2)).unwrap();
    assert!(worst_difference(&two, &Image::new(image.shape(), by_hand).unwrap()) < 1e-6);
    let e = denoise(&model, &mut cpu, &image, with(3)).unwrap_err();
    assert!(e.to_string().contains("use 1, 2, 4 or 8"), "{e}");
}

#[test]
fn unet_trains_and_denoises_alike_on_cpu_and_gpu() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let train = vec![photo("train/camera.png").to_gray()];
    let mut sampler = PatchSampler::new(train, 16, 3).unwrap();
    let patches = Dataset::new(64, 16 * 16, sampler.sample(64)).unwrap();
    let mut config = DenoiserConfig::unet(1, 16, 4, 2, 1);
    config.batch_norm = true;
    let cfg = TrainConfig {
        epochs: 2,
        batch: 16,
        lr: 2e-3,
        seed: 4,
        ..TrainConfig::default()
    };
    let noisy = add_gaussian_noise(&crop(&photo("test/ascent.png"), 40), 25.0, 8);
    let run = |backend: &mut dyn aegpu::backend::Backend| {
        let mut model = Denoiser::new(config.clone(), 2).unwrap();
        let report = fit(&mut model, backend, &patches, None, &cfg, &mut |_| {}).unwrap();
        let out = denoise(&model, backend, &noisy, TileOptions::default()).unwrap();
        (report.epochs.last().unwrap().train_loss, out)
    };
    let (cpu_loss, cpu_out) = run(&mut CpuBackend::<f32>::new());
    let (gpu_loss, gpu_out) = run(&mut gpu);
    assert!(
        (cpu_loss - gpu_loss).abs() <= 1e-3 * cpu_loss,
        "last epoch's loss: cpu {cpu_loss} gpu {gpu_loss}"
    );
    let worst = worst_difference(&cpu_out, &gpu_out);
    assert!(worst < 1e-3, "denoised images differ by {worst}");
    let change = worst_difference(&cpu_out, &noisy);
    assert!(change > 0.01, "the network did nothing ({change})");
}

#[test]
fn unet_configs_are_checked() {
    let good = DenoiserConfig::unet(3, 40, 32, 2, 2);
    assert!(good.validate().is_ok());
    let m = Denoiser::new(good, 0).unwrap();
    assert_eq!(m.describe(), "denoiser 3×40×40 unet2 w32 d2 σ 0–50");
    let names: Vec<String> = m
        .saved_entries()
        .iter()
        .map(|&id| m.store.get(id).name.clone())
        .collect();
    for name in [
        "down.0.0.weight",
        "downsample.1.weight",
        "bottom.1.bias",
        "upsample.0.weight",
        "up.1.1.weight",
        "output.weight",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
    // 36 is not a multiple of 8: three halvings do not fit.
    let e = DenoiserConfig::unet(3, 36, 32, 3, 2)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("multiples of 8"), "{e}");
    let e = DenoiserConfig::unet(3, 64, 32, 2, 0)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("at least 1 convolution"), "{e}");
    let e = DenoiserConfig::unet(3, 64, 4096, 2, 1)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("8192"), "{e}");
    // A saved U-Net loads as a U-Net, and its tiles take any image size.
    let dir = temp_dir("unet-file");
    let path = dir.join("unet.safetensors");
    m.save(&path, &Default::default()).unwrap();
    let (loaded, _) = registry::load(&path).unwrap();
    assert_eq!(loaded.describe(), m.describe());
}

// 4. Channels ---------------------------------------------------------------------------

#[test]
fn channel_policies_and_their_refusals() {
    let grey = Denoiser::new(DenoiserConfig::blind(1, 8, 2, 2), 0).unwrap();
    let colour = Denoiser::new(DenoiserConfig::blind(3, 8, 2, 2), 0).unwrap();
    let rgb = crop(&photo("test/china.png"), 20);
    let luma = rgb.to_gray();
    let mut cpu = CpuBackend::<f32>::new();
    let strict = TileOptions {
        tile: 16,
        channels: Channels::Exact,
        ..TileOptions::default()
    };
    let fallback = TileOptions {
        channels: Channels::PerChannel,
        ..strict
    };
    // A grey model on colour: refused when strict, per channel when allowed, and then
    // each channel is exactly the grey model on that channel alone.
    let e = denoise(&grey, &mut cpu, &rgb, strict).unwrap_err();
    assert!(matches!(e, DenoiseError::Channels { model: 1, image: 3 }));
    assert_eq!(
        e.to_string(),
        "the model denoises 1-channel images and this one has 3; allow the per-channel \
         fallback or use a colour model"
    );
    let per_channel = denoise(&grey, &mut cpu, &rgb, fallback).unwrap();
    let green = denoise(&grey, &mut cpu, &rgb.channel(1), strict).unwrap();
    assert_eq!(per_channel.channel(1).data(), green.data());
    // A colour model on colour works; on grey it is refused, fallback or not.
    assert_eq!(
        denoise(&colour, &mut cpu, &rgb, strict).unwrap().shape(),
        rgb.shape()
    );
    let e = denoise(&colour, &mut cpu, &luma, fallback).unwrap_err();
    assert!(e.to_string().contains("use a grey model"), "{e}");
}

// 5. Noise-level estimate ----------------------------------------------------------------

#[test]
fn the_noise_estimate_finds_sigma_on_flat_and_real_images() {
    let flat = Image::new(ImageShape::new(1, 128, 128), vec![0.5; 128 * 128]).unwrap();
    assert_eq!(estimate_noise_sigma(&flat), 0.0);
    for sigma in [5.0f32, 25.0, 50.0] {
        let e = estimate_noise_sigma(&add_gaussian_noise(&flat, sigma, 3));
        assert!((e / sigma - 1.0).abs() < 0.05, "flat σ {sigma}: {e}");
    }
    // A real photo's edges and texture add a little; the median keeps it small.
    let photo = crop(&photo("test/grace_hopper.png"), 256);
    for sigma in [15.0f32, 25.0, 50.0] {
        let e = estimate_noise_sigma(&add_gaussian_noise(&photo, sigma, 4));
        assert!(
            (e - sigma).abs() < 0.1 * sigma + 1.0,
            "photo σ {sigma}: {e}"
        );
    }
    // Too small to have an interior: 0, not a panic.
    let tiny = Image::new(ImageShape::new(3, 2, 5), vec![0.1; 30]).unwrap();
    assert_eq!(estimate_noise_sigma(&tiny), 0.0);
}

// 6. The bundled models -----------------------------------------------------------------

#[test]
fn bundled_models_load_through_the_model_file_checks() {
    for (which, channels) in [(Bundled::Grey, 1), (Bundled::Colour, 3)] {
        let model = which.load().unwrap();
        assert_eq!(model.config.input.channels, channels);
        assert_eq!(
            (
                model.config.sigma_min * 255.0,
                model.config.sigma_max * 255.0
            ),
            (0.0, 50.0)
        );
        assert_eq!(Bundled::for_channels(channels), which);
    }
    // The same loader refuses damaged bytes, naming the embedded path.
    let dir = std::env::temp_dir().join(format!("aegpu-denoiser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    let model = Denoiser::new(DenoiserConfig::blind(1, 8, 2, 2), 0).unwrap();
    model.save(&path, &Default::default()).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let (loaded, _) = registry::load_bytes(Path::new("<embedded>/m"), &bytes).unwrap();
    assert_eq!(loaded.kind(), "denoiser");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    let e = registry::load_bytes(Path::new("<embedded>/m"), &bytes)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("<embedded>/m"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

// 7. The command line --------------------------------------------------------------------

/// An 8 × 8 CMYK JPEG (Adobe APP14, 4 components) made by Pillow from a crop of
/// `test/china.png`.
const CMYK_JPEG: &[u8] = &[
    0xff, 0xd8, 0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x03, 0x02, 0x02, 0x03, 0x02, 0x02, 0x03, 0x03, 0x03,
    0x03, 0x04, 0x03, 0x03, 0x04, 0x05, 0x08, 0x05, 0x05, 0x04, 0x04, 0x05, 0x0a, 0x07, 0x07, 0x06,
    0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a, 0x0b, 0x0b, 0x0d, 0x0e, 0x12, 0x10, 0x0d, 0x0e, 0x11,
    0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10, 0x11, 0x13, 0x14, 0x15, 0x15, 0x15, 0x0c, 0x0f, 0x17, 0x18,
    0x16, 0x14, 0x18, 0x12, 0x14, 0x15, 0x14, 0xff, 0xc0, 0x00, 0x14, 0x08, 0x00, 0x08, 0x00, 0x08,
    0x04, 0x43, 0x11, 0x00, 0x4d, 0x11, 0x00, 0x59, 0x11, 0x00, 0x4b, 0x11, 0x00, 0xff, 0xc4, 0x00,
    0x15, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x08, 0x09, 0xff, 0xc4, 0x00, 0x22, 0x10, 0x00, 0x02, 0x02, 0x01, 0x03, 0x04, 0x03,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x02, 0x04, 0x11, 0x00, 0x12,
    0x13, 0x05, 0x14, 0x21, 0x31, 0x06, 0x07, 0x16, 0xff, 0xda, 0x00, 0x0e, 0x04, 0x43, 0x00, 0x4d,
    0x00, 0x59, 0x00, 0x4b, 0x00, 0x00, 0x3f, 0x00, 0x4c, 0xbf, 0xe6, 0x74, 0x87, 0x4f, 0x2d, 0x57,
    0x3b, 0xdb, 0x0a, 0xd6, 0x2e, 0x0a, 0xcb, 0x84, 0x43, 0x0f, 0x6f, 0xb7, 0x95, 0x58, 0x27, 0xc3,
    0x22, 0x27, 0x19, 0x63, 0xd1, 0x07, 0x39, 0xd3, 0x27, 0xf6, 0xb4, 0x36, 0xcc, 0xac, 0xb9, 0xcd,
    0x15, 0xef, 0x33, 0xb7, 0x0b, 0x88, 0x66, 0xea, 0x9b, 0x79, 0x95, 0x83, 0x2f, 0x13, 0xc4, 0xe0,
    0x40, 0xf4, 0x41, 0xce, 0x74, 0xf4, 0x97, 0xd9, 0x5d, 0x1f, 0x84, 0xcd, 0x73, 0x6b, 0x9a, 0x2b,
    0xdc, 0x7f, 0x6d, 0x08, 0x44, 0x30, 0x9a, 0xbb, 0x79, 0x95, 0x82, 0x7c, 0x4c, 0x09, 0xc0, 0x81,
    0xe8, 0x83, 0x9c, 0xea, 0xa9, 0xeb, 0xff, 0xd9,
];

/// A fresh, empty folder for one test.
fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = cli::temp(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn cli_picks_the_bundled_model_by_channels_and_estimates_the_noise() {
    let dir = temp_dir("bundled");
    let colour = add_gaussian_noise(&crop(&photo("test/china.png"), 48), 20.0, 1);
    let grey = add_gaussian_noise(&crop(&photo("test/ascent.png"), 40), 20.0, 2);
    let (c, g) = (dir.join("colour.png"), dir.join("grey.png"));
    colour.save_png(&c).unwrap();
    grey.save_png(&g).unwrap();
    let out = aegpu(&[
        "denoise",
        "--input",
        c.to_str().unwrap(),
        g.to_str().unwrap(),
        "--output",
        dir.join("out").to_str().unwrap(),
        "--backend",
        "cpu",
        "--ensemble",
        "4",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("model bundled colour") && stderr.contains("model bundled grey"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ensemble"], 4);
    let images = report["images"].as_array().unwrap();
    assert_eq!(images[0]["model"], "bundled colour");
    assert_eq!(images[1]["model"], "bundled grey");
    for image in images {
        // The PNG rounding and clipping move σ = 20 a little; the estimate stays near it.
        let e = image["estimated_sigma_255"].as_f64().unwrap();
        assert!((e - 20.0).abs() < 4.0, "{image}");
        assert!(image["sigma_warning"].is_null(), "{image}");
    }
}

#[test]
fn cli_says_what_it_does_with_unusual_images_and_noise_levels() {
    let dir = temp_dir("unusual");
    let clean = crop(&photo("test/china.png"), 32);
    let to_u8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let (w, h) = (32u32, 32u32);
    let pixel = |c: usize, i: usize| clean.plane(c)[i];
    let rgba: Vec<u8> = (0..32 * 32)
        .flat_map(|i| {
            [
                to_u8(pixel(0, i)),
                to_u8(pixel(1, i)),
                to_u8(pixel(2, i)),
                200,
            ]
        })
        .collect();
    image::RgbaImage::from_raw(w, h, rgba)
        .unwrap()
        .save(dir.join("alpha.png"))
        .unwrap();
    let grey16: Vec<u16> = (0..32 * 32)
        .map(|i| (pixel(1, i) * 65535.0) as u16)
        .collect();
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w, h, grey16)
        .unwrap()
        .save(dir.join("deep.png"))
        .unwrap();
    std::fs::write(dir.join("cmyk.jpg"), CMYK_JPEG).unwrap();
    // σ = 80: beyond the bundled models' 0–50.
    add_gaussian_noise(&clean, 80.0, 3)
        .save_png(dir.join("loud.png"))
        .unwrap();
    let names = ["alpha.png", "deep.png", "cmyk.jpg", "loud.png"];
    let inputs: Vec<String> = names
        .iter()
        .map(|n| dir.join(n).display().to_string())
        .collect();
    let mut args = vec!["denoise", "--input"];
    args.extend(inputs.iter().map(|s| s.as_str()));
    let out_dir = dir.join("out").display().to_string();
    args.extend(["--output", &out_dir, "--backend", "cpu"]);
    let out = aegpu(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for expected in [
        "alpha.png: its alpha channel is dropped",
        "deep.png: 16-bit samples",
        "cmyk.jpg: a CMYK image: converted to RGB",
        "loud.png: estimated noise σ ≈",
        "above the 0–50 the model was trained on",
    ] {
        assert!(
            stderr.contains(expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    let cmyk = Image::load(dir.join("out/cmyk.png")).unwrap();
    assert_eq!(cmyk.shape(), ImageShape::new(3, 8, 8));
}

#[test]
fn cli_grey_model_on_colour_falls_back_per_channel_or_refuses() {
    let dir = temp_dir("grey-on-colour");
    let model = dir.join("grey.safetensors");
    Denoiser::new(DenoiserConfig::blind(1, 8, 2, 2), 0)
        .unwrap()
        .save(&model, &Default::default())
        .unwrap();
    let input = dir.join("colour.png");
    crop(&photo("test/china.png"), 24).save_png(&input).unwrap();
    let run = |extra: &[&str], out: &str| {
        let out = dir.join(out).display().to_string();
        let mut args = vec![
            "denoise",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            &out,
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        aegpu(&args)
    };
    let out = run(&[], "a");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("each channel is denoised on its own"),
        "{stderr}"
    );
    let out = run(&["--strict-channels"], "b");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("denoises 1-channel images and this one has 3"),
        "{stderr}"
    );
    assert!(!dir.join("b/colour.png").exists());
}
