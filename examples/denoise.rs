//! The image-denoising program: trains a residual convolutional denoising autoencoder
//! (the network predicts the noise, x̂ = x̃ − net(x̃)) on random patches of the bundled
//! training photos with fresh Gaussian noise at every step, saves it, denoises the
//! bundled held-out photos, writes triptychs (noisy | denoised | clean) and prints
//! PSNR/SSIM per image beside the noisy input and two classical baselines computed
//! here: the Gaussian filter with the best σ for each image (an oracle choice) and
//! non-local means.
//!
//!     cargo run --release --example denoise
//!     cargo run --release --example denoise -- --epochs 8 --sigma 15 --backend gpu
//!
//! The default network is the blind denoiser kind with a U-Net body of 3 levels, width
//! 16, 2 convolutions per level and side, trained at the one test σ on 7 epochs of
//! 8,192 patches of 48 × 48 in batches of 16: of the architectures
//! `scripts/compare_denoiser_archs.sh` compares, the one with the most PSNR per second
//! of training. At this budget the number of updates counts more than their size:
//! batches of 16 gave 29.40 dB where 32 gave 29.15 (both at learning rate 2e-3; 1e-3
//! and 3e-3 with batches of 16 gave 29.19 and 29.33), and 2,048 patches of 96 × 96
//! (the same pixels in a quarter of the updates) 28.28.
//!
//! Beside its own model it prints the row of the blind model bundled in the binary
//! (`aegpu denoise`'s default) on the same noisy photos, and a last line with both after
//! the collaborative Wiener refinement `aegpu denoise` applies by default
//! (`CollaborativeWiener`, for the noise level each network removed).
//!
//! Flags: --epochs N, --sigma S (0–255 scale; the test noise, and the training noise
//! unless --blind), --patch P, --patches N (per epoch), --width C, --depth D
//! (convolutions in all; per level and side for the U-Net), --batch B, --lr LR,
//! --backend auto|cpu|gpu, --out DIR, --seed S, and:
//!
//! - `--colour yes`: colour patches and photos (3 channels in and out, denoised
//!   jointly; a grey photo as three equal channels). Default: grey (luma), as the usual
//!   benchmarks (BSD68, Set12) are. Colour patches come with their channels in one of
//!   their six orders (`PatchSampler::permuting_channels`) unless `--permute-channels no`.
//! - `--arch conv|dncnn|dncnn-bn|unet`: the residual conv model (`ConvConfig::denoiser`),
//!   the blind denoiser kind (`DenoiserConfig`) as a plain stack without or with batch
//!   norm, or with a U-Net body of `--unet-levels L` halvings (default 3) and `--depth`
//!   3×3 convolutions per level and side (`DenoiserConfig::unet`, the default).
//! - `--blind MIN,MAX` (dncnn and unet kinds): train over noise levels drawn per patch in
//!   [MIN, MAX] (DnCNN-B: 0,50) instead of the one --sigma.
//! - `--init-from PATH` (dncnn and unet kinds): continue training a saved blind denoiser
//!   (on patches of --patch, which may differ from those it was trained on).
//! - `--train-dir DIR`: train on the PNGs in DIR instead of `data/photos/train`.
//! - `--model-out PATH`: also save the model there (how the bundled models were made:
//!   `scripts/train_bundled_denoisers.sh`).
//! - `--ensemble N`: denoise the test photos under 1, 2, 4 or 8 symmetries of the
//!   square and average (the self-ensemble, `TileOptions::ensemble`; N times slower).
//!   Default 2 (the photo and its mirror image): on the 26 photos before the last
//!   fourteen, 29.60 dB where one pass gave 29.49,
//!   for 7 more seconds per model; 1 in the side-by-side table, as `aegpu denoise`.
//! - `--side-by-side noisy:DIR` / `table:DIR`: no training; write the noisy test photos
//!   at σ = 15, 25, 50 for `scripts/bm3d_side_by_side.py`, then score the bundled
//!   models beside (C)BM3D (see [`side_by_side`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aegpu::backend::select::{select, BackendChoice};
use aegpu::data::Dataset;
use aegpu::imaging::{
    add_gaussian_noise, as_denoiser, best_gaussian_filter, denoise, psnr, save_triptych, ssim,
    Bundled, CollaborativeWiener, DenoiseError, Image, ImageShape, NonLocalMeans, PatchSampler,
    TileOptions, TiledDenoiser,
};
use aegpu::models::{Autoencoder, ConvAutoencoder, ConvConfig, Denoiser, DenoiserConfig};
use aegpu::ops::Noise;
use aegpu::train::{fit, Progress, Regularization, Schedule, TrainConfig};

