//! `aegpu sample`: new rows from a generative model (a VAE, an AAE, or a VQ-VAE trained
//! with a code prior): draws from the prior, a path between two inputs' codes
//! (`--interpolate I,J --data D`) or the 2-D latent manifold (`--manifold SIDE`; both
//! VAE and AAE only), written as a PNG grid or a `.npy` of rows.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::infer::{load_model, load_scaled};
use crate::cli::{BackendArgs, CliError};
use crate::data::save_npy;
use crate::data::Scaler;
use crate::imaging::ImageShape;
use crate::models::aae::Aae;
use crate::models::latent::{self, LatentSpace};
use crate::models::vae::{self, Vae};
use crate::models::vq::VqAutoencoder;
use crate::models::{args::parse_image_shape, downcast_ref};
use crate::plot::guess_image_shape;

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// A generative model saved by `aegpu train --model vae`, `--model aae`, or
    /// `--model vq --prior-epochs N`.
    #[arg(long)]
    model: PathBuf,
    /// How many samples to draw from the prior.
    #[arg(long, default_value_t = 64)]
    n: usize,
    /// The class to generate (a conditional VAE or a label-mixture AAE; without it, the
    /// classes in turn). A conditional VAE's path or manifold is of one class.
    #[arg(long)]
    label: Option<u32>,
    /// Where to write: `.png` (a grid of images) or `.npy` (one row per sample).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the prior draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// VQ-VAE: divide the code prior's logits by T (below 1: likelier, less varied
    /// images).
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Images a row in the PNG grid (default: √n, rounded up).
    #[arg(long)]
    columns: Option<usize>,
    /// The image in each row, CxHxW (default: guessed from a square width, e.g. 784).
    #[arg(long)]
    image: Option<String>,
    /// Instead of prior draws: the decoded 2-D latent manifold, SIDE × SIDE codes with
    /// the first two latent units over [−scale, scale] and the others 0.
    #[arg(long, value_name = "SIDE", conflicts_with = "interpolate")]
    manifold: Option<usize>,
    /// The manifold's extent in each of its two units.
    #[arg(long, default_value_t = 2.0)]
    scale: f32,
    /// Instead of prior draws: decode `--steps` points between the codes of rows I
    /// and J (0-based) of `--data`.
    #[arg(long, value_name = "I,J", value_delimiter = ',')]
    interpolate: Option<Vec<usize>>,
    /// The data `--interpolate` takes its two rows from.
    #[arg(long)]
    data: Option<String>,
    /// Points on the interpolation path, both ends included.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    #[command(flatten)]
    backend: BackendArgs,
}

/// What the output file's extension asks for.
enum Output {
    Png,
    Npy,
}

fn output_kind(path: &Path) -> Result<Output, CliError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") => Ok(Output::Png),
        Some(e) if e.eq_ignore_ascii_case("npy") => Ok(Output::Npy),
        _ => Err(format!(
            "--out {}: write a .png grid or a .npy of rows",
            path.display()
        )
        .into()),
    }
}

