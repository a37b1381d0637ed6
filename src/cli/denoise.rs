//! `aegpu denoise`: a trained convolutional denoiser applied to people's own images of
//! any size (seamless overlapping tiles, `imaging::denoise`), grey or colour, PNG or
//! JPEG; each output keeps its input's file name. With `--clean DIR` the clean
//! originals give PSNR and SSIM before and after.
//!
//! Without `--model`, the blind denoisers bundled in the binary are used: the colour
//! one for colour images (channels denoised jointly), the grey one for grey images.
//! A grey `--model` denoises a colour image channel by channel, and says so, unless
//! `--strict-channels` asks for a refusal; a colour model refuses a grey image. Each
//! image's noise level is estimated (`imaging::estimate_noise_sigma`) and printed, with
//! a warning when it lies outside the range the model was trained on.
//!
//! The network's output is then refined by collaborative Wiener filtering
//! (`imaging::CollaborativeWiener`, BM3D's second stage with the network's output as
//! its pilot) for the noise level the network removed (`imaging::residual_sigma`),
//! unless `--refine none`: on the bundled colour test photos at σ = 25 it adds about
//! 0.5 dB (most on repeated texture) for about twice the time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::cli::{BackendArgs, CliError};
use crate::imaging::{
    auto_tile, denoise, estimate_noise_sigma, psnr, receptive_radius, ssim, Bundled, Channels,
    CollaborativeWiener, DenoiseError, Image, TileOptions, TiledDenoiser, ENSEMBLE_SIZES,
};
use crate::models::{downcast_ref, registry, ConvAutoencoder, Denoiser};

#[derive(Args, Debug)]
pub struct DenoiseArgs {
    /// A denoiser saved by `aegpu train --model denoiser` or a fully convolutional
    /// stride-1 `--model conv --residual`. Default: the bundled blind denoisers (σ 0–50),
    /// colour for colour images and grey for grey ones.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Refuse a colour image with a grey --model instead of denoising each of its
    /// channels on its own.
    #[arg(long)]
    strict_channels: bool,
    /// Noisy images, PNG or JPEG, grey or colour, any size.
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// Folder for the results (created if missing). Each keeps its input's file name
    /// and is written as PNG; a `.jpg`/`.jpeg` input gives `<stem>.png`.
    #[arg(long)]
    output: PathBuf,
    /// Folder of the clean originals, with the inputs' file names (or their stems with
    /// another image extension: `photo.jpg` may be compared with `photo.png`): prints
    /// PSNR and SSIM of the noisy and the denoised image against them.
    #[arg(long)]
    clean: Option<PathBuf>,
    /// Print one JSON object with every image's figures and the means on stdout.
    #[arg(long)]
    json: bool,
    /// Tile side in pixels (margins for the receptive field included); default 128,
    /// or eight margins for a model whose receptive field is wider.
    #[arg(long, value_parser = crate::ranges::count)]
    tile: Option<usize>,
    /// Self-ensemble: denoise each image under 1, 2, 4 or 8 symmetries of the square
    /// (mirrors, then rotations) and average the results mapped back; N times slower,
    /// a little cleaner.
    #[arg(long, default_value_t = 1, value_parser = ensemble_size)]
    ensemble: usize,
    /// What follows the network: `wiener` refines its output by collaborative Wiener
    /// filtering (BM3D's second stage with the network's output as pilot, on the CPU)
    /// for the noise level the network removed; `none` keeps the network's output.
    #[arg(long, value_enum, default_value_t = Refine::Wiener)]
    refine: Refine,
    /// Replace result files that already exist in --output (never an input or a clean
    /// original): without it, an existing file is left alone and the run refused.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

/// The step after the network (`--refine`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Refine {
    /// Collaborative Wiener filtering with the network's output as pilot.
    Wiener,
    /// The network's output as it is.
    None,
}

/// One input with where its result goes and, with `--clean`, its original.
struct Job {
    input: PathBuf,
    output: PathBuf,
    noisy: Image,
    clean: Option<Image>,
}

/// The output file name for `input`: the same name, `.jpg`/`.jpeg` turned into `.png`.
fn output_name(input: &Path) -> Result<PathBuf, CliError> {
    let name = input
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", input.display()))?;
    let ext = input
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "jpg" || ext == "jpeg" {
        let stem = input.file_stem().unwrap_or(name);
        let mut png = stem.to_os_string();
        png.push(".png");
        return Ok(PathBuf::from(png));
    }
    Ok(PathBuf::from(name))
}