struct Options {
    epochs: usize,
    sigma: f32,
    patch: usize,
    patches: usize,
    width: usize,
    depth: usize,
    batch: usize,
    lr: f32,
    backend: BackendChoice,
    out: PathBuf,
    seed: u64,
    colour: bool,
    arch: Arch,
    blind: Option<(f32, f32)>,
    model_out: Option<PathBuf>,
    side_by_side: Option<(PathBuf, String)>,
    init_from: Option<PathBuf>,
    unet_levels: usize,
    /// Default: 2 for the run's photos, 1 in the side-by-side table (`aegpu denoise`'s).
    ensemble: Option<usize>,
    permute_channels: bool,
    /// Where the training photos are (every PNG in it); default `data/photos/train`.
    train_dir: Option<PathBuf>,
}

/// The network trained.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Arch {
    /// `ConvConfig::denoiser`: `depth` convolutions (even), relu, no batch norm.
    Conv,
    /// `DenoiserConfig` without batch norm.
    Dncnn,
    /// `DenoiserConfig` with batch norm after each middle convolution (DnCNN).
    DncnnBn,
    /// `DenoiserConfig::unet`: a U-Net body.
    Unet,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        epochs: 7,
        sigma: 25.0,
        patch: 48,
        patches: 8192,
        width: 16,
        depth: 2,
        batch: 16,
        lr: 2e-3,
        backend: BackendChoice::Auto,
        out: PathBuf::from("denoise-out"),
        seed: 1,
        colour: false,
        arch: Arch::Unet,
        blind: None,
        model_out: None,
        side_by_side: None,
        init_from: None,
        unet_levels: 3,
        ensemble: None,
        permute_channels: true,
        train_dir: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let value = args
            .get(i + 1)
            .ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag {
            "--epochs" => o.epochs = value.parse().map_err(|e| bad(&e))?,
            "--sigma" => o.sigma = value.parse().map_err(|e| bad(&e))?,
            "--patch" => o.patch = value.parse().map_err(|e| bad(&e))?,
            "--patches" => o.patches = value.parse().map_err(|e| bad(&e))?,
            "--width" => o.width = value.parse().map_err(|e| bad(&e))?,
            "--depth" => o.depth = value.parse().map_err(|e| bad(&e))?,
            "--batch" => o.batch = value.parse().map_err(|e| bad(&e))?,
            "--lr" => o.lr = value.parse().map_err(|e| bad(&e))?,
            "--backend" => o.backend = value.parse().map_err(|e: String| bad(&e))?,
            "--out" => o.out = PathBuf::from(value),
            "--seed" => o.seed = value.parse().map_err(|e| bad(&e))?,
            "--colour" => o.colour = yes_or_no(value).map_err(|e| bad(&e))?,
            "--permute-channels" => o.permute_channels = yes_or_no(value).map_err(|e| bad(&e))?,
            "--arch" => {
                o.arch = match value.as_str() {
                    "conv" => Arch::Conv,
                    "dncnn" => Arch::Dncnn,
                    "dncnn-bn" => Arch::DncnnBn,
                    "unet" => Arch::Unet,
                    _ => return Err(bad(&"expected conv, dncnn, dncnn-bn or unet")),
                }
            }
            "--blind" => {
                let (lo, hi) = value
                    .split_once(',')
                    .ok_or_else(|| bad(&"expected MIN,MAX"))?;
                o.blind = Some((
                    lo.parse().map_err(|e| bad(&e))?,
                    hi.parse().map_err(|e| bad(&e))?,
                ));
            }
            "--model-out" => o.model_out = Some(PathBuf::from(value)),
            "--init-from" => o.init_from = Some(PathBuf::from(value)),
            "--train-dir" => o.train_dir = Some(PathBuf::from(value)),
            "--unet-levels" => o.unet_levels = value.parse().map_err(|e| bad(&e))?,
            "--ensemble" => o.ensemble = Some(value.parse().map_err(|e| bad(&e))?),
            "--side-by-side" => {
                let (stage, dir) = value
                    .split_once(':')
                    .ok_or_else(|| bad(&"expected noisy:DIR or table:DIR"))?;
                if stage != "noisy" && stage != "table" {
                    return Err(bad(&"the stage is noisy or table"));
                }
                o.side_by_side = Some((PathBuf::from(dir), stage.to_string()));
            }
            other => return Err(format!("unknown flag {other} (see the file's header)")),
        }
        i += 2;
    }
    if o.epochs == 0 || o.patches == 0 || o.batch == 0 || o.depth == 0 || o.width == 0 {
        return Err("epochs, patches, batch, width and depth must be at least 1".into());
    }
    if !(o.sigma > 0.0 && o.sigma.is_finite()) {
        return Err(format!("--sigma must be > 0, got {}", o.sigma));
    }
    Ok(o)
}