/// A model `aegpu sample` draws from.
enum Generator<'a> {
    Vae(&'a Vae),
    Aae(&'a Aae),
    Vq(&'a VqAutoencoder),
}

impl Generator<'_> {
    /// The continuous code space that paths and manifolds walk.
    fn space(&self) -> Result<&dyn LatentSpace, CliError> {
        match *self {
            Generator::Vae(v) => Ok(v),
            Generator::Aae(a) => Ok(a),
            Generator::Vq(_) => Err("a VQ-VAE's codes are discrete: --manifold and \
                 --interpolate need a VAE or an AAE"
                .into()),
        }
    }

    /// Values in each generated row.
    fn data_width(&self) -> usize {
        match *self {
            Generator::Vae(v) => v.data_width(),
            Generator::Aae(a) => a.data_width(),
            Generator::Vq(q) => q.config.input.len(),
        }
    }

    /// `n` draws from the prior (of class `label` where the model takes one), decoded.
    fn sample(
        &self,
        backend: &mut dyn crate::backend::Backend,
        a: &SampleArgs,
    ) -> Result<Vec<f32>, CliError> {
        let (n, label, seed) = (a.n, a.label, a.seed);
        if a.temperature != 1.0 && !matches!(self, Generator::Vq(_)) {
            return Err("--temperature scales a VQ-VAE's code prior; this model has none".into());
        }
        Ok(match *self {
            Generator::Vae(v) => {
                vae::check_label(v, label)?;
                vae::sample(v, backend, n, label, seed)?
            }
            Generator::Aae(a) => a.sample(backend, n, label, seed)?,
            Generator::Vq(q) => {
                if label.is_some() {
                    return Err("--label needs a conditional model; a VQ-VAE's prior is \
                         unconditional"
                        .into());
                }
                q.sample(backend, n, a.temperature, seed)?
            }
        })
    }
}

pub fn run(a: SampleArgs) -> Result<(), CliError> {
    let output = output_kind(&a.out)?;
    let (model, prep) = load_model(&a.model)?;
    let generator = if let Some(aae) = downcast_ref::<Aae>(model.as_ref()) {
        Generator::Aae(aae)
    } else if let Some(vae) = downcast_ref::<Vae>(model.as_ref()) {
        Generator::Vae(vae)
    } else if let Some(vq) = downcast_ref::<VqAutoencoder>(model.as_ref()) {
        Generator::Vq(vq)
    } else {
        return Err(format!(
            "{} is a {} model, not a generative one: `aegpu sample` needs a VAE, an AAE or \
             a VQ-VAE with a code prior (aegpu train --model vae|aae|vq)",
            a.model.display(),
            model.kind()
        )
        .into());
    };
    if a.n == 0 {
        return Err("--n must be at least 1".into());
    }
    if a.manifold.is_some() || a.interpolate.is_some() {
        generator.space()?;
    }
    if a.data.is_some() && a.interpolate.is_none() {
        return Err("--data is read by --interpolate only".into());
    }
    let width = generator.data_width();
    let shape = match (&output, &a.image) {
        (_, Some(s)) => Some(parse_image_shape(s)?),
        (Output::Png, None) => Some(
            model
                .image_shape()
                .or_else(|| guess_image_shape(width))
                .ok_or_else(|| {
                    format!(
                        "rows of {width} values are not square images: give --image CxHxW or write .npy"
                    )
                })?,
        ),
        (Output::Npy, None) => None,
    };
    if let Some(s) = shape {
        if s.len() != width {
            return Err(format!(
                "--image {s} needs {} values a row, the model makes {width}",
                s.len()
            )
            .into());
        }
    }
    let mut selected = a.backend.open()?;
    let backend = selected.backend.as_mut();
    let (rows, columns) = if let Some(side) = a.manifold {
        let rows = latent::manifold_grid(generator.space()?, backend, side, a.scale, a.label)?;
        (rows, side)
    } else if let Some(ends) = &a.interpolate {
        let spec = a
            .data
            .as_deref()
            .ok_or("--interpolate I,J takes its rows from --data")?;
        let data = load_scaled(model.as_ref(), &prep, &a.model, spec, &None)?;
        let &[i, j] = ends.as_slice() else {
            return Err("--interpolate takes two row numbers, I,J".into());
        };
        if i >= data.rows || j >= data.rows {
            return Err(format!(
                "--interpolate {i},{j}: {spec} has {} rows (0–{})",
                data.rows,
                data.rows - 1
            )
            .into());
        }
        let space = generator.space()?;
        let rows = latent::interpolate(space, backend, data.row(i), data.row(j), a.steps, a.label)?;
        (rows, a.steps)
    } else {
        let rows = generator.sample(backend, &a)?;
        (rows, (a.n as f64).sqrt().ceil() as usize)
    };
    write_rows(
        &a,
        output,
        rows,
        width,
        prep.scaler.as_ref(),
        shape,
        columns,
    )
}

/// Writes `rows` (of `width` values, back in the data's units) as `.npy` or a grid.
fn write_rows(
    a: &SampleArgs,
    output: Output,
    mut rows: Vec<f32>,
    width: usize,
    scaler: Option<&Scaler>,
    shape: Option<ImageShape>,
    columns: usize,
) -> Result<(), CliError> {
    // Samples go back to the data's own units.
    if let Some(s) = scaler {
        for row in rows.chunks_mut(width) {
            s.invert_row(row);
        }
    }
    let count = rows.len() / width;
    match output {
        Output::Npy => save_npy(&a.out, count, width, &rows)?,
        Output::Png => {
            let shape: ImageShape = shape.ok_or("no image shape")?;
            vae::save_image_grid(&a.out, &rows, shape, a.columns.unwrap_or(columns))?;
        }
    }
    eprintln!("wrote {count} samples to {}", a.out.display());
    Ok(())
}