/// A model ready to denoise, with what to call it and the noise it was trained for.
struct Chosen {
    name: String,
    model: Box<dyn TiledDenoiser>,
    describe: String,
    /// The trained noise levels (0–255 scale), lowest and highest.
    trained: Option<(f32, f32)>,
}

impl Chosen {
    fn from_file(path: &Path) -> Result<Self, CliError> {
        let (model, _) = registry::load(path)?;
        let name = path.display().to_string();
        if let Some(m) = downcast_ref::<Denoiser>(model.as_ref()) {
            return Ok(Chosen::blind(name, m.clone()));
        }
        let Some(m) = downcast_ref::<ConvAutoencoder>(model.as_ref()) else {
            return Err(format!(
                "{name} is a {} autoencoder; `aegpu denoise` needs a denoiser (aegpu train \
                 --model denoiser, or --model conv --strides 1,1 --residual --noise \
                 gaussian:0.1)",
                model.kind()
            )
            .into());
        };
        receptive_radius(m).map_err(|e| format!("{name}: {e}"))?;
        Ok(Chosen {
            name,
            describe: m.config.describe(),
            trained: m.config.noise_sigma.map(|s| (s * 255.0, s * 255.0)),
            model: Box::new(m.clone()),
        })
    }

    /// `model NAME (ARCHITECTURE): trained for Gaussian noise σ …`.
    fn announce(&self) -> String {
        let trained = match self.trained {
            Some((lo, hi)) if lo == hi => {
                format!("trained for Gaussian noise σ = {lo:.1} (0–255 scale)")
            }
            Some((lo, hi)) => {
                format!("blind, trained for Gaussian noise σ {lo}–{hi} (0–255 scale)")
            }
            None => "no training noise level recorded".to_string(),
        };
        format!("model {} ({}): {trained}", self.name, self.describe)
    }

    fn blind(name: String, m: Denoiser) -> Self {
        Chosen {
            name,
            describe: m.config.describe(),
            trained: Some((m.config.sigma_min * 255.0, m.config.sigma_max * 255.0)),
            model: Box::new(m),
        }
    }
}

