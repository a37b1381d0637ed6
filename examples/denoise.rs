//! The image-denoising program: trains a residual convolutional denoising autoencoder
//! (DnCNN-style: the network predicts the noise, x̂ = x̃ − net(x̃)) on random patches of
//! the bundled training photos with fresh Gaussian noise at every step, saves it,
//! denoises the bundled held-out photos, writes triptychs (noisy | denoised | clean)
//! and prints PSNR/SSIM per image beside the noisy input and two classical baselines
//! computed here: the Gaussian filter with the best σ for each image (an oracle
//! choice) and non-local means.
//!
//!     cargo run --release --example denoise
//!     cargo run --release --example denoise -- --epochs 8 --sigma 15 --backend gpu
//!
//! Flags: --epochs N, --sigma S (0–255 scale), --patch P, --patches N (per epoch),
//! --width C, --depth D (2·D convolutions of C channels), --batch B, --lr LR,
//! --backend auto|cpu|gpu, --out DIR, --seed S. The photos are grey (luma), as the
//! usual benchmarks (BSD68, Set12) are; `aegpu denoise` takes colour images too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aegpu::backend::select::{select, BackendChoice};
use aegpu::data::Dataset;
use aegpu::imaging::{
    add_gaussian_noise, as_denoiser, best_gaussian_filter, denoise, psnr, save_triptych, ssim,
    Image, NonLocalMeans, PatchSampler, TileOptions,
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
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        epochs: 8,
        sigma: 25.0,
        patch: 40,
        patches: 4096,
        width: 32,
        depth: 8,
        batch: 32,
        lr: 2e-3,
        backend: BackendChoice::Auto,
        out: PathBuf::from("denoise-out"),
        seed: 1,
        colour: false,
        arch: Arch::Conv,
        blind: None,
        model_out: None,
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
            "--colour" => {
                o.colour = match value.as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(bad(&"expected yes or no")),
                }
            }
            "--arch" => {
                o.arch = match value.as_str() {
                    "conv" => Arch::Conv,
                    "dncnn" => Arch::Dncnn,
                    "dncnn-bn" => Arch::DncnnBn,
                    _ => return Err(bad(&"expected conv, dncnn or dncnn-bn")),
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
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;

    // Training patches: clean; the noise is added inside the training step (a fresh
    // draw at every step, on the device), so each epoch sees new noise.
    let started = Instant::now();
    let train_photos = photos(&data.join("train"), o.colour)?;
    let mut sampler = PatchSampler::new(
        train_photos.into_iter().map(|(_, im)| im).collect(),
        o.patch,
        o.seed,
    )?;
    let patches = Dataset::new(o.patches, sampler.patch_len(), sampler.sample(o.patches))?;
    println!(
        "data: {} patches of {p}×{p} from the {} training photos, σ = {} ({:.1}s)",
        o.patches,
        std::fs::read_dir(data.join("train"))?.count(),
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
        Arch::Dncnn | Arch::DncnnBn => {
            let mut config = DenoiserConfig::blind(channels, o.patch, o.width, o.depth);
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
        format!(
            "{{\"epochs\":{},\"patches\":{},\"patch\":{},\"sigma\":[{lo},{hi}],\"seed\":{},\"colour\":{}}}",
            o.epochs, o.patches, o.patch, o.seed, o.colour
        ),
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
        "\n{:<14} {:>9}  {:>15}  {:>19}  {:>15}  {:>15}",
        "image", "size", "noisy", "Gaussian (best σ)", "non-local means", "autoencoder"
    );
    let (mut sums, mut ae_seconds, mut nlm_seconds, mut pixels) = ([0.0f64; 8], 0.0, 0.0, 0.0);
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
        let denoised = denoise(net, backend.as_mut(), &noisy, TileOptions::default())?;
        ae_seconds += t.elapsed().as_secs_f64();
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
        ];
        for (s, f) in sums.iter_mut().zip(figures) {
            *s += f;
        }
        println!(
            "{name:<14} {:>9}  {:>6.2} dB {:.3}  {:>6.2} dB {:.3} σ={:<3}  {:>6.2} dB {:.3}  {:>6.2} dB {:.3}",
            format!("{}×{}", clean.height(), clean.width()),
            figures[0], figures[1], figures[2], figures[3], gauss.sigma, figures[4], figures[5],
            figures[6], figures[7]
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
        "{:<14} {:>9}  {:>6.2} dB {:.3}  {:>6.2} dB {:.3}       {:>6.2} dB {:.3}  {:>6.2} dB {:.3}",
        "mean", "", m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
    );
    println!(
        "\nautoencoder: +{:.2} dB over the noisy input, {:+.2} dB over the best Gaussian \
         filter, {:+.2} dB over non-local means",
        m[6] - m[0],
        m[6] - m[2],
        m[6] - m[4]
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
