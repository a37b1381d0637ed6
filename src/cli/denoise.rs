//! `aegpu denoise`: a trained convolutional denoiser applied to people's own images of
//! any size (seamless overlapping tiles, `imaging::denoise`), grey or colour, PNG or
//! JPEG; each output keeps its input's file name. With `--clean DIR` the clean
//! originals give PSNR and SSIM before and after.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::{BackendArgs, CliError};
use crate::imaging::{denoise, psnr, receptive_radius, ssim, Image, TileOptions};
use crate::models::{downcast_ref, registry, ConvAutoencoder};

#[derive(Args, Debug)]
pub struct DenoiseArgs {
    /// A convolutional denoiser saved by `aegpu train --model conv --strides 1,…`
    /// (fully convolutional, stride 1).
    #[arg(long)]
    model: PathBuf,
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
    /// Tile side in pixels (margins for the receptive field included).
    #[arg(long, default_value_t = 128, value_parser = crate::ranges::count)]
    tile: usize,
    /// Replace result files that already exist in --output (never an input or a clean
    /// original): without it, an existing file is left alone and the run refused.
    #[arg(long)]
    overwrite: bool,
    #[command(flatten)]
    backend: BackendArgs,
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

pub fn run(a: DenoiseArgs) -> Result<(), CliError> {
    let (model, _) = registry::load(&a.model)?;
    let Some(model) = downcast_ref::<ConvAutoencoder>(model.as_ref()) else {
        return Err(format!(
            "{} is a {} autoencoder; `aegpu denoise` needs a convolutional denoiser \
             (aegpu train --model conv --strides 1,1 --residual --noise gaussian:0.1)",
            a.model.display(),
            model.kind()
        )
        .into());
    };
    let radius = receptive_radius(model).map_err(|e| format!("{}: {e}", a.model.display()))?;

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
        protected.push(("--model", a.model.as_path()));
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
        let noisy = Image::load(input)?;
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
    let sigma = model.config.noise_sigma;
    match sigma {
        Some(s) => eprintln!(
            "model {} ({}): trained for Gaussian noise σ = {:.1} (0–255 scale)",
            a.model.display(),
            model.config.describe(),
            s * 255.0
        ),
        None => eprintln!(
            "model {} ({}): no training noise level recorded",
            a.model.display(),
            model.config.describe()
        ),
    }

    let options = TileOptions {
        tile: a.tile,
        ..TileOptions::default()
    };
    let mut results = vec![];
    let mut sums = [0.0f64; 4];
    let mut ssim_count = 0usize;
    // Time spent denoising (not loading, scoring or writing), for the throughput line.
    let mut denoise_seconds = 0.0;
    let mut pixels = 0usize;
    for job in &jobs {
        let started = std::time::Instant::now();
        // A tile larger than the image (plus margins) would only allocate empty pixels.
        let shape = job.noisy.shape();
        let options = TileOptions {
            tile: options
                .tile
                .min(shape.height.max(shape.width).saturating_add(2 * radius)),
            ..options
        };
        let mut denoised = denoise(model, backend, &job.noisy, options)
            .map_err(|e| format!("{}: {e}", job.input.display()))?;
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
        });
        pixels += shape.height * shape.width * shape.channels;
        let mut line = format!(
            "{} → {} ({}×{}, {} channel{})",
            job.input.display(),
            job.output.display(),
            shape.width,
            shape.height,
            shape.channels,
            if shape.channels == 1 { "" } else { "s" }
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
    let mut out = serde_json::json!({
        "model": a.model.display().to_string(),
        "backend": backend.describe(),
        "noise_sigma": sigma,
        "noise_sigma_255": sigma.map(|s| s * 255.0),
        "tile": a.tile,
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