/// `yes` or `no` as a flag's value.
fn yes_or_no(value: &str) -> Result<bool, &'static str> {
    match value {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("expected yes or no"),
    }
}

/// The PNGs of a bundled photo folder, sorted by name: grey, or colour (a grey photo
/// as three equal channels) when `colour`.
fn photos(dir: &Path, colour: bool) -> Result<Vec<(String, Image)>, Box<dyn std::error::Error>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let image = Image::load(&p)?;
            let image = match (colour, image.channels()) {
                (false, _) => image.to_gray(),
                (true, 1) => Image::from_channels(&[image.clone(), image.clone(), image])?,
                (true, _) => image,
            };
            Ok((name, image))
        })
        .collect()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let o = parse()?;
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/photos");
    let selected = select(o.backend, None)?;
    let mut backend = selected.backend;
    println!("{}", selected.reason);
    if let Some((dir, stage)) = &o.side_by_side {
        return side_by_side(
            &data.join("test"),
            dir,
            stage == "noisy",
            o.ensemble.unwrap_or(1),
            backend.as_mut(),
        );
    }
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;

    // Training patches: clean; the noise is added inside the training step (a fresh
    // draw at every step, on the device), so each epoch sees new noise.
    let started = Instant::now();
    let train_dir = o.train_dir.clone().unwrap_or_else(|| data.join("train"));
    let train_photos = photos(&train_dir, o.colour)?;
    let photo_count = train_photos.len();
    let mut sampler = PatchSampler::new(
        train_photos.into_iter().map(|(_, im)| im).collect(),
        o.patch,
        o.seed,
    )?
    .permuting_channels(o.permute_channels);
    let patches = Dataset::new(o.patches, sampler.patch_len(), sampler.sample(o.patches))?;
    println!(
        "data: {} {} patches of {p}×{p} from the {} training photos, test σ = {} ({:.1}s)",
        o.patches,
        if o.colour { "colour" } else { "grey" },
        photo_count,
        o.sigma,
        started.elapsed().as_secs_f64(),
        p = o.patch
    );

    let channels = if o.colour { 3 } else { 1 };
    // The conv model is trained on one σ by the engine's input noise; the blind
    // denoiser draws its own σ per patch from its range (one σ when not --blind).
    let (lo, hi) = o.blind.unwrap_or((o.sigma, o.sigma));
    let mut model: Box<dyn Autoencoder> = match o.arch {
        Arch::Conv => {
            if o.depth % 2 != 0 || o.blind.is_some() {
                return Err("--arch conv takes an even --depth and no --blind".into());
            }
            let mut config = ConvConfig::denoiser(channels, o.patch, o.width, o.depth / 2);
            config.noise_sigma = Some(o.sigma / 255.0);
            Box::new(ConvAutoencoder::new(config, o.seed)?)
        }
        Arch::Dncnn | Arch::DncnnBn | Arch::Unet if o.init_from.is_some() => {
            // Training continues from a saved blind denoiser (its architecture and range).
            let path = o.init_from.as_deref().expect("checked");
            let (loaded, _) = aegpu::models::registry::load(path)?;
            let model = as_denoiser_clone(loaded.as_ref()).ok_or("--init-from: not a denoiser")?;
            // The network is fully convolutional: it may go on with another patch size.
            let model = model
                .with_input(ImageShape::new(channels, o.patch, o.patch))
                .map_err(|e| format!("--init-from: {e}"))?;
            Box::new(model)
        }
        Arch::Dncnn | Arch::DncnnBn | Arch::Unet => {
            let mut config = if o.arch == Arch::Unet {
                DenoiserConfig::unet(channels, o.patch, o.width, o.unet_levels, o.depth)
            } else {
                DenoiserConfig::blind(channels, o.patch, o.width, o.depth)
            };
            config.batch_norm = o.arch == Arch::DncnnBn;
            config.sigma_min = lo / 255.0;
            config.sigma_max = hi / 255.0;
            Box::new(Denoiser::new(config, o.seed)?)
        }
    };
    let input_noise = (o.arch == Arch::Conv).then_some(Noise::Gaussian {
        sigma: o.sigma / 255.0,
    });
    let cfg = TrainConfig {
        epochs: o.epochs,
        batch: o.batch,
        lr: o.lr,
        seed: o.seed,
        schedule: Schedule::Cosine,
        regularization: Regularization {
            noise: input_noise,
            ..Regularization::default()
        },
        ..TrainConfig::default()
    };
    println!(
        "model: {}, {} parameters, trained on σ {lo}–{hi}",
        model.describe(),
        model.parameter_count()
    );
    let started = Instant::now();
    let report = fit(
        model.as_mut(),
        backend.as_mut(),
        &patches,
        None,
        &cfg,
        &mut |p| {
            if let Progress::Epoch(e) = p {
                eprintln!(
                    "epoch {:>2}: train MSE {:.6} (PSNR {:.2} dB on patches), {:.0} patches/s",
                    e.epoch,
                    e.train_loss,
                    -10.0 * e.train_loss.log10(),
                    e.samples_per_s
                );
            }
        },
    )?;
    let train_seconds = started.elapsed().as_secs_f64();
    if let Some(table) = backend.op_profile_table(12) {
        eprintln!("training time per op (AEGPU_PROFILE):");
        eprint!("{table}");
    }
    let model_path = o.out.join("model.safetensors");
    let mut meta = BTreeMap::new();
    meta.insert(
        "aegpu.training".into(),
        serde_json::json!({
            "epochs": o.epochs, "patches": o.patches, "patch": o.patch, "sigma": [lo, hi],
            "seed": o.seed, "colour": o.colour, "lr": o.lr, "batch": o.batch,
            "permute_channels": o.colour && o.permute_channels, "train_photos": photo_count,
            // A continued model: the file it started from (whose own record this replaces).
            "init_from": o.init_from.as_ref().map(|p| p.display().to_string()),
        })
        .to_string(),
    );
    model.save(&model_path, &meta)?;
    if let Some(path) = &o.model_out {
        model.save(path, &meta)?;
    }
    let net = as_denoiser(model.as_ref()).ok_or("the model is not a tiled denoiser")?;
    println!(
        "train: {} epochs in {train_seconds:.1}s ({:.0} patches/s, {:.2} Mpixel/s), saved {}",
        report.epochs.len(),
        report.samples_per_s,
        report.samples_per_s * (o.patch * o.patch) as f64 / 1e6,
        model_path.display()
    );

    // Held-out photos: noise, the baselines, the network.
    let test = photos(&data.join("test"), o.colour)?;
    println!(
        "\n{:<14} {:>9}  {:>15}  {:>19}  {:>15}  {:>15}  {:>15}",
        "image", "size", "noisy", "Gaussian (best σ)", "non-local means", "autoencoder", "bundled"
    );
    // The blind model bundled in the binary (what `aegpu denoise` uses by default),
    // on the same noisy photos.
    // A run that makes a bundled model (--model-out) compares it with nothing bundled.
    let bundled = match &o.model_out {
        None => Bundled::for_channels(channels).load()?,
        Some(_) => as_denoiser_clone(model.as_ref()).ok_or("not a blind denoiser")?,
    };
    let (mut sums, mut ae_seconds, mut nlm_seconds, mut pixels) = ([0.0f64; 10], 0.0, 0.0, 0.0);
    let (mut bundled_seconds, mut refine_seconds) = (0.0, 0.0);
    // PSNR of this run's model and of the bundled one after Wiener refinement.
    let mut refined_sums = [0.0f64; 2];
    let ensemble = o.ensemble.unwrap_or(2);
    for (k, (name, clean)) in test.iter().enumerate() {
        let noisy = add_gaussian_noise(clean, o.sigma, 1000 + k as u64);
        let gauss = best_gaussian_filter(
            &noisy,
            clean,
            &[0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.7, 2.0, 2.5],
        )?;
        let t = Instant::now();
        let nlm = NonLocalMeans::default().denoise(&noisy, o.sigma)?;
        nlm_seconds += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let denoised = denoise(net, backend.as_mut(), &noisy, tiles(net, ensemble)?)?;
        ae_seconds += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let by_bundled = denoise(
            &bundled,
            backend.as_mut(),
            &noisy,
            tiles(&bundled, ensemble)?,
        )?;
        bundled_seconds += t.elapsed().as_secs_f64();
        let t = Instant::now();
        refined_sums[0] += psnr(&refine(&noisy, &denoised)?, clean)?;
        refine_seconds += t.elapsed().as_secs_f64();
        refined_sums[1] += psnr(&refine(&noisy, &by_bundled)?, clean)?;
        pixels += (clean.height() * clean.width()) as f64;
        let figures = [
            psnr(&noisy, clean)?,
            ssim(&noisy, clean)?,
            gauss.psnr,
            ssim(&gauss.image, clean)?,
            psnr(&nlm, clean)?,
            ssim(&nlm, clean)?,
            psnr(&denoised, clean)?,
            ssim(&denoised, clean)?,
            psnr(&by_bundled, clean)?,
            ssim(&by_bundled, clean)?,
        ];
        for (s, f) in sums.iter_mut().zip(figures) {
            *s += f;
        }
        println!(
            "{name:<14} {:>9}  {:>6.2} dB {:.3}  {:>6.2} dB {:.3} σ={:<3}  {:>6.2} dB {:.3}  {:>6.2} dB {:.3}  {:>6.2} dB {:.3}",
            format!("{}×{}", clean.height(), clean.width()),
            figures[0], figures[1], figures[2], figures[3], gauss.sigma, figures[4], figures[5],
            figures[6], figures[7], figures[8], figures[9]
        );
        save_triptych(
            o.out.join(format!("{name}.png")),
            &[&noisy, &denoised, clean],
            8,
        )?;
    }
    let n = test.len() as f64;
    let m: Vec<f64> = sums.iter().map(|s| s / n).collect();
    println!(
        "{:<14} {:>9}  {:>6.2} dB {:.3}  {:>6.2} dB {:.3}       {:>6.2} dB {:.3}  {:>6.2} dB {:.3}  {:>6.2} dB {:.3}",
        "mean", "", m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9]
    );
    println!(
        "\nautoencoder: +{:.2} dB over the noisy input, {:+.2} dB over the best Gaussian \
         filter, {:+.2} dB over non-local means",
        m[6] - m[0],
        m[6] - m[2],
        m[6] - m[4]
    );
    println!(
        "bundled {} model ({}): {:+.2} dB over non-local means, {:+.2} dB over this run's \
         autoencoder, {:.2} Mpixel/s",
        if channels == 1 { "grey" } else { "colour" },
        bundled.config.describe(),
        m[8] - m[4],
        m[8] - m[6],
        pixels / 1e6 / bundled_seconds
    );
    println!(
        "with Wiener refinement (aegpu denoise's default step after the network, {:.2} \
         Mpixel/s): autoencoder {:.2} dB ({:+.2} over non-local means), bundled {:.2} dB",
        pixels / 1e6 / refine_seconds,
        refined_sums[0] / n,
        refined_sums[0] / n - m[4],
        refined_sums[1] / n
    );
    println!(
        "inference: {:.2} Mpixel/s ({:.1}s for {:.1} Mpixel; non-local means {:.2} Mpixel/s); \
         triptychs (noisy | denoised | clean) in {}",
        pixels / 1e6 / ae_seconds,
        ae_seconds,
        pixels / 1e6,
        pixels / 1e6 / nlm_seconds,
        o.out.display()
    );
    Ok(())
}