pub fn run(a: DenoiseArgs) -> Result<(), CliError> {
    let given = a.model.as_deref().map(Chosen::from_file).transpose()?;

    // Every image is read (and every name checked) before anything is written.
    let mut names = BTreeSet::new();
    let mut jobs = vec![];
    for input in &a.input {
        let name = output_name(input)?;
        if !names.insert(name.clone()) {
            return Err(format!(
                "two inputs would both be written to {}: rename one",
                a.output.join(&name).display()
            )
            .into());
        }
        let output = a.output.join(&name);
        // No input and no clean original is ever replaced, --overwrite or not.
        let mut protected: Vec<(&str, &Path)> =
            a.input.iter().map(|i| ("--input", i.as_path())).collect();
        let originals: Vec<PathBuf> = match &a.clean {
            Some(dir) => a.input.iter().map(|i| clean_original(dir, i)).collect(),
            None => vec![],
        };
        protected.extend(originals.iter().map(|c| ("--clean", c.as_path())));
        if let Some(model) = &a.model {
            protected.push(("--model", model.as_path()));
        }
        crate::io::refuse_overwrite(&[("the result", output.as_path())], &protected)?;
        if !a.overwrite && std::fs::symlink_metadata(&output).is_ok() {
            return Err(format!(
                "{} already exists and this run did not create it (the result of {}); \
                 pass --overwrite to replace it, or choose another --output",
                output.display(),
                input.display()
            )
            .into());
        }
        let (noisy, notes) = Image::load_noting(input)?;
        for note in notes {
            eprintln!("{}: {note}", input.display());
        }
        let clean = match &a.clean {
            Some(dir) => {
                let path = clean_original(dir, input);
                let clean = Image::load(&path)?;
                if clean.shape() != noisy.shape() {
                    return Err(format!(
                        "the clean {} is {}, the noisy {} is {}",
                        path.display(),
                        clean.shape(),
                        input.display(),
                        noisy.shape()
                    )
                    .into());
                }
                Some(clean)
            }
            None => None,
        };
        jobs.push(Job {
            input: input.clone(),
            output,
            noisy,
            clean,
        });
    }
    std::fs::create_dir_all(&a.output)
        .map_err(|e| format!("cannot create {}: {e}", a.output.display()))?;

    let mut selected = a.backend.open()?;
    let backend = selected.backend.as_mut();
    // The bundled models, each loaded the first time an image needs it.
    let mut bundled: Vec<(Bundled, Chosen)> = vec![];
    if let Some(m) = &given {
        eprintln!("{}", m.announce());
    }
    let options = TileOptions {
        tile: TileOptions::default().tile,
        channels: if a.strict_channels {
            Channels::Exact
        } else {
            Channels::PerChannel
        },
        ensemble: a.ensemble,
    };
    let mut results = vec![];
    let mut sums = [0.0f64; 4];
    let mut ssim_count = 0usize;
    // Time spent denoising (not loading, scoring or writing), for the throughput line.
    let mut denoise_seconds = 0.0;
    let mut pixels = 0usize;
    for job in &jobs {
        let channels = job.noisy.channels();
        let chosen = match &given {
            Some(m) => m,
            None => {
                let which = Bundled::for_channels(channels);
                if !bundled.iter().any(|(b, _)| *b == which) {
                    let model = which.load().map_err(|e| e.to_string())?;
                    let chosen = Chosen::blind(which.name().to_string(), model);
                    eprintln!("{}", chosen.announce());
                    bundled.push((which, chosen));
                }
                &bundled
                    .iter()
                    .find(|(b, _)| *b == which)
                    .expect("just loaded")
                    .1
            }
        };
        let model = chosen.model.as_ref();
        if model.channels() == 1 && channels > 1 {
            if a.strict_channels {
                return Err(format!(
                    "{}: {}",
                    job.input.display(),
                    DenoiseError::Channels {
                        model: 1,
                        image: channels,
                    }
                )
                .into());
            }
            eprintln!(
                "{}: a grey model on a colour image: each channel is denoised on its own \
                 (a colour model, such as the bundled default, denoises them jointly; \
                 --strict-channels refuses instead)",
                job.input.display()
            );
        }
        let estimate = estimate_noise_sigma(&job.noisy);
        let warning = chosen.trained.and_then(|(lo, hi)| {
            if estimate > hi + 2.0 {
                Some(format!(
                    "above the {lo}–{hi} the model was trained on: expect noise left in the \
                     result"
                ))
            } else if lo > 0.0 && estimate < lo - 2.0 {
                Some(format!(
                    "below the {lo}–{hi} the model was trained on: expect detail removed \
                     with the noise"
                ))
            } else {
                None
            }
        });
        if let Some(w) = &warning {
            eprintln!(
                "warning: {}: estimated noise σ ≈ {estimate:.1} is {w}",
                job.input.display()
            );
        }
        let started = std::time::Instant::now();
        let radius = model
            .grid_margin()
            .map_err(|e| format!("{}: {e}", chosen.name))?;
        // No --tile: the model's own.
        let tile = match a.tile {
            Some(given) => given,
            None => auto_tile(model).map_err(|e| format!("{}: {e}", chosen.name))?,
        };
        // A tile larger than the image (plus margins) would only allocate empty pixels.
        let shape = job.noisy.shape();
        let options = TileOptions {
            tile: tile.min(shape.height.max(shape.width).saturating_add(2 * radius)),
            ..options
        };
        let mut denoised = denoise(model, backend, &job.noisy, options)
            .map_err(|e| format!("{}: {e}", job.input.display()))?;
        // The noise level the network removed sets the Wiener filter's (blind as the
        // network is).
        let refine_sigma = match a.refine {
            Refine::Wiener => {
                let (refined, sigma) =
                    CollaborativeWiener::default().refine_blind(&job.noisy, &denoised)?;
                denoised = refined;
                Some(sigma)
            }
            Refine::None => None,
        };
        let seconds = started.elapsed().as_secs_f64();
        denoise_seconds += seconds;
        // The figures are those of the file written, whose values are clamped to [0, 1].
        for v in denoised.data_mut() {
            *v = v.clamp(0.0, 1.0);
        }
        denoised.save_png(&job.output)?;
        let shape = job.noisy.shape();
        let mut entry = serde_json::json!({
            "input": job.input.display().to_string(),
            "output": job.output.display().to_string(),
            "channels": shape.channels,
            "height": shape.height,
            "width": shape.width,
            "seconds": seconds,
            "model": chosen.name,
            "estimated_sigma_255": estimate,
            "refine_sigma_255": refine_sigma,
            "sigma_warning": warning,
        });
        pixels += shape.height * shape.width * shape.channels;
        let mut line = format!(
            "{} → {} ({}×{}, {} channel{}, estimated noise σ ≈ {estimate:.1}, {}{})",
            job.input.display(),
            job.output.display(),
            shape.width,
            shape.height,
            shape.channels,
            if shape.channels == 1 { "" } else { "s" },
            chosen.name,
            refine_sigma.map_or(String::new(), |s| format!(
                ", Wiener-refined for the σ ≈ {s:.1} it removed"
            ))
        );
        if let Some(clean) = &job.clean {
            let noisy_psnr = psnr(&job.noisy, clean)?;
            let denoised_psnr = psnr(&denoised, clean)?;
            // SSIM needs images of at least 11 × 11 pixels.
            let noisy_ssim = ssim(&job.noisy, clean).ok();
            let denoised_ssim = ssim(&denoised, clean).ok();
            sums[0] += noisy_psnr;
            sums[1] += denoised_psnr;
            if let (Some(n), Some(d)) = (noisy_ssim, denoised_ssim) {
                sums[2] += n;
                sums[3] += d;
                ssim_count += 1;
            }
            entry["noisy_psnr"] = noisy_psnr.into();
            entry["denoised_psnr"] = denoised_psnr.into();
            entry["noisy_ssim"] = noisy_ssim.into();
            entry["denoised_ssim"] = denoised_ssim.into();
            let fmt_ssim = |s: Option<f64>| s.map_or("n/a".to_string(), |s| format!("{s:.4}"));
            line += &format!(
                ": PSNR {noisy_psnr:.2} → {denoised_psnr:.2} dB, SSIM {} → {}",
                fmt_ssim(noisy_ssim),
                fmt_ssim(denoised_ssim)
            );
        }
        if a.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        results.push(entry);
    }

    let n = jobs.len() as f64;
    let fixed = given
        .as_ref()
        .and_then(|m| m.trained)
        .and_then(|(lo, hi)| (lo == hi).then_some(lo));
    let mut out = serde_json::json!({
        "model": given.as_ref().map_or("bundled".to_string(), |m| m.name.clone()),
        "backend": backend.describe(),
        "trained_sigma_255": given.as_ref().and_then(|m| m.trained).map(|(lo, hi)| [lo, hi]),
        // A model trained on one level (a conv denoiser) also gives it alone.
        "noise_sigma": fixed.map(|s| s / 255.0),
        "noise_sigma_255": fixed,
        "tile": a.tile.map_or(serde_json::Value::from("auto"), serde_json::Value::from),
        "ensemble": a.ensemble,
        "refine": match a.refine { Refine::Wiener => "wiener", Refine::None => "none" },
        "images": results,
        "denoise_seconds": denoise_seconds,
        "megapixels_per_s": pixels as f64 / 1e6 / denoise_seconds.max(1e-9),
    });
    // The first image's time includes compiling the GPU pipelines.
    eprintln!(
        "denoised {:.2} Mpixel (channels counted) in {denoise_seconds:.2}s: {:.2} Mpixel/s",
        pixels as f64 / 1e6,
        pixels as f64 / 1e6 / denoise_seconds.max(1e-9)
    );
    if a.clean.is_some() {
        let ssim_mean = |s: f64| (ssim_count > 0).then(|| s / ssim_count as f64);
        out["mean_noisy_psnr"] = (sums[0] / n).into();
        out["mean_denoised_psnr"] = (sums[1] / n).into();
        out["mean_noisy_ssim"] = ssim_mean(sums[2]).into();
        out["mean_denoised_ssim"] = ssim_mean(sums[3]).into();
        if !a.json {
            let fmt =
                |v: &serde_json::Value| v.as_f64().map_or("n/a".to_string(), |s| format!("{s:.4}"));
            println!(
                "mean over {} image{}: PSNR {:.2} → {:.2} dB, SSIM {} → {}",
                jobs.len(),
                if jobs.len() == 1 { "" } else { "s" },
                sums[0] / n,
                sums[1] / n,
                fmt(&out["mean_noisy_ssim"]),
                fmt(&out["mean_denoised_ssim"])
            );
        }
    }
    if a.json {
        println!("{out}");
    }
    Ok(())
}

/// `--ensemble`: one of [`ENSEMBLE_SIZES`].
fn ensemble_size(text: &str) -> Result<usize, String> {
    text.parse()
        .ok()
        .filter(|n| ENSEMBLE_SIZES.contains(n))
        .ok_or_else(|| format!("{text:?} symmetries: the self-ensemble takes 1, 2, 4 or 8"))
}

/// The clean original of `input` in `dir`: the same file name, or else the same stem
/// with the first of `.png`, `.jpg`, `.jpeg` that exists (a JPEG input's original is
/// often a PNG). Where none exists, the same name (whose load error names it).
fn clean_original(dir: &Path, input: &Path) -> PathBuf {
    let same = dir.join(input.file_name().unwrap_or_default());
    if same.exists() {
        return same;
    }
    let stem = input.file_stem().unwrap_or_default().to_string_lossy();
    ["png", "jpg", "jpeg"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .find(|p| p.exists())
        .unwrap_or(same)
}