/// `--side-by-side noisy:DIR` writes the test photos (grey ones grey, colour ones
/// colour) with Gaussian noise at σ = 15, 25, 50 as `.npy` ([C, H·W] float32, not
/// clipped, fixed seeds) and `manifest.json` listing them; `scripts/bm3d_side_by_side.py
/// DIR` denoises them with (C)BM3D into `bm3d_*.npy` and `bm3d_times.json`;
/// `--side-by-side table:DIR` then scores the bundled models and BM3D on the same noisy
/// values with this crate's PSNR and SSIM, and writes `results.json`.
fn side_by_side(
    test_dir: &Path,
    dir: &Path,
    noisy_only: bool,
    ensemble: usize,
    backend: &mut dyn aegpu::backend::Backend,
) -> Result<(), Box<dyn std::error::Error>> {
    use aegpu::data::{load_npy, save_npy};
    let mut test = vec![];
    for (name, grey) in photos(test_dir, false)? {
        let native = Image::load(test_dir.join(format!("{name}.png")))?;
        test.push((name, if native.channels() == 1 { grey } else { native }));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // σ = 25 first: the level the targets are stated at.
    let sigmas = [25.0f32, 15.0, 50.0];
    let mut manifest = vec![];
    let mut noisy_images = vec![];
    for &sigma in &sigmas {
        for (k, (name, clean)) in test.iter().enumerate() {
            let noisy = add_gaussian_noise(clean, sigma, 1000 + 100 * sigma as u64 + k as u64);
            let file = format!("noisy_s{sigma}_{name}.npy");
            if noisy_only {
                let s = clean.shape();
                save_npy(
                    &dir.join(&file),
                    s.channels,
                    s.height * s.width,
                    noisy.data(),
                )?;
            }
            manifest.push(serde_json::json!({
                "name": name, "sigma": sigma, "channels": clean.channels(),
                "height": clean.height(), "width": clean.width(), "noisy": file,
                "bm3d": format!("bm3d_s{sigma}_{name}.npy"),
            }));
            noisy_images.push(noisy);
        }
    }
    if noisy_only {
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_string_pretty(&manifest)?,
        )?;
        println!(
            "wrote {} noisy images and manifest.json to {}",
            manifest.len(),
            dir.display()
        );
        return Ok(());
    }
    let times: serde_json::Value = std::fs::read_to_string(dir.join("bm3d_times.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let grey = Bundled::Grey.load()?;
    let colour = Bundled::Colour.load()?;
    println!(
        "grey model: {}\ncolour model: {}",
        grey.config.describe(),
        colour.config.describe()
    );
    let mut results = vec![];
    let mut entries = manifest.iter().zip(&noisy_images);
    for &sigma in &sigmas {
        println!(
            "\nσ = {sigma}\n{:<14} {:>9}  {:>14}  {:>24}  {:>24}  {:>24}",
            "image", "size", "noisy", "(C)BM3D", "bundled model", "+ Wiener refinement"
        );
        // Sums over [all photos, colour photos]: noisy psnr, bm3d psnr, ssim, ours psnr,
        // ssim, refined psnr, ssim
        let mut sums = [[0.0f64; 7]; 2];
        let mut counts = [0usize; 2];
        // Mpixel/s of BM3D, ours, refined
        let mut mpix = [[0.0f64; 3]; 2];
        for (name, clean) in &test {
            let (entry, noisy) = entries.next().expect("one entry per photo and σ");
            let net: &dyn aegpu::imaging::TiledDenoiser = if clean.channels() == 1 {
                &grey
            } else {
                &colour
            };
            let t = Instant::now();
            let ours = denoise(net, backend, noisy, tiles(net, ensemble)?)?;
            let ours_seconds = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let refined = refine(noisy, &ours)?;
            let refined_seconds = ours_seconds + t.elapsed().as_secs_f64();
            let bm3d_file = dir.join(entry["bm3d"].as_str().unwrap_or_default());
            let bm3d = match load_npy(&bm3d_file) {
                Ok(d) => Some(Image::new(
                    ImageShape::new(clean.channels(), clean.height(), clean.width()),
                    d.values,
                )?),
                Err(_) => None,
            };
            let bm3d_seconds = times[entry["bm3d"].as_str().unwrap_or_default()].as_f64();
            let megapixels = (clean.height() * clean.width()) as f64 / 1e6;
            let noisy_psnr = psnr(noisy, clean)?;
            let (ours_psnr, ours_ssim) = (psnr(&ours, clean)?, ssim(&ours, clean)?);
            let (refined_psnr, refined_ssim) = (psnr(&refined, clean)?, ssim(&refined, clean)?);
            let bm3d_scores = match &bm3d {
                Some(b) => Some((psnr(b, clean)?, ssim(b, clean)?)),
                None => None,
            };
            let fmt = |scores: Option<(f64, f64)>, seconds: Option<f64>| match scores {
                Some((p, s)) => format!(
                    "{p:>6.2} dB {s:.3} {:>6.3} Mpx/s",
                    seconds.map_or(f64::NAN, |t| megapixels / t)
                ),
                None => format!("{:>24}", "not run"),
            };
            println!(
                "{name:<14} {:>9}  {noisy_psnr:>6.2} dB       {}  {}  {}",
                format!("{}×{}×{}", clean.channels(), clean.height(), clean.width()),
                fmt(bm3d_scores, bm3d_seconds),
                fmt(Some((ours_psnr, ours_ssim)), Some(ours_seconds)),
                fmt(Some((refined_psnr, refined_ssim)), Some(refined_seconds))
            );
            let groups: &[usize] = if clean.channels() == 3 { &[0, 1] } else { &[0] };
            for &g in groups {
                let (bp, bs) = bm3d_scores.unwrap_or((f64::NAN, f64::NAN));
                for (s, v) in sums[g].iter_mut().zip([
                    noisy_psnr,
                    bp,
                    bs,
                    ours_psnr,
                    ours_ssim,
                    refined_psnr,
                    refined_ssim,
                ]) {
                    *s += v;
                }
                counts[g] += 1;
                mpix[g][0] += megapixels / bm3d_seconds.unwrap_or(f64::NAN);
                mpix[g][1] += megapixels / ours_seconds;
                mpix[g][2] += megapixels / refined_seconds;
            }
            results.push(serde_json::json!({
                "name": name, "sigma": sigma, "channels": clean.channels(),
                "noisy_psnr": noisy_psnr,
                "bm3d_psnr": bm3d_scores.map(|s| s.0), "bm3d_ssim": bm3d_scores.map(|s| s.1),
                "bm3d_seconds": bm3d_seconds,
                "ours_psnr": ours_psnr, "ours_ssim": ours_ssim, "ours_seconds": ours_seconds,
                "refined_psnr": refined_psnr, "refined_ssim": refined_ssim,
                "refined_seconds": refined_seconds,
                "megapixels": megapixels,
            }));
        }
        for (g, label) in ["mean (all 8)", "mean (colour)"].iter().enumerate() {
            let n = counts[g] as f64;
            let m: Vec<f64> = sums[g].iter().map(|s| s / n).collect();
            println!(
                "{label:<14} {:>9}  {:>6.2} dB       {:>6.2} dB {:.3} {:>6.3} Mpx/s  {:>6.2} dB {:.3} {:>6.3} Mpx/s  {:>6.2} dB {:.3} {:>6.3} Mpx/s   − BM3D: {:+.2}, refined {:+.2} dB",
                "", m[0], m[1], m[2], mpix[g][0] / n, m[3], m[4], mpix[g][1] / n,
                m[5], m[6], mpix[g][2] / n, m[3] - m[1], m[5] - m[1]
            );
        }
    }
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    Ok(())
}

/// `denoised` refined by collaborative Wiener filtering for the noise level it removed,
/// as `aegpu denoise` does by default.
fn refine(noisy: &Image, denoised: &Image) -> Result<Image, aegpu::imaging::ImagingError> {
    Ok(CollaborativeWiener::default()
        .refine_blind(noisy, denoised)?
        .0)
}

/// The model's own tiles, with a self-ensemble of `ensemble` symmetries.
fn tiles(net: &dyn TiledDenoiser, ensemble: usize) -> Result<TileOptions, DenoiseError> {
    Ok(TileOptions {
        ensemble,
        ..TileOptions::for_model(net)?
    })
}

/// The model itself as a blind denoiser (a run making a bundled model shows it in the
/// bundled column too).
fn as_denoiser_clone(model: &dyn Autoencoder) -> Option<Denoiser> {
    aegpu::models::downcast_ref::<Denoiser>(model).cloned()
}
